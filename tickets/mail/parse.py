"""Raw RFC 5322 bytes → :class:`InboundMail`: what the ingester needs, decided without I/O.

Pure and total: any byte string gives an :class:`InboundMail` (``rejected`` says why one
cannot be used), nothing raises, nothing is executed. The standard ``email`` package parses
with the ``compat32`` policy, which keeps headers and payloads as the sender wrote them;
decoding is ours, because Chinese mail routinely declares ``gb2312`` while using GBK
characters, or declares nothing at all:

- declared ``gb2312`` / ``gbk`` / ``cp936`` decode as ``gb18030`` (their superset), ``big5``
  as ``big5hkscs``; a charset that is unknown or that the bytes contradict falls back to
  UTF-8, then GB18030, then Latin-1 with replacement characters (:func:`decode_text`);
- headers are RFC 2047 decoded word by word with the same rules, raw 8-bit header bytes too;
- HTML (only when there is no text/plain part) becomes text with the standard
  ``html.parser``: nothing is rendered, ``<script>``/``<style>`` contents are dropped,
  ``<blockquote>`` becomes ``>``-quoted lines;
- attachments keep their decoded filename, type and bytes when they fit the same limits as
  an upload (size, allowed types) and a count; the rest are listed in ``dropped`` with why.

Auto-generated mail (auto-replies, bounces, bulk) is flagged with the reason so the
ingester never answers it: that is what keeps two robots from mailing each other forever.
"""

from __future__ import annotations

import email
import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser

#: Most attachments kept from one mail; further ones are listed in ``dropped``.
MAX_ATTACHMENTS = 20

#: Declared charsets read as the superset that real senders actually use.
_SUPERSETS = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "gb_2312-80": "gb18030", "euc-cn": "gb18030", "x-euc-cn": "gb18030", "csgb2312": "gb18030",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cp950": "big5hkscs", "csbig5": "big5hkscs",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "us-ascii": "utf-8", "ascii": "utf-8",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
}
_FALLBACKS = ("utf-8", "gb18030")
#: Control characters no header needs (PostgreSQL text cannot even hold NUL).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _codec(charset: str | None) -> str | None:
    """The Python codec to try for a declared charset, or None when it is unknown."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _SUPERSETS.get(name, name)
    try:
        "".encode(name)
        b"".decode(name)
    except (LookupError, ValueError):
        return None
    return name


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode ``data`` declared as ``charset`` (may be None, unknown or wrong); never raises.

    The declared charset (its superset) strictly, then UTF-8, then GB18030, each strictly;
    the first that fits wins. Nothing fits: the declared one (else Latin-1) with ``�``."""
    declared = _codec(charset)
    for codec in (declared, *_FALLBACKS):
        if codec is None:
            continue
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(declared or "latin-1", errors="replace")


def _unescape(value: str) -> bytes:
    """``compat32`` keeps raw 8-bit header bytes as surrogate escapes: give the bytes back."""
    return value.encode("ascii", "surrogateescape")


def decode_header_value(value: str | Header | None) -> str:
    """A header's text: RFC 2047 words decoded (:func:`decode_text` each), raw 8-bit bytes
    decoded the same way, folding whitespace collapsed. ``None`` → ``""``.

    ``compat32`` hands a header with raw 8-bit bytes over as a :class:`Header` of charset
    ``unknown-8bit``; ``decode_header`` gives its bytes back."""
    if value is None:
        return ""
    parts: list[tuple[bytes | str, str | None]]
    try:
        parts = decode_header(value)
    except Exception:  # a malformed encoded word: take the text as it is
        parts = [(str(value), None)]
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            try:
                raw = _unescape(chunk)
            except UnicodeEncodeError:
                out.append(chunk)
                continue
            out.append(decode_text(raw, charset))
        else:
            out.append(decode_text(chunk, charset))
    return _CONTROL.sub("", re.sub(r"\s+", " ", "".join(out))).strip()


# -- HTML → text ------------------------------------------------------------------------------
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe",
                   "object", "embed", "svg", "math", "select"})
_BLOCK = frozenset({"p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                    "pre", "section", "article", "header", "footer", "hr", "dl", "dt", "dd",
                    "address", "center", "form", "fieldset"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "wbr",
                   "source", "track", "param", "embed"})


