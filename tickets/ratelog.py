"""Rate-limited log lines: one line per kind of trouble per interval, with a count.

A hostile or broken peer can make the same thing go wrong thousands of times a second
(idle AudioSocket connections, a Redis outage dropping outbox messages). One line per
event would flood the log and cost CPU; no line would hide the trouble. So the first
occurrence of a ``key`` is logged at once, later ones within ``interval`` seconds are
counted, and the next line logged for that key says how many were suppressed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """``limited.warning(key, msg, *args)``: log unless ``key`` was logged < ``interval`` ago.

    ``key`` names the kind of event (e.g. ``"no-uuid"``), not the instance, so a flood of
    different peers still shares one budget. Returns whether the line was written.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 256) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.suppressed_total = 0

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            self.suppressed_total += 1
            return False
        if last is None and len(self._last) >= self._max_keys:
            self._last.clear()  # keys are a fixed small set in practice; never grow unbounded
            self._suppressed.clear()
        self._last[key] = now
        skipped = self._suppressed.pop(key, 0)
        if skipped:
            msg += " (%d more like this in the last %.0f s not logged)"
            args = (*args, skipped, now - last if last is not None else self.interval)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def info(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)
