"""Passwords: argon2 hashing behind a bounded gate, and the strength policy.

argon2 is slow on purpose (~0.1 s and more than one core per hash with the default
``p=4``). Left to the default thread pool, forty wrong passwords at once took 12.8 s of CPU
and pushed another user's requests to 9 s: every hash ran at once, and the event loop had
to fight them for the cores. :class:`PasswordGate` runs hashes on its own few threads (at a
lower CPU priority, which argon2's own threads inherit), lets a bounded number wait a bounded
time for one, and refuses the rest at once with :class:`GateBusy` (the web layer answers 503
+ Retry-After). So a storm of logins costs a fixed share of the machine, however large.

The policy (:func:`password_problem`) uses ``zxcvbn`` (the estimator Dropbox published,
ported to Python): a length floor plus its score, which already knows the common-password
lists, keyboard walks, repeats, dates and the user's own name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()

#: The policy: at least this many characters …
MIN_LENGTH = 10
#: … and at least this zxcvbn score (0-4; 3 = "safely unguessable: moderate protection
#: from an offline slow-hash scenario", which argon2 is).
MIN_SCORE = 3
#: zxcvbn's cost grows with length; past this many characters only the length matters.
_ESTIMATE_CHARS = 64


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps unknown usernames as slow as wrong passwords. Made on
    first use, not at import: a hash costs ~0.1 s, and every ``hotline`` command imports us."""
    return _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; ``None`` (no such user) costs a full verification too."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) \
            and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """Why ``password`` is too weak (English, one sentence), or ``None`` when it is fine.

    ``user_inputs``: the account's own words (username, display name), which a password
    must not lean on."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > _ESTIMATE_CHARS:
        return None
    result = zxcvbn(password, user_inputs=[u for u in user_inputs if u])
    if result["score"] >= MIN_SCORE:
        return None
    warning = result["feedback"].get("warning") or "it is too easy to guess"
    return f"too easy to guess ({warning.rstrip('.')}); use a longer phrase of uncommon words"


class GateBusy(Exception):
    """Too many password checks are running or waiting; try again in ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"password checks are busy; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def default_workers() -> int:
    """Leave a core for the event loop: cores - 1, at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


def _lower_priority() -> None:
    """Runs in each gate thread: lower its CPU priority (Linux nice is per thread, and the
    threads argon2 starts for ``p`` > 1 inherit it), so the event loop wins the cores."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class PasswordGate:
    """At most ``workers`` argon2 computations at once, on the gate's own threads; at most
    ``max_waiting`` more wait, each at most ``max_wait_s`` seconds; the rest get
    :class:`GateBusy` at once. Waiters with ``priority`` (a username that has logged in
    from that address before: ``LoginThrottle.known``) are served before the others and are
    not counted against ``max_waiting``, so a spray of guesses from a shared address does
    not keep the floor's users out. Use::

        async with gate.slot(priority=...):          # raises GateBusy
            ok = await gate.verify(stored_hash, password)
    """

    def __init__(self, workers: int | None = None, max_waiting: int = 64,
                 max_wait_s: float = 5.0) -> None:
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self._free = self.workers
        self._queues: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = \
            (deque(), deque())  # (priority, others)
        self._pool: ThreadPoolExecutor | None = None
        self.refused = 0

    @property
    def waiting(self) -> int:
        return sum(1 for q in self._queues for f in q if not f.done())

    def _busy(self) -> GateBusy:
        self.refused += 1
        return GateBusy(max(1, math.ceil(self.max_wait_s)))

    @contextlib.asynccontextmanager
    async def slot(self, *, priority: bool = False) -> AsyncIterator[None]:
        """Hold one of the ``workers`` slots; raises :class:`GateBusy` when the queue is
        full or the wait exceeds ``max_wait_s``."""
        if self._free > 0:
            self._free -= 1
        else:
            await self._wait(priority)
        try:
            yield
        finally:
            self._release()

    async def _wait(self, priority: bool) -> None:
        queue = self._queues[0 if priority else 1]
        if not priority and len(queue) >= self.max_waiting:
            raise self._busy()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(fut)
        try:
            await asyncio.wait_for(fut, self.max_wait_s)
        except BaseException as exc:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot was handed over as we gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(fut)
            if isinstance(exc, TimeoutError):
                raise self._busy() from None
            raise

    def _release(self) -> None:
        """Hand the slot to the first live waiter, priority first; else free it."""
        for queue in self._queues:
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return
        self._free += 1

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2",
                                            initializer=_lower_priority)
        return self._pool

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """:func:`verify_password` on the gate's threads (hold a :meth:`slot`)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), verify_password,
                                          password_hash, password)

    async def hash(self, password: str) -> str:
        """:func:`hash_password` on the gate's threads, waiting for a slot like a login."""
        async with self.slot():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor(), hash_password, password)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