class _TextOf(HTMLParser):
    """Collects the text a reader would see; quoted blocks as ``> `` lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._quote = 0

    def _break(self, force: bool = False) -> None:
        """End the line being built: blocks end only a non-empty one, ``<br>`` any."""
        text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", "".join(self._line)).strip()
        if text or force:
            self.lines.append(("> " * self._quote + text).rstrip() if text else "")
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP and tag not in _VOID:
            self._skip += 1
        elif tag == "br":
            self._break(force=True)
        elif tag in _BLOCK or tag == "li" or tag == "blockquote":
            self._break()
            if tag == "blockquote":
                self._quote += 1
            elif tag == "li":
                self._line.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break(force=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and tag not in _VOID:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK or tag in ("li", "blockquote"):
            self._break()
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._line.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body: scripts, styles and the head dropped, tags gone,
    entities decoded, blocks on their own lines, ``<blockquote>`` as ``> `` lines."""
    parser = _TextOf()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; a failure still leaves what was read
        pass
    parser._break()
    return _tidy("\n".join(parser.lines))


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- quoted history ---------------------------------------------------------------------------
_QUOTE_HEADS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*在.{0,300}写道\s*[:：]\s*$"),
    re.compile(r"^.{0,300}于.{0,200}(写道|寫道)\s*[:：]\s*$"),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|原始邮件|原始郵件|转发的邮件)"
               r"\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above its quoted header block
]
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|发件人|寄件者)\s*\*?\s*[:：]", re.IGNORECASE)
_OUTLOOK_DATE = re.compile(r"^\s*\*?(Sent|Date|发送时间|日期|寄件日期|時間)\s*\*?\s*[:：]",
                           re.IGNORECASE)


def trim_quoted(text: str) -> str:
    """The new part of a reply: ``text`` without the quoted history under it.

    Cut at the first line that starts a quote the usual clients write ("On … wrote:",
    "在 … 写道：", "-----Original Message-----", "-----原始邮件-----", Outlook's "From:/发件人:"
    block followed by "Sent:/发送时间:"), else drop trailing ``>`` lines. When nothing
    would be left the text is kept whole: a reply is never emptied by a guess."""
    lines = text.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        if any(p.match(line) for p in _QUOTE_HEADS) or (
                _QUOTE_HEADS[0].match(joined) and line.strip().lower().startswith("on ")):
            cut = i
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_DATE.match(x) for x in lines[i + 1:i + 5]):
            cut = i
            break
    kept = lines[:cut]
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    result = _tidy("\n".join(kept))
    return result if result else _tidy(text)


# -- the message ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MailAttachment:
    """One attachment that fits the limits: decoded filename, base type, the bytes."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class InboundMail:
    """One received mail, decoded.

    ``message_id`` is ``<…>`` (synthesised from the bytes' SHA-256 when missing or unusable,
    then ``synthesized_id``). ``sender`` is the From address in lower case ('' if none),
    ``sender_name`` its decoded display name. ``body`` is the full text; ``reply_text`` the
    same without the quoted history (:func:`trim_quoted`). ``dropped`` lists attachments left
    out (``"name: why"``). ``is_auto`` with ``auto_reason``: machine-sent, never answered.
    ``rejected``: why the mail cannot become a ticket or comment (None: usable).
    ``sender_note``: set when ``sender`` is not the From address (a mail without a From
    header takes the SMTP envelope sender), saying so.
    """

    message_id: str
    in_reply_to: str | None
    references: str | None
    sender: str
    sender_name: str
    subject: str
    body: str
    reply_text: str
    attachments: tuple[MailAttachment, ...] = ()
    dropped: tuple[str, ...] = ()
    is_auto: bool = False
    auto_reason: str | None = None
    rejected: str | None = None
    synthesized_id: bool = False
    to: tuple[str, ...] = field(default=())
    sender_note: str | None = None


_MSGID = re.compile(r"<([^<>\s@]+@[^<>\s]+)>")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.?[^@\s<>()\[\],;:\"]*$")


def _message_id(value: str | None, raw: bytes) -> tuple[str, bool]:
    """``<local@domain>`` with the domain in lower case (domains are case-insensitive, the
    local part is not: RFC 5322), so one message resent with another case is one id; or a
    synthesised id (SHA-256 of ``raw``) when there is none. With: synthesised or not."""
    found = _MSGID.search(value or "")
    if found and len(found.group(0)) <= 250 and not _CONTROL.search(found.group(0)):
        local, _, domain = found.group(1).rpartition("@")
        return f"<{local}@{domain.lower()}>", False
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@synthesized.hotline>", True


def _id_list(value: str | None) -> str | None:
    """The ``<…>`` ids of In-Reply-To / References, space separated (None if there are none)."""
    ids = [m.group(0) for m in _MSGID.finditer(value or "")]
    return " ".join(ids)[:2000] or None


def auto_submitted(msg: Message, envelope_from: str | None, sender: str) -> str | None:
    """Why ``msg`` was sent by a machine (an auto-reply, a bounce, bulk mail), or None."""
    auto = decode_header_value(msg.get("Auto-Submitted")).split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = decode_header_value(msg.get("Precedence")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated"):
        if msg.get(name) is not None:
            return f"{name} header"
    suppress = decode_header_value(msg.get("X-Auto-Response-Suppress")).lower()
    if any(w in suppress for w in ("all", "oof", "autoreply")):
        return f"X-Auto-Response-Suppress: {suppress}"
    ctype = msg.get_content_type()
    if ctype == "multipart/report" or ctype == "message/delivery-status":
        report = msg.get_param("report-type") or ""
        return f"delivery report ({ctype}{'; ' + str(report) if report else ''})"
    local = sender.split("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return f"sender {sender}"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "null envelope sender (a bounce or notice)"
    return_path = msg.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        return "empty Return-Path (a bounce or notice)"
    return None


def _raw_header(value: str | Header | None) -> str:
    """A header as sent, RFC 2047 words still encoded (raw 8-bit bytes decoded): what an
    address list is parsed from, so nothing an encoded word hides can become an address."""
    if value is None:
        return ""
    if isinstance(value, Header):
        return "".join(decode_text(c, cs) if isinstance(c, bytes) else c
                       for c, cs in decode_header(value))
    return str(value)


def clean_name(value: str) -> str:
    """A display name safe to show and store: control (Cc) and format (Cf: bidi overrides,
    zero-width) characters become spaces, whitespace runs collapse, trimmed."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in value)
    return re.sub(r"\s+", " ", text).strip()


