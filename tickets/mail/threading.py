"""Message-IDs Hotline gives its mail, and finding the ticket a reply belongs to (pure).

Every email about a ticket carries ``References: <hotline.T-000123@DOMAIN>`` (the thread's
root, never sent as a message itself) and a unique ``Message-ID:
<hotline.T-000123.KEY@DOMAIN>``. A customer's mail client copies these into ``In-Reply-To``
and ``References`` of a reply, so the ticket is found from the headers alone; when a client
drops them, the ticket number in the subject (``[T-000123]``) is the fallback. Only ids with
our own domain count, so a forwarded thread from another system cannot steer a reply.
"""

from __future__ import annotations

import re

_ID = re.compile(r"<hotline\.(T-\d{6,})(?:\.[^@>\s]+)?@([^>\s]+)>", re.IGNORECASE)
_SUBJECT = re.compile(r"\[(T-\d{6,})\]", re.IGNORECASE)


def thread_root(number: str, domain: str) -> str:
    """``<hotline.T-000123@domain>``: the id every message about ticket ``number`` refers to."""
    return f"<hotline.{number}@{domain}>"


def message_id(number: str, key: str, domain: str) -> str:
    """A unique Message-ID for one message about ticket ``number``.

    ``key`` is the outbox message's idempotency key (letters, digits, ``-`` and ``_``),
    so a retried delivery reuses the same id and the receiver can drop the duplicate.
    """
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", key)
    return f"<hotline.{number}.{safe}@{domain}>"


def subject_tag(number: str) -> str:
    """``[T-000123]``, put in the subject of every mail about the ticket."""
    return f"[{number}]"


def threaded_ticket(domain: str, *, in_reply_to: str | None,
                    references: str | None) -> str | None:
    """The ticket number one of *our* Message-IDs in ``In-Reply-To`` / ``References`` names
    (In-Reply-To first, the newest first), or None: the strong reference, which only a
    mail client that received our mail copies. The subject tag is not looked at."""
    for header in (in_reply_to, references):
        if not header:
            continue
        for match in reversed(list(_ID.finditer(header))):
            if match.group(2).lower() == domain.lower():
                return match.group(1).upper()
    return None


def referenced_ticket(domain: str, *, in_reply_to: str | None, references: str | None,
                      subject: str | None) -> str | None:
    """The ticket number (``T-000123``) a reply is about, or None for a new conversation.

    ``In-Reply-To`` wins over ``References`` (the newest first), the subject tag is the
    last resort. Ids of other domains are ignored; the domain compares case-insensitively.
    """
    found_by_headers = threaded_ticket(domain, in_reply_to=in_reply_to, references=references)
    if found_by_headers is not None:
        return found_by_headers
    if subject:
        found = _SUBJECT.search(subject)
        if found:
            return found.group(1).upper()
    return None
