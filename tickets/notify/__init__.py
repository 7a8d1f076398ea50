"""Notifications: what happened to a ticket, told to the people who care, through an outbox.

``events`` is the vocabulary every domain uses to say "tell someone"; the outbox, templates,
channels and delivery live beside it, and domains reach them only through the ``Notify`` port
they are given (wired in ``web/wiring.py``).
"""
