"""Customer satisfaction (CSAT): one 1–5 score per ticket, from the IVR, the portal, mail
or the web.

Sub-modules: :mod:`.models` (the ``ticket_ratings`` table), :mod:`.service` (rate, read, the
reports' summary; never commits: the caller's unit of work does).
"""
