"""Recognising the calls Hotline itself originates for its own purposes.

A supervisor's spy (ChanSpy from the supervisor's phone), the ASR fork (an AudioSocket
channel that ChanSpies on the caller, ``asterisk_conf/extensions.conf``) and similar helper
calls are channels of their own with their own Linkedid. Left alone the tracker would log
them as customer calls (a bogus unanswered outbound call, a phantom inbound call with no
caller) and show them ringing on the wallboard. They serve another call or none, so the
tracker must drop them from its first event on.

Hotline marks what it originates: the ``ChannelId`` (hence Uniqueid and Linkedid) starts with
:data:`OWN_PREFIX` and the account code with :data:`OWN_ACCOUNT_PREFIX`; both are on the very
first event (Newchannel) of the channel. Helpers created by the dialplan are known by shape:
an ``AudioSocket/`` channel is the ASR fork. A spy nobody marked (an older Hotline, a
supervisor dialling ChanSpy by hand) is recognised late, by ``ChanSpyStart``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ami import first

#: Prefix of the ``ChannelId`` Hotline gives every channel it originates for itself.
OWN_PREFIX = "hotline-"
#: Prefix of the ``Account`` (AccountCode) of those channels: ``hotline-spy``…
OWN_ACCOUNT_PREFIX = "hotline-"
#: Channel technologies that are never a customer call.
_HELPER_TECHS = {"audiosocket": "asr"}


def own_purpose(e: Mapping[str, Any], prefix: str = "") -> str | None:
    """Why Hotline made this channel (``"spy"``, ``"asr"``…), or None for a real call."""
    for key in ("Uniqueid", "Linkedid"):
        value = first(e.get(prefix + key))
        if value.startswith(OWN_PREFIX):
            return value[len(OWN_PREFIX):].split("-", 1)[0] or "own"
    account = first(e.get(prefix + "AccountCode"))
    if account.startswith(OWN_ACCOUNT_PREFIX):
        return account[len(OWN_ACCOUNT_PREFIX):] or "own"
    tech = first(e.get(prefix + "Channel")).partition("/")[0].lower()
    return _HELPER_TECHS.get(tech)
