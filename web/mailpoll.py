"""IMAP polling: a mailbox elsewhere (Exchange, enterprise mail, Gmail) feeds the same ingest.

For sites that cannot point an MTA at the SMTP receiver. Every ``HOTLINE_IMAP_INTERVAL_S``
the poller (``aioimaplib``) logs in to ``HOTLINE_IMAP_URL``, lists every message in the
folder, and for each one: fetches it without marking it read (``BODY.PEEK[]``), ingests it
in one transaction exactly as the SMTP receiver does (:meth:`web.mailin.MailHandler.take`),
and only after that commit flags it ``\\Deleted``; the deleted ones are expunged at the end
of the pass. So the folder holds just what has not been taken yet: give Hotline a mailbox of
its own (or one a server-side rule copies the support mail into).

Nothing is lost or doubled: a message whose ingest failed (database down) stays in the
folder for the next pass; a crash between the commit and the delete leaves a message that
the next pass ingests again, which its Message-ID turns into a no-op, and deletes. A message
over ``HOTLINE_MAIL_MAX_BYTES`` is left in the folder and logged once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from aioimaplib import IMAP4, IMAP4_SSL

from web.mailin import MailHandler

log = logging.getLogger(__name__)

_SIZE = re.compile(rb"\{(\d+)\}\s*$")


@dataclass(frozen=True)
class ImapTarget:
    """Where to poll: from ``imaps://user:password@host[:port]/Folder`` (``imap://`` for
    plain IMAP, e.g. a local test server). Default ports 993 / 143, folder ``INBOX``."""

    host: str
    port: int
    ssl: bool
    user: str
    password: str
    mailbox: str = "INBOX"

    def __repr__(self) -> str:  # never the password in a log line
        return f"ImapTarget({'imaps' if self.ssl else 'imap'}://{self.user}@{self.host}:" \
               f"{self.port}/{self.mailbox})"


def parse_imap_url(url: str) -> ImapTarget:
    """:class:`ImapTarget` from ``HOTLINE_IMAP_URL``; ValueError naming what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("imap", "imaps"):
        raise ValueError("HOTLINE_IMAP_URL: the scheme must be imaps:// or imap://")
    if not parts.hostname or not parts.username:
        raise ValueError("HOTLINE_IMAP_URL: a user and a host are needed "
                         "(imaps://user:password@host/INBOX)")
    ssl = parts.scheme == "imaps"
    return ImapTarget(host=parts.hostname, port=parts.port or (993 if ssl else 143), ssl=ssl,
                      user=unquote(parts.username), password=unquote(parts.password or ""),
                      mailbox=unquote(parts.path.lstrip("/")) or "INBOX")


@dataclass
class PollStats:
    passes: int = 0
    taken: int = 0
    failed_passes: int = 0
    last_error: str | None = None
    too_big: set[str] = field(default_factory=set)


def _message_bytes(lines: list[Any]) -> bytes | None:
    """The literal of a ``UID FETCH … BODY.PEEK[]`` answer (the line after ``{size}``)."""
    for i, line in enumerate(lines[:-1]):
        if isinstance(line, bytes | bytearray) and _SIZE.search(bytes(line)) \
                and isinstance(lines[i + 1], bytes | bytearray):
            return bytes(lines[i + 1])
    return None


class ImapPoller:
    """Polls one mailbox into ``handler`` (:meth:`poll_once`, or :meth:`start` for a task
    that polls every ``interval_s`` until :meth:`stop`)."""

    def __init__(self, target: ImapTarget, handler: MailHandler, *, interval_s: float,
                 max_bytes: int, timeout_s: float = 30.0) -> None:
        self.target = target
        self.handler = handler
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.stats = PollStats()
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> int:
        """One pass over the folder; how many messages were taken (and deleted). Raises on
        a connection or login failure (nothing is deleted then)."""
        t = self.target
        imap = (IMAP4_SSL(t.host, t.port, timeout=self.timeout_s) if t.ssl
                else IMAP4(t.host, t.port, timeout=self.timeout_s))
        await imap.wait_hello_from_server()
        taken = 0
        try:
            _ok(await imap.login(t.user, t.password), "LOGIN")
            _ok(await imap.select(t.mailbox), f"SELECT {t.mailbox}")
            found = _ok(await imap.uid_search("ALL", charset=None), "UID SEARCH")
            uids = [u.decode() for u in bytes(found.lines[0]).split() if u.isdigit()]
            for uid in uids:
                if await self._take(imap, uid):
                    taken += 1
            if taken:
                _ok(await imap.expunge(), "EXPUNGE")
        finally:
            try:
                await imap.logout()
            except Exception:  # the connection may be gone already
                pass
        self.stats.passes += 1
        self.stats.taken += taken
        return taken

    async def _take(self, imap: IMAP4, uid: str) -> bool:
        fetched = _ok(await imap.uid("fetch", uid, "(BODY.PEEK[])"), f"UID FETCH {uid}")
        raw = _message_bytes(fetched.lines)
        if raw is None:
            return False
        if len(raw) > self.max_bytes:
            if uid not in self.stats.too_big:
                self.stats.too_big.add(uid)
                log.warning("IMAP message UID %s is %d bytes, over HOTLINE_MAIL_MAX_BYTES: "
                            "left in the mailbox", uid, len(raw))
            return False
        try:
            await self.handler.take(raw, None)
        except Exception as exc:  # stays in the mailbox for the next pass
            log.warning("IMAP message UID %s not taken, retried next pass: %s", uid,
                        type(exc).__name__)
            return False
        _ok(await imap.uid("store", uid, "+FLAGS", "(\\Deleted)"), f"UID STORE {uid}")
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self.stats.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failed_passes += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("IMAP poll of %r failed: %s", self.target, self.stats.last_error)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="imap-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def state(self) -> dict[str, Any]:
        return {"enabled": True, "mailbox": repr(self.target), "passes": self.stats.passes,
                "taken": self.stats.taken, "failed_passes": self.stats.failed_passes,
                "last_error": self.stats.last_error}


class ImapError(Exception):
    """The server answered a command with NO or BAD."""


def _ok(response: Any, what: str) -> Any:
    if getattr(response, "result", None) != "OK":
        lines = getattr(response, "lines", [])
        detail = bytes(lines[-1]).decode("utf-8", "replace") if lines else ""
        raise ImapError(f"{what}: {getattr(response, 'result', '?')} {detail}".strip())
    return response
