"""The supervisor's floor: call-backs of abandoned callers, the wallboard's thresholds, and
tickets about to miss their SLA.

Sub-modules: :mod:`.models` (tables), :mod:`.schemas` (API shapes, the thresholds and their
checks), :mod:`.service` (queries and writes; never commits: the caller's unit of work does).
The PBX actions themselves (pause, queue removal, the Originate of a call-back) are
:mod:`telephony.service`'s; ``web/api/floor.py`` composes the two.
"""
