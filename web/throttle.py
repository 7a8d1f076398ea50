"""Failed-login throttling: a password guesser waits, the rest of the floor does not.

Two counts, both refused before argon2 runs (a refused guess costs no hash):

* per (username, client address): the first ``free_failures`` failures cost nothing, then
  each further attempt must wait ``base_delay_s × 2^k`` after the last failure (capped at
  ``max_delay_s``). A pair's count is forgotten ``window_s`` after its last failure, and a
  success clears it. The same user from another address is not slowed down: a guesser
  cannot lock the supervisor out for everyone, only slow down their own guesses.
* per client address: at most ``per_address`` failures within ``window_s`` (a sliding
  window), whoever they were for — the ceiling on a guesser spraying many usernames. It is
  high, since a whole call-centre floor may share one NAT address; and a (username,
  address) pair that has logged in successfully before is exempt, so the floor's known
  users keep logging in while a sprayer behind the same address is held back.
* per username: at most ``per_user`` failures within ``window_s`` from all addresses
  together — the ceiling on guessing one account from many addresses. Pairs that have
  logged in before are exempt here too: the supervisor at her usual desk still logs in
  while her account is being guessed at from elsewhere.

Pure and clock-injected (tests drive the clock); kept in the process, so with several
processes each counts its own share, which still bounds guessing to ``processes ×`` the
limits. Memory is bounded by ``max_keys`` entries per table (least recently touched go).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Pair:
    failures: int
    last: float


class LoginThrottle:
    def __init__(self, *, free_failures: int = 3, base_delay_s: float = 1.0,
                 max_delay_s: float = 300.0, per_address: int = 1000, per_user: int = 100,
                 window_s: float = 900.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.per_address = per_address
        self.per_user = per_user
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._users: OrderedDict[str, deque[float]] = OrderedDict()
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.refused = 0

    @staticmethod
    def _key(username: str, address: str | None) -> tuple[str, str]:
        return username.casefold(), address or ""

    def delay_after(self, failures: int) -> float:
        """Seconds an attempt must wait after the last of ``failures`` consecutive ones."""
        extra = failures - self.free_failures
        if extra < 0:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(extra, 62))

    def known(self, username: str, address: str | None) -> bool:
        """Whether this username has logged in from this address before (bounded memory:
        the least recently seen pairs are forgotten first)."""
        return self._key(username, address) in self._known

    def retry_after(self, username: str, address: str | None) -> float:
        """Seconds until this attempt may be made; 0 when it may be made now."""
        now = self.clock()
        key = self._key(username, address)
        wait = 0.0
        pair = self._pairs.get(key)
        if pair is not None:
            if now - pair.last >= self.window_s:
                del self._pairs[key]
            else:
                wait = max(0.0, pair.last + self.delay_after(pair.failures) - now)
        if key not in self._known:
            wait = max(wait, self._ceiling_wait(self._users, key[0], self.per_user, now))
            if address:
                wait = max(wait, self._ceiling_wait(self._addresses, address,
                                                    self.per_address, now))
        if wait > 0:
            self.refused += 1
        return wait

    def _ceiling_wait(self, table: OrderedDict[str, deque[float]], key: str, limit: int,
                      now: float) -> float:
        times = table.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.window_s - now

    def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        key = self._key(username, address)
        pair = self._pairs.pop(key, None)
        if pair is None or now - pair.last >= self.window_s:
            pair = _Pair(0, now)
        pair.failures += 1
        pair.last = now
        self._pairs[key] = pair  # most recent last: the oldest go first
        self._trim(self._pairs)
        self._count(self._users, key[0], self.per_user, now)
        if address:
            self._count(self._addresses, address, self.per_address, now)

    def _count(self, table: OrderedDict[str, deque[float]], key: str, limit: int,
               now: float) -> None:
        times = table.pop(key, None) or deque(maxlen=limit)
        times.append(now)
        table[key] = times  # most recent last: the oldest go first
        self._trim(table)

    def succeeded(self, username: str, address: str | None) -> None:
        """A right password: the pair starts afresh and is exempt from the address
        ceiling from now on."""
        key = self._key(username, address)
        self._pairs.pop(key, None)
        self._known.pop(key, None)
        self._known[key] = None
        self._trim(self._known)

    def _trim(self, table: OrderedDict[Any, Any]) -> None:
        while len(table) > self.max_keys:
            table.popitem(last=False)
