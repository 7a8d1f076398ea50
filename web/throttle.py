"""Failed-login throttling: a password guesser gets 429s instead of argon2 verdicts.

Counted per username and per client address over a sliding window; a success clears the
username's count. A blocked attempt is refused before argon2 runs, so a flood of guesses
cannot buy tens of milliseconds of CPU each. Kept in the process: with several processes
each counts its own share, which still bounds guessing to ``processes × limit`` per window.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, max_failures: int = 10, per_address: int = 100, window_s: float = 300.0,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.per_address = per_address
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.refused = 0

    def retry_after(self, username: str, address: str | None) -> float:
        """Seconds until this attempt may be made; 0 when it may be made now."""
        now = self.clock()
        wait = self._wait(f"u:{username.casefold()}", self.max_failures, now)
        if address:
            wait = max(wait, self._wait(f"a:{address}", self.per_address, now))
        if wait > 0:
            self.refused += 1
        return wait

    def failed(self, username: str, address: str | None) -> None:
        now = self.clock()
        self._add(f"u:{username.casefold()}", now)
        if address:
            self._add(f"a:{address}", now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(f"u:{username.casefold()}", None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < limit:
            return 0.0
        return times[-limit] + self.window_s - now

    def _add(self, key: str, now: float) -> None:
        times = self._failures.pop(key, None) or deque()
        times.append(now)
        while len(times) > max(self.max_failures, self.per_address):
            times.popleft()
        self._failures[key] = times  # most recent last: the oldest keys go first
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
