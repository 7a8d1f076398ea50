"""Whose call is it: the one rule for every action that names a live call by id.

An agent may hang up, transfer or follow (``watch_call``) only a call that is on their own
extension now: a live leg of theirs (talking, held, consulting) or their phone ringing for it
(:meth:`telephony.model.Call.owners`, from the live call model). Supervisors and admins may act
on any call. The REST call actions (``web/api/calls.py``) and the websocket (``web/ws.py``)
both ask :func:`check_call_access`, so no path takes a call id without it.

The decision itself (:func:`refusal`) is pure; :func:`check_call_access` asks the telephony
service whose call it is. Unknown call (or no PBX configured): :class:`CallNotFound` (404);
someone else's call: :class:`tickets.errors.Forbidden` (403) naming the reason.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Protocol

from telephony.ports import CallNotFound
from tickets.errors import Forbidden


class CallOwners(Protocol):
    """What the rule needs of the telephony service (:class:`telephony.service.Telephony`)."""

    def call_owners(self, call_id: str) -> frozenset[str]: ...


#: Roles that may act on any live call.
ANY_CALL_ROLES = frozenset({"supervisor", "admin"})


def refusal(role: str, extension: str | None, owners: Set[str], call_id: str) -> str | None:
    """Why ``role``/``extension`` may not act on a call on ``owners`` (None: they may)."""
    if role in ANY_CALL_ROLES:
        return None
    if not extension:
        return (f"call {call_id} is not on your extension: your user has none "
                "(only supervisors and admins act on others' calls)")
    if extension in owners:
        return None
    return (f"call {call_id} is not on your extension {extension} "
            "(only supervisors and admins act on others' calls)")


def check_call_access(telephony: CallOwners | None, role: str, extension: str | None,
                      call_id: str) -> None:
    """Raise unless the user may act on live call ``call_id``.

    ``telephony`` is the :class:`telephony.service.Telephony` (or None: no PBX, so no live
    call exists). Raises :class:`CallNotFound` (404) or :class:`Forbidden` (403).
    """
    if telephony is None:
        raise CallNotFound("lookup", f"no live call {call_id} (no PBX is configured)")
    owners = telephony.call_owners(call_id)
    reason = refusal(role, extension, owners, call_id)
    if reason is not None:
        raise Forbidden(reason)
