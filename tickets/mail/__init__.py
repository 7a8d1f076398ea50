"""The email channel: inbound mail becomes tickets and comments; outbound mail threads on them.

``threading`` is the one place that knows how Hotline names its messages, so the notifier
that sends mail and the ingester that reads replies agree without importing each other.
"""
