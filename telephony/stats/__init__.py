"""Live statistics of queues and agents (issue #13): a pure engine fed the AMI events.

:class:`~telephony.stats.engine.StatsEngine` (events, snapshots and call-log rows in; what
changed out), :mod:`~telephony.stats.windows` (rolling 15/60-minute windows and the day),
:mod:`~telephony.stats.agents` (an agent's state machine and day).
"""

from .engine import StatsConfig, StatsEngine

__all__ = ["StatsConfig", "StatsEngine"]
