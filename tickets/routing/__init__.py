"""Routing: which group and person a ticket goes to, and the path it walks between groups.

``conditions`` (rule conditions as data), ``rules`` (one ordered pass of rules over a
ticket), ``assignment`` (who in a group) and ``flow`` (steps across departments) are pure:
they take plain values and return decisions, and are tested without a database.
"""
