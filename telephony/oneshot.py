"""One AMI action over a short connection of its own: log in, act, log off.

For a process that is not the bridge — a ``hotline ivr`` running on its own — and must move a
caller (the IVR's "0": ``Redirect`` to the queue) without keeping a live model of the PBX:
a second full bridge would log and pop every call twice. The connection logs in with
``Events: off``, so only responses come back, framed by :class:`~telephony.ami.FrameParser`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping

from .ami import FrameParser, encode_action, first
from .ports import ActionFailed, PbxConfig, PbxUnavailable

_ids = itertools.count(1)


async def run_action(config: PbxConfig, action: Mapping[str, str], *,
                     timeout_s: float = 5.0) -> dict[str, object]:
    """Send ``action`` to the PBX of ``config`` and return its response.

    Raises :class:`PbxUnavailable` when the PBX cannot be reached or logged in to within
    ``timeout_s`` (connect, login and action together), :class:`ActionFailed` with
    Asterisk's message for an ``Error`` response. The secret never reaches a message.
    """
    try:
        return await asyncio.wait_for(_run(config, action), timeout_s)
    except TimeoutError:
        raise PbxUnavailable(f"{config.name}: no answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise PbxUnavailable(f"{config.name}: {exc.strerror or exc}") from None


async def _run(config: PbxConfig, action: Mapping[str, str]) -> dict[str, object]:
    reader, writer = await asyncio.open_connection(config.host, config.port)
    parser = FrameParser()
    pending: list[dict[str, object]] = []

    async def call(fields: Mapping[str, str]) -> dict[str, object]:
        aid = f"hotline-oneshot-{next(_ids)}"
        writer.write(encode_action({**fields, "ActionID": aid}))
        await writer.drain()
        while True:
            for msg in pending:
                if first(msg.get("ActionID")) == aid:
                    pending.remove(msg)
                    return msg
            data = await reader.read(65536)
            if not data:
                raise PbxUnavailable(f"{config.name}: the PBX closed the connection")
            pending.extend(dict(m) for m in parser.feed(data))

    try:
        login = await call({"Action": "Login", "Username": config.username,
                            "Secret": config.secret, "Events": "off"})
        if first(login.get("Response")) != "Success":
            raise PbxUnavailable(f"{config.name}: login refused "
                                 f"({first(login.get('Message')) or 'no reason'})")
        reply = await call(action)
        if first(reply.get("Response")) != "Success":
            raise ActionFailed(str(action.get("Action")),
                               first(reply.get("Message")) or "refused")
        try:
            await asyncio.wait_for(call({"Action": "Logoff"}), 1.0)
        except (TimeoutError, PbxUnavailable):
            pass  # the action is done; a PBX that drops us at Logoff changes nothing
        return reply
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
