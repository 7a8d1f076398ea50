"""Which paused agents' tickets to release now (pure: no I/O, no clock).

An agent who pauses in the telephony queue for longer than the configured limit gives back
the tickets they have not started (``moves.release_paused`` carries that out;
``web/pausewatch.py`` checks every 30 s in the process that runs the PBX bridge).
Everything is re-derived from live presence on every check, so this module only needs:

* the queue members as the PBX bridge reports them (``tickets.messages.QueueMember``: the
  ``paused`` flag, ``paused_reason`` and ``paused_since``, ISO 8601);
* the limit, in seconds (0: off);
* what was already released, as the set of pause keys :func:`due` returned last time.

**Who is paused.** An agent (an extension) is paused when *every* queue membership they
have, across queues and PBXs, is paused: an agent paused in one queue but available in
another still takes calls and work there, so they keep their tickets. Their pause began
when the last of those memberships was paused (the latest ``paused_since``): until then
they were available somewhere. A membership that is unavailable (logged out) but not
paused makes the agent not paused for this rule: logging out is not a pause, and a
disabled account has its own release (``moves.release_tickets`` from the users API).

**Once per pause.** A pause is identified by ``(extension, since)``; it is released once.
Work handed to the agent by a person during the same pause stays with them (a manual
assignment wins); unpausing and pausing again is a new pause with a new start. Because
``since`` is Asterisk's own ``LastPause``, a PBX reconnect keeps the key; a restart of
this process forgets the set, so a pause already released is released once more, which
moves only tickets a person gave the agent since (a small, documented cost of keeping no
durable timers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: A pause's identity: (extension, when it began in Unix seconds).
PauseKey = tuple[str, float]


@dataclass(frozen=True)
class Pause:
    """An agent paused in all their queues: since ``since`` (Unix seconds), for ``reason``
    (the PBX's reason word, ``""`` when none was given)."""

    extension: str
    since: float
    reason: str

    @property
    def key(self) -> PauseKey:
        return (self.extension, self.since)


@dataclass(frozen=True)
class Release:
    """Release the tickets of ``pause.extension``: paused ``paused_s`` seconds so far."""

    pause: Pause
    paused_s: float

    @property
    def why(self) -> str:
        """The history's reason: ``released: paused 32 min (lunch)`` (whole minutes; the
        console words it in the reader's language)."""
        minutes = int(self.paused_s // 60)
        reason = f" ({self.pause.reason})" if self.pause.reason else ""
        return f"released: paused {minutes} min{reason}"


def paused_agents(members: Iterable[Mapping[str, Any]]) -> dict[str, Pause]:
    """Extension → :class:`Pause` for each agent paused in every membership listed (see
    the module docstring). Members with no extension, or paused with no ``paused_since``
    (an old message shape), are left out: no start, no limit to measure."""
    starts: dict[str, list[tuple[float, str]]] = {}
    unpaused: set[str] = set()
    for m in members:
        ext = m.get("extension")
        if not ext:
            continue
        since = _epoch(m.get("paused_since")) if m.get("paused") else None
        if since is None:
            unpaused.add(ext)
        else:
            starts.setdefault(ext, []).append((since, str(m.get("paused_reason") or "")))
    out: dict[str, Pause] = {}
    for ext, pauses in starts.items():
        if ext in unpaused:
            continue
        since, reason = max(pauses)  # the latest start; its reason
        out[ext] = Pause(ext, since, reason)
    return out


def due(paused: Mapping[str, Pause], now: float, limit_s: float,
        released: Set[PauseKey]) -> tuple[list[Release], frozenset[PauseKey]]:
    """The releases to carry out now, and the set of released pauses to pass next time.

    ``now`` Unix seconds (the same wall clock as ``paused_since``); ``limit_s`` ≤ 0: never
    release. A pause is due once it has lasted ``limit_s`` or more and is not in
    ``released``. The returned set keeps only pauses still going on (a pause that ended is
    forgotten, so the set stays as small as the number of agents paused), plus those due
    now: the caller passes it back whether or not every release succeeded, except that a
    release which failed should be left out so the next check tries it again (see
    :func:`forget`)."""
    if limit_s <= 0:
        return [], frozenset()
    current = {p.key for p in paused.values()}
    now_due = [Release(p, max(0.0, now - p.since)) for p in
               sorted(paused.values(), key=lambda p: (p.since, p.extension))
               if p.key not in released and now - p.since >= limit_s]
    return now_due, frozenset((released & current) | {r.pause.key for r in now_due})


def forget(released: frozenset[PauseKey], failed: Iterable[Release]) -> frozenset[PauseKey]:
    """``released`` without the pauses whose release failed (tried again next check)."""
    return released - {r.pause.key for r in failed}


def _epoch(value: Any) -> float | None:
    """An ISO 8601 instant (or Unix seconds) as Unix seconds; None when unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
