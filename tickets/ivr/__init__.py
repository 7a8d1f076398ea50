"""The ticket side of the IVR (issue #12): what ``softphone_bridge.ivr.ports.IvrBackend``
asks of Hotline, as async functions over a session the caller owns.

Sub-modules: :mod:`.models` (the ``ivr_journeys`` table), :mod:`.service` (identify the
caller, read tickets with the PIN rule, message and call-back tickets, the ticket to rate,
journeys; never commits). ``web/ivr_backend.py`` runs them on the application's loop for
the IVR's blocking call threads.
"""
