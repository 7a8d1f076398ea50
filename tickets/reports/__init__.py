"""Reports for supervisors: ticket volume and quality, agents, calls per queue.

``service`` builds the SQL aggregates and turns them into ``schemas`` rows; ``period`` is
the pure time-zone bucketing; ``export`` writes rows as CSV or XLSX. Nothing here knows
HTTP: ``web/api/reports.py`` parses the request and picks the output.
"""
