"""Which agent extension a channel or queue-member interface belongs to.

Asterisk queues name members in many ways: ``PJSIP/6001`` (our own config), ``SIP/6001``,
``IAX2/6001``, ``DAHDI/…``, FreePBX's ``Local/6001@from-queue/n`` with a
``StateInterface: hint:6001@ext-local``, or a device name that holds no digits at all
(``SIP/alice``). The channels of a call carry the same names with a unique suffix
(``PJSIP/6001-0000001a``, ``Local/6001@from-queue-0000002a;1``). One resolver maps all of
them to the extension Hotline knows the agent by, so pops, answers and pauses agree; what no
rule can read is configured (``HOTLINE_AGENT_INTERFACES``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TECH_RE = re.compile(r"^(?:PJSIP|SIP|IAX2|DAHDI)/(\d+)$", re.IGNORECASE)
_LOCAL_RE = re.compile(r"^Local/(\d+)@", re.IGNORECASE)
_HINT_RE = re.compile(r"^hint:(\d+)@", re.IGNORECASE)
_EXT_RE = re.compile(r"^\d{2,10}$")


def device_of(name: str) -> str:
    """The device a channel or interface names, without per-channel suffixes.

    ``PJSIP/6001-0000001a`` → ``PJSIP/6001``; ``Local/6001@from-queue-0000002a;1`` and
    ``Local/6001@from-queue/n`` → ``Local/6001@from-queue``; ``DAHDI/1-1`` → ``DAHDI/1``.
    """
    s = name.strip()
    if s.lower().startswith("local/"):
        s = re.sub(r";\d+$", "", s)
        s = re.sub(r"/[A-Za-z]+$", "", s)  # Local options: /n, /m, /b
    return re.sub(r"-[0-9a-fA-F]+$", "", s)


def parse_agent_interfaces(text: str | None) -> dict[str, str]:
    """Parse ``HOTLINE_AGENT_INTERFACES``: ``SIP/alice=6001,DAHDI/1=6002``.

    Keys are interfaces (any form above; compared without channel suffixes, case kept),
    values extensions (2–10 digits). Raises ``ValueError`` naming the bad entry.
    """
    out: dict[str, str] = {}
    for i, part in enumerate((text or "").split(","), start=1):
        part = part.strip()
        if not part:
            continue
        iface, sep, ext = part.partition("=")
        iface, ext = iface.strip(), ext.strip()
        if not sep or not iface or not _EXT_RE.match(ext):
            raise ValueError(f"HOTLINE_AGENT_INTERFACES entry {i} ({part!r}): "
                             "expected INTERFACE=EXTENSION, e.g. SIP/alice=6001")
        out[device_of(iface)] = ext
    return out


class AgentInterfaces:
    """Resolve channels and member interfaces to agent extensions (see module doc)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._mapping = {device_of(k): v for k, v in (mapping or {}).items()}

    def extension(self, name: str | None, state_interface: str | None = None) -> str | None:
        """The extension of a channel/interface (else of its ``StateInterface``), or None."""
        for candidate in (name, state_interface):
            if candidate:
                ext = self._one(candidate)
                if ext is not None:
                    return ext
        return None

    def interface_of(self, extension: str) -> str | None:
        """The configured interface of an extension (reverse of the mapping), if any."""
        return next((k for k, v in self._mapping.items() if v == extension), None)

    def _one(self, name: str) -> str | None:
        device = device_of(name)
        mapped = self._mapping.get(device)
        if mapped is not None:
            return mapped
        for rx, text in ((_TECH_RE, device), (_LOCAL_RE, name), (_HINT_RE, name)):
            m = rx.match(text)
            if m:
                return m.group(1)
        return None