def sender_of(value: str | Header | None) -> tuple[str, str]:
    """``(display name, address)`` of a From header; ``("", "")`` when there is no usable
    address. The address is read from the header's addr-spec *before* any RFC 2047
    decoding, so an encoded display name (``=?utf-8?b?…?=`` hiding ``victim@example.com``
    or a CR/LF plus ``Bcc: …``) can never supply or change it; only the display name is
    decoded (:func:`decode_header_value`) and cleaned (:func:`clean_name`). The address is
    lower case, at most 254 characters and shaped like ``local@domain``."""
    pairs = [(n, a.strip()) for n, a in getaddresses([_raw_header(value)]) if a.strip()]
    if not pairs:
        return "", ""
    raw_name, address = pairs[0]
    address = address.lower()
    if len(address) > 254 or not _ADDRESS.match(address):
        return "", ""
    return clean_name(decode_header_value(raw_name))[:200], address


def _is_attachment(part: Message) -> bool:
    """A file rather than the body: ``Content-Disposition: attachment``, or any part that is
    not text/plain or text/html (images, documents, calendars, ...)."""
    disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


def _filename(part: Message) -> str:
    raw = part.get_filename() or part.get_param("name") or ""
    if isinstance(raw, tuple):  # an RFC 2231 value get_param did not collapse
        raw = email.utils.collapse_rfc2231_value(raw)
    name = decode_header_value(str(raw))
    # format characters (Unicode Cf: bidi overrides such as U+202E, zero-width ones) make
    # "照片\u202egnp.exe" display as "照片exe.png": dropped, never shown
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip() or "attachment"
    return name[:255]


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_text(payload, part.get_content_charset())


def parse_mail(raw: bytes, *, max_attachment_bytes: int, allowed_types: list[str] | tuple[
        str, ...], max_attachments: int = MAX_ATTACHMENTS,
        envelope_from: str | None = None) -> InboundMail:
    """Decode ``raw`` (the message as received); never raises.

    ``max_attachment_bytes`` and ``allowed_types`` are the upload limits
    (``HOTLINE_ATTACHMENT_MAX_BYTES``, ``HOTLINE_ATTACHMENT_TYPES``); ``envelope_from`` the
    SMTP ``MAIL FROM`` when known (``""`` for the null sender of a bounce)."""
    def rejected(why: str, mid: str = "", synth: bool = True) -> InboundMail:
        if not mid:
            mid, synth = _message_id(None, raw)
        return InboundMail(message_id=mid, in_reply_to=None, references=None, sender="",
                           sender_name="", subject="", body="", reply_text="",
                           rejected=why, synthesized_id=synth)

    if not raw or not raw.strip():
        return rejected("empty message")
    try:
        msg = email.message_from_bytes(raw)
    except Exception as exc:  # compat32 rarely raises; never let a bad mail through
        return rejected(f"unparseable message: {type(exc).__name__}")
    if not msg.keys():
        return rejected("no headers: not an email message")
    mid, synthesized = _message_id(msg.get("Message-ID"), raw)
    try:
        return _parse(msg, raw, mid, synthesized, max_attachment_bytes=max_attachment_bytes,
                      allowed_types=tuple(allowed_types), max_attachments=max_attachments,
                      envelope_from=envelope_from)
    except Exception as exc:  # defensive: a structure nobody foresaw
        return rejected(f"malformed MIME structure: {type(exc).__name__}", mid, synthesized)


