"""The screen pop of a call that came through Hotline's IVR carries its journey (``ivr``):
a real capture replayed over TCP through the whole bridge."""

from __future__ import annotations


class _JourneyOfEveryCall(dict):  # type: ignore[type-arg]
    """The replay renumbers the capture's calls: a journey recorded for whichever it is."""

    def __init__(self, journey: dict) -> None:  # type: ignore[type-arg]
        super().__init__()
        self.journey = journey
        self.asked: list[str] = []

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        self.asked.append(key)
        return self.journey


async def test_a_call_that_came_through_the_ivr_pops_with_its_journey(rig):
    """The IVR records the caller's journey before it hands the call to the queue: every
    agent's pop of that call carries it (``ivr``), read once for both; a call without one
    pops without."""
    journey = {"outcome": "agent", "summary": "checked T-000123 · pressed 0 after 40 s",
               "steps": [{"at_s": 12.5, "kind": "status", "detail": "T-000123"},
                         {"at_s": 40.0, "kind": "agent", "detail": "0"}]}
    rig.directory.journeys = every = _JourneyOfEveryCall(journey)
    result = await rig.server.play("a_inbound_queue_answered")
    await rig.wait_idle()
    call_id = f"pbx1:{result.linkedids[0]}"
    pops = rig.pops()
    assert sorted(p["extension"] for p in pops) == ["6001", "6002"]
    assert all(p["ivr"] == journey and p["call_id"] == call_id for p in pops)
    assert every.asked == [call_id]  # shared by the call's pops
    rig.directory.journeys = {}
    rig.rec.events.clear()
    await rig.server.play("a_inbound_queue_answered")
    await rig.wait_idle()
    assert rig.pops() and all("ivr" not in p for p in rig.pops())
