"""The call log's own writer: one bounded queue, one task, many rows per transaction.

Why a writer of its own: each call-log milestone (start, ring, answer, end) used to be its
own transaction, run from the call's effect lane as soon as the event came, so a burst of
calls opened as many concurrent transactions as there were calls and took every pooled
connection the HTTP handlers needed (issue #9: at 500 calls/s the API timed out for 100 s).
Here every record goes through one queue of at most ``max_queue`` records into one task
that writes up to ``batch`` of them per transaction (:meth:`CallDirectory.record_calls`), so
the call log holds at most one connection at a time, whatever the PBX sends. When the
queue is full, :meth:`CallLogWriter.put` waits: the bridge's effect lanes wait, its event
consumer waits, and the AMI socket stops being read (TCP back-pressure on Asterisk) instead
of memory growing.

A batch waits ``linger`` seconds for more records after its first (the bridge's 50 ms):
a transaction's fixed cost (BEGIN, the locking SELECT, COMMIT, and SQLAlchemy's share of
each) is most of a lone record's, and it runs on the event loop every screen pop shares.
At 20 calls/s (about 60 records/s) a batch then holds about four records and the client
CPU per record falls about fourfold (0.75 → 0.2 ms, PostgreSQL, issue #19); a call's row
is committed up to 50 ms later.

Nothing is lost: a batch that fails (the database restarting, a lock timeout) is retried
whole, with a growing delay, for up to ``patience`` seconds (then logged with its records);
:meth:`stop` writes whatever is still queued before returning. Records of one call stay in
order (one queue, one writer, applied in order inside a batch). After a batch commits,
``on_written`` runs for each of its records (the bridge announces finished calls then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from .ports import CallRecord

log = logging.getLogger(__name__)

Store = Callable[[Sequence[CallRecord]], Awaitable[None]]
Written = Callable[[CallRecord], Awaitable[None]]


class CallLogWriter:
    """Batches :class:`CallRecord` upserts through ``store`` (one transaction per call).

    ``max_queue``: records waiting at most (``put`` waits beyond it); ``batch``: records per
    transaction at most; ``retry_min``/``retry_max``: first and largest delay (s) between
    attempts at a failing batch; ``patience``: seconds a batch is retried before it is given
    up (logged at ERROR with its records); ``linger``: seconds the writer waits after a
    batch's first record for more to join it (none while a whole batch is queued already).
    """

    def __init__(self, store: Store, *, max_queue: int = 5000, batch: int = 200,
                 retry_min: float = 0.05, retry_max: float = 5.0,
                 patience: float = 600.0, linger: float = 0.0) -> None:
        if max_queue < 1 or batch < 1:
            raise ValueError("max_queue and batch must be at least 1")
        if linger < 0:
            raise ValueError("linger must not be negative")
        self.store = store
        self.batch = batch
        self.linger = linger
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.patience = patience
        self._queue: asyncio.Queue[tuple[CallRecord, Written | None]] = \
            asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # records committed
        self.batches = 0  # transactions committed
        self.retries = 0  # failed attempts
        self.lost = 0  # records given up after ``patience``
        self.waits = 0  # puts that found the queue full
        # set while someone waits in flush(): a lingering batch is written at once
        self._hurry = asyncio.Event()
        self._flushing = 0

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        return {"queued": self.queued, "written": self.written, "batches": self.batches,
                "retries": self.retries, "lost": self.lost, "full_waits": self.waits}

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="call-log-writer")

    async def put(self, record: CallRecord, on_written: Written | None = None) -> None:
        """Queue one record; waits while ``max_queue`` records are already waiting."""
        if self._queue.full():
            self.waits += 1
        await self._queue.put((record, on_written))

    def put_nowait(self, record: CallRecord, on_written: Written | None = None) -> bool:
        """Queue one record if there is room; False (nothing queued) when the queue is
        full: the caller then waits in :meth:`put`."""
        try:
            self._queue.put_nowait((record, on_written))
        except asyncio.QueueFull:
            return False
        return True

    async def flush(self) -> None:
        """Until every record queued so far is written (or given up); a batch waiting out
        its ``linger`` is written at once."""
        self._flushing += 1
        self._hurry.set()
        try:
            await self._queue.join()
        finally:
            self._flushing -= 1
            if not self._flushing:
                self._hurry.clear()

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Write what is queued (for up to ``timeout`` s), then end the task."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            left = []
            while not self._queue.empty():
                left.append(self._queue.get_nowait()[0])
                self._queue.task_done()
            self.lost += len(left)
            log.error("call log: %d records still unwritten at shutdown: %r", len(left),
                      left)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            try:
                if self.linger > 0 and self._queue.qsize() < self.batch - 1:
                    await self._linger(items)
                while len(items) < self.batch and not self._queue.empty():
                    items.append(self._queue.get_nowait())
                await self._write(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _linger(self, items: list[tuple[CallRecord, Written | None]]) -> None:
        """Let more records join the batch (``linger`` seconds)."""
        try:
            with contextlib.suppress(TimeoutError):  # the linger is over, or a flush came
                await asyncio.wait_for(self._hurry.wait(), self.linger)
        except asyncio.CancelledError:
            self.lost += len(items)
            log.error("call log: stopped while gathering %d records: %r", len(items),
                      [r for r, _ in items])
            raise

    async def _write(self, items: list[tuple[CallRecord, Written | None]]) -> None:
        records = [r for r, _ in items]
        try:
            written = await self._attempts(records)
        except asyncio.CancelledError:
            # Stopped (shutdown timeout) before this batch was known to be written: log
            # it, so it can be replayed (upserts are idempotent).
            self.lost += len(records)
            log.error("call log: stopped while writing %d records: %r", len(records),
                      records)
            raise
        if not written:
            return
        self.written += len(records)
        self.batches += 1
        for record, done in items:
            if done is not None:
                try:
                    await done(record)
                except Exception:
                    log.exception("call log: after-write step failed for %s", record.call_id)

    async def _attempts(self, records: list[CallRecord]) -> bool:
        """Write the batch, retrying; False when it was given up after ``patience``."""
        delay = self.retry_min
        deadline = time.monotonic() + self.patience
        while True:
            try:
                await self.store(records)
                return True
            except Exception as exc:
                self.retries += 1
                if time.monotonic() > deadline:
                    self.lost += len(records)
                    log.error("call log: %d records given up after %.0fs (%r): %r",
                              len(records), self.patience, exc, records)
                    return False
                log.warning("call log: writing %d records failed, retrying in %.2fs: %r",
                            len(records), delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 3, self.retry_max)
