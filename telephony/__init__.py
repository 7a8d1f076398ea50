"""Telephony: the AMI bridge, the live call model and call actions (see DESIGN.md)."""

from .ports import (
    ActionFailed,
    ActionTimeout,
    CallDirectory,
    CallHistory,
    CallNotFound,
    CallRecord,
    InMemoryCallDirectory,
    PbxConfig,
    PbxUnavailable,
    TelephonyError,
    parse_ami_urls,
)
from .service import Telephony
from .tracker import CallTracker

__all__ = [
    "ActionFailed",
    "ActionTimeout",
    "CallDirectory",
    "CallHistory",
    "CallNotFound",
    "CallRecord",
    "CallTracker",
    "InMemoryCallDirectory",
    "PbxConfig",
    "PbxUnavailable",
    "Telephony",
    "TelephonyError",
    "parse_ami_urls",
]
