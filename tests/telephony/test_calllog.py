"""The call-log writer: batches, waits when full, retries, writes everything on stop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from telephony import CallRecord
from telephony.calllog import CallLogWriter

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def record(n: int, **changes: object) -> CallRecord:
    base = CallRecord(call_id=f"pbx1:{n}.1", pbx="pbx1", linkedid=f"{n}.1",
                      direction="inbound", caller_number=f"+861390000{n:04d}", caller_name="",
                      queue=None, agent_extension=None, agents=(), state="ringing",
                      started_at=T0, answered_at=None, ended_at=None, wait_s=None,
                      talk_s=None, hangup_cause=None, recording_path=None, dtmf="",
                      order_number=None, transferred_to=None, asr_uuid=None)
    return replace(base, **changes)  # type: ignore[arg-type]


class Store:
    """Records every batch; can be held shut (``gate``) or fail its next ``failures``."""

    def __init__(self) -> None:
        self.batches: list[list[CallRecord]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = 0
        self.calls = 0

    async def __call__(self, records: Sequence[CallRecord]) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        self.batches.append(list(records))

    @property
    def written(self) -> list[CallRecord]:
        return [r for b in self.batches for r in b]


async def test_records_are_batched_in_order() -> None:
    store = Store()
    store.gate.clear()
    writer = CallLogWriter(store, batch=200, max_queue=1000)
    writer.start()
    try:
        await writer.put(record(0))
        await asyncio.sleep(0)  # the writer took the first record: its batch waits
        await asyncio.sleep(0)
        assert store.calls == 1
        for n in range(1, 450):
            await writer.put(record(n))
        store.gate.set()
        await writer.flush()
        assert [len(b) for b in store.batches] == [1, 200, 200, 49]
        assert [r.call_id for r in store.written] == [f"pbx1:{n}.1" for n in range(450)]
        assert writer.stats()["written"] == 450 and writer.stats()["batches"] == 4
    finally:
        await writer.stop()


async def test_a_full_queue_makes_put_wait() -> None:
    store = Store()
    store.gate.clear()
    writer = CallLogWriter(store, batch=5, max_queue=10)
    writer.start()
    try:
        await writer.put(record(0))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # record 0 is in the writer's (held) batch
        for n in range(1, 11):
            await writer.put(record(n))
        assert writer.queued == 10
        blocked = asyncio.ensure_future(writer.put(record(11)))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # no unbounded growth: the caller waits
        assert writer.queued == 10 and writer.stats()["full_waits"] == 1
        store.gate.set()
        await asyncio.wait_for(blocked, 1)
        await writer.flush()
        assert [r.call_id for r in store.written] == [f"pbx1:{n}.1" for n in range(12)]
    finally:
        await writer.stop()


async def test_failed_batches_are_retried_whole_then_announced(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.failures = 3
    announced: list[str] = []
    written_when_announced: list[int] = []

    async def done(r: CallRecord) -> None:
        announced.append(r.call_id)
        written_when_announced.append(len(store.written))

    writer = CallLogWriter(store, retry_min=0.001, retry_max=0.004)
    writer.start()
    try:
        await writer.put(record(1))
        await writer.put(record(1, state="ended", ended_at=T0), done)
        await writer.flush()
    finally:
        await writer.stop()
    # One batch (both were queued before the writer ran), attempted 4 times, written once.
    assert [[r.state for r in b] for b in store.batches] == [["ringing", "ended"]]
    assert store.calls == 4
    assert writer.stats()["retries"] == 3 and writer.stats()["lost"] == 0
    assert announced == ["pbx1:1.1"] and written_when_announced == [2]  # after the commit
    assert "retrying" in caplog.text


async def test_a_batch_failing_past_patience_is_logged_and_the_writer_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.failures = 10**6
    writer = CallLogWriter(store, retry_min=0.001, retry_max=0.001, patience=0.02)
    writer.start()
    try:
        with caplog.at_level(logging.ERROR):
            await writer.put(record(1))
            await asyncio.wait_for(writer.flush(), 2)
        assert writer.stats()["lost"] == 1
        assert "given up" in caplog.text and "pbx1:1.1" in caplog.text
        store.failures = 0
        await writer.put(record(2))
        await writer.flush()
        assert [r.call_id for r in store.written] == ["pbx1:2.1"]
    finally:
        await writer.stop()


async def test_stop_writes_everything_still_queued() -> None:
    store = Store()

    async def slow(records: Sequence[CallRecord]) -> None:
        await asyncio.sleep(0.005)
        await store(records)

    writer = CallLogWriter(slow, batch=7)
    writer.start()
    for n in range(100):
        await writer.put(record(n))
    assert writer.queued > 0
    await writer.stop()
    assert len(store.written) == 100 and writer.queued == 0


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CallLogWriter(Store(), batch=0)
    with pytest.raises(ValueError, match="negative"):
        CallLogWriter(Store(), linger=-1)


async def test_records_arriving_within_the_linger_share_one_batch() -> None:
    """A batch waits ``linger`` after its first record: records trickling in (a call's
    milestones at 20 calls/s) share one transaction instead of one each."""
    for linger, expected in ((0.0, [1, 1, 1]), (0.2, [3])):
        store = Store()
        writer = CallLogWriter(store, linger=linger)
        writer.start()
        try:
            for n in range(3):
                await writer.put(record(n))
                await asyncio.sleep(0.01)  # the writer runs between the records
            await writer.flush()
            assert [len(b) for b in store.batches] == expected, linger
        finally:
            await writer.stop()


async def test_no_linger_while_a_whole_batch_is_queued() -> None:
    store = Store()
    writer = CallLogWriter(store, batch=3, linger=30.0)
    for n in range(3):
        await writer.put(record(n))
    writer.start()
    try:
        await asyncio.wait_for(writer.flush(), 1)  # not 30 s
        assert [len(b) for b in store.batches] == [3]
    finally:
        await writer.stop()


async def test_a_flush_or_a_stop_does_not_wait_out_the_linger() -> None:
    """Whoever waits for the records (drain, shutdown) gets them written at once: a 50 ms
    linger per flush made the AMI benchmark's bridge, which drains after every read, 30x
    slower."""
    for finish in ("flush", "stop"):
        store = Store()
        writer = CallLogWriter(store, linger=30.0)
        writer.start()
        await writer.put(record(0))
        await asyncio.sleep(0.01)  # the writer took it and lingers
        started = time.monotonic()
        if finish == "flush":
            await asyncio.wait_for(writer.flush(), 2)
        else:
            await asyncio.wait_for(writer.stop(timeout=5), 2)
        assert time.monotonic() - started < 1, finish
        assert [len(b) for b in store.batches] == [1] and writer.stats()["lost"] == 0
        await writer.put(record(1))  # the next batch lingers again (no flush waiting)
        await asyncio.sleep(0.05)
        assert len(store.batches) == 1
        await writer.stop()


async def test_stop_with_a_dead_database_logs_every_record_and_returns(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.failures = 10**6
    writer = CallLogWriter(store, batch=2, retry_min=0.01, retry_max=0.01)
    writer.start()
    for n in range(5):
        await writer.put(record(n))
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(writer.stop(timeout=0.1), 2)
    assert writer.stats()["lost"] == 5 and not store.written
    for n in range(5):  # each record is in the log, to be replayed by hand
        assert f"pbx1:{n}.1" in caplog.text