def _take_attachment(part: Message, kept: list[MailAttachment], dropped: list[str], *,
                     max_attachment_bytes: int, allowed_types: tuple[str, ...],
                     max_attachments: int) -> None:
    """Keep ``part`` as an attachment if it fits the limits, else say in ``dropped`` why."""
    fname = _filename(part)
    ctype = part.get_content_type()
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes) or not content:
        dropped.append(f"{fname}: empty")
        return
    if ctype == "application/octet-stream":
        ctype = mimetypes.guess_type(fname)[0] or ctype
    if len(kept) >= max_attachments:
        dropped.append(f"{fname}: more than {max_attachments} attachments")
    elif len(content) > max_attachment_bytes:
        dropped.append(f"{fname}: {len(content)} bytes, over the {max_attachment_bytes}-byte "
                       "limit")
    elif ctype not in allowed_types:
        dropped.append(f"{fname}: type {ctype} is not allowed")
    else:
        kept.append(MailAttachment(fname, ctype, content))


def _parse(msg: Message, raw: bytes, mid: str, synthesized: bool, *, max_attachment_bytes: int,
           allowed_types: tuple[str, ...], max_attachments: int,
           envelope_from: str | None) -> InboundMail:
    name, address = sender_of(msg.get("From"))
    sender_note = None
    if msg.get("From") is None and envelope_from:
        _, address = sender_of(envelope_from.strip())
        if address:
            sender_note = f"no From header: the envelope sender {address} is the sender"
    reason = auto_submitted(msg, envelope_from, address)
    plain: str | None = None
    html: str | None = None
    kept: list[MailAttachment] = []
    dropped: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if _is_attachment(part):
            if reason and ctype in ("message/delivery-status", "text/rfc822-headers"):
                continue
            _take_attachment(part, kept, dropped, max_attachment_bytes=max_attachment_bytes,
                             allowed_types=allowed_types, max_attachments=max_attachments)
        elif ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
    body = _tidy(plain) if plain is not None and plain.strip() else (
        html_to_text(html) if html is not None else "")
    to = tuple(a.strip().lower() for _, a in getaddresses(
        [_raw_header(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])]) if a)
    return InboundMail(
        message_id=mid, in_reply_to=_id_list(msg.get("In-Reply-To")),
        references=_id_list(msg.get("References")), sender=address,
        sender_name=name, subject=decode_header_value(msg.get("Subject"))[:998],
        body=body, reply_text=trim_quoted(body) if body else "",
        attachments=tuple(kept), dropped=tuple(dropped), is_auto=reason is not None,
        auto_reason=reason, rejected=None if address else "no usable From address",
        synthesized_id=synthesized, to=to, sender_note=sender_note)


_PREFIX = re.compile(r"^\s*((re|fwd?|fw|aw|wg|sv|vs|tr|antw|回复|回覆|答复|答覆|转发|轉寄|转寄|"
                     r"自动回复)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)
_TAG = re.compile(r"\[T-\d{6,}\]\s*", re.IGNORECASE)


def title_from_subject(subject: str, fallback: str = "") -> str:
    """A ticket title from a subject: ``Re:``/``Fwd:``/``回复:``/``转发:`` (repeated, any
    case, full-width colons) and our ``[T-…]`` tag stripped, trimmed to 200 characters.
    Empty: the first line of ``fallback`` (the body), else ``(no subject)``."""
    title = _TAG.sub("", _PREFIX.sub("", subject or "")).strip()
    if not title:
        title = next((ln.strip() for ln in (fallback or "").split("\n") if ln.strip()), "")
    return (title or "(no subject)")[:200]
