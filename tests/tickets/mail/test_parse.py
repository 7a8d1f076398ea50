"""tickets.mail.parse on real-looking raw messages (as bytes, the way an MTA hands them over)."""

from __future__ import annotations

import base64

from tickets.mail.parse import (
    decode_header_value,
    decode_text,
    html_to_text,
    parse_mail,
    title_from_subject,
    trim_quoted,
)

TYPES = ["image/png", "image/jpeg", "application/pdf", "text/plain"]
LIMIT = 1024 * 1024


PLAIN = (b"Return-Path: <li.lei@example.cn>\r\n"
         b"Received: from mx.example.cn by mail.hotline.local; Tue, 1 Dec 2026 09:00:00 +0800\r\n"
         b"From: =?UTF-8?B?5p2O6Zu3?= <Li.Lei@Example.CN>\r\n"
         b"To: support@hotline.local\r\n"
         b"Subject: =?UTF-8?B?5rSX6KGj5py65LiN6L2s?=\r\n"
         b"Date: Tue, 1 Dec 2026 09:00:00 +0800\r\n"
         b"Message-ID: <CAF1x2y3@mail.example.cn>\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: text/plain; charset=UTF-8\r\n"
         b"Content-Transfer-Encoding: 8bit\r\n\r\n"
         + "洗衣机不转了，订单号 SO-2026-0001。\r\n".encode())


def test_plain_utf8_mail() -> None:
    m = parse_mail(PLAIN, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.message_id == "<CAF1x2y3@mail.example.cn>" and not m.synthesized_id
    assert m.sender == "li.lei@example.cn" and m.sender_name == "李雷"
    assert m.subject == "洗衣机不转" and m.body == "洗衣机不转了，订单号 SO-2026-0001。"
    assert not m.is_auto and m.rejected is None and m.attachments == ()
    assert m.to == ("support@hotline.local",)


def test_missing_message_id_is_synthesised_from_the_bytes() -> None:
    raw = PLAIN.replace(b"Message-ID: <CAF1x2y3@mail.example.cn>\r\n", b"")
    a = parse_mail(raw, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    b = parse_mail(raw, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    c = parse_mail(raw + b"x", max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert a.synthesized_id and a.message_id == b.message_id != c.message_id
    assert a.message_id.startswith("<") and a.message_id.endswith("@synthesized.hotline>")


GBK = ("From: =?gb2312?B?" + base64.b64encode("王建军".encode("gbk")).decode() + "?= "
       "<wangjj@pujiang-wuye.cn>\r\n"
       "To: support@hotline.local\r\n"
       "Subject: =?GB2312?B?" + base64.b64encode("热水器漏水 — 镕".encode("gbk")).decode()
       + "?=\r\n"
       "Message-ID: <20261201093000.5F2A@pujiang-wuye.cn>\r\n"
       "X-Mailer: Foxmail 7.2\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=\"gb2312\"\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + \
    "您好，热水器从昨天开始漏水，型号 镕-200（“镕”不在GB2312里）。\r\n".encode("gbk")


def test_gbk_mail_declared_gb2312_reads_right() -> None:
    # "镕" exists in GBK but not GB2312: a strict gb2312 decoder would fail on it
    m = parse_mail(GBK, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.sender_name == "王建军" and m.sender == "wangjj@pujiang-wuye.cn"
    assert m.subject == "热水器漏水 — 镕"
    assert "热水器从昨天开始漏水" in m.body and "镕-200" in m.body and "\ufffd" not in m.body


BIG5 = ("From: =?Big5?B?" + base64.b64encode("陳大文".encode("big5")).decode() + "?= "
        "<chan.taiman@example.com.tw>\r\n"
        "To: support@hotline.local\r\n"
        "Subject: =?Big5?Q?" + "".join(f"={b:02X}" for b in "冷氣機故障".encode("big5")) + "?=\r\n"
        "Message-ID: <big5.0001@example.com.tw>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=big5\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n").encode() + \
    base64.encodebytes("冷氣機不會製冷，請派師傅來看看。".encode("big5"))


def test_big5_mail() -> None:
    m = parse_mail(BIG5, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.sender_name == "陳大文" and m.subject == "冷氣機故障"
    assert m.body == "冷氣機不會製冷，請派師傅來看看。"


def test_lying_and_unknown_charsets_fall_back_and_never_crash() -> None:
    utf8 = "订单号 SO-1".encode()
    assert decode_text(utf8, "us-ascii") == "订单号 SO-1"        # declared ascii, really UTF-8
    assert decode_text("订单".encode("gbk"), "x-unknown-cs") == "订单"  # unknown → GB18030
    assert decode_text("订单".encode("gbk"), "utf-8") == "订单"   # lying UTF-8 → GB18030
    assert decode_text(b"\xff\xfe\xfa", "no-such") == "ÿþú"       # nothing fits → Latin-1
    assert decode_header_value("=?x-weird?B?5Lit5paH?=") == "中文"
    assert decode_header_value("=?utf-8?B?broken") == "=?utf-8?B?broken"
    raw = (b"From: a@b.cn\r\nSubject: " + "原始8位标题".encode("gbk") + b"\r\n"
           b"Content-Type: text/plain; charset=klingon\r\n\r\n" + "正文".encode("gbk"))
    m = parse_mail(raw, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.subject == "原始8位标题" and m.body == "正文"


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def attachment_mail(*parts: bytes) -> bytes:
    return (b"From: Zhang San <zhangsan@example.cn>\r\nTo: support@hotline.local\r\n"
            b"Subject: invoice\r\nMessage-ID: <att.1@example.cn>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"==b==\"\r\n\r\n"
            b"--==b==\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
            + b"".join(b"--==b==\r\n" + p + b"\r\n" for p in parts) + b"--==b==--\r\n")


def b64_part(filename_header: bytes, ctype: bytes, data: bytes) -> bytes:
    return (b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; " + filename_header + b"\r\n\r\n"
            + base64.encodebytes(data))


def test_base64_attachment_with_encoded_filename() -> None:
    rfc2047 = b'filename="=?GBK?B?' + base64.b64encode("发票.pdf".encode("gbk")) + b'?="'
    rfc2231 = b"filename*=utf-8''%E4%BF%9D%E4%BF%AE%E5%8D%A1.pdf"
    m = parse_mail(attachment_mail(b64_part(rfc2047, b"application/pdf", PDF),
                                   b64_part(rfc2231, b"application/octet-stream", PDF)),
                   max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.body == "see attached"
    assert [(a.filename, a.content_type, a.content) for a in m.attachments] == [
        ("发票.pdf", "application/pdf", PDF), ("保修卡.pdf", "application/pdf", PDF)]


def test_attachment_limits_size_type_and_count() -> None:
    big = b64_part(b'filename="big.pdf"', b"application/pdf", b"%PDF" + b"x" * 2000)
    exe = b64_part(b'filename="setup.exe"', b"application/x-msdownload", b"MZ\x90\x00")
    ok = [b64_part(f'filename="p{i}.pdf"'.encode(), b"application/pdf", PDF) for i in range(3)]
    m = parse_mail(attachment_mail(big, exe, *ok), max_attachment_bytes=1000,
                   allowed_types=TYPES, max_attachments=2)
    assert [a.filename for a in m.attachments] == ["p0.pdf", "p1.pdf"]
    assert m.dropped == ("big.pdf: 2004 bytes, over the 1000-byte limit",
                         "setup.exe: type application/x-msdownload is not allowed",
                         "p2.pdf: more than 2 attachments")


HTML = (b"From: \"Acme Purchasing\" <buyer@acme.example>\r\nTo: support@hotline.local\r\n"
        b"Subject: Broken unit\r\nMessage-ID: <html.1@acme.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><title>t</title><style>p{color:red}</style>"
        b"<script>alert('x');document.cookie</script></head>"
        b"<body onload=\"steal()\"><p>Hello,&nbsp;the unit <b>stopped</b> &amp; beeps.</p>"
        b"<div>Serial: SN-42<br>Order: SO-7</div><img src=x onerror=alert(1)>"
        b"<ul><li>one</li><li>two</li></ul>"
        b"<div class=gmail_quote>On Mon, Nov 30 wrote:<blockquote>old text</blockquote></div>"
        b"<script>evil()</script></body></html>")


def test_html_with_script_becomes_text_and_nothing_of_the_script_survives() -> None:
    m = parse_mail(HTML, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert "alert" not in m.body and "evil" not in m.body and "color:red" not in m.body
    assert "<" not in m.body and "steal" not in m.body
    assert m.body.startswith("Hello, the unit stopped & beeps.\nSerial: SN-42\nOrder: SO-7")
    assert "- one\n- two" in m.body and "> old text" in m.body
    assert m.reply_text == "Hello, the unit stopped & beeps.\nSerial: SN-42\nOrder: SO-7\n" \
                           "- one\n- two"


def test_plain_part_preferred_over_html() -> None:
    raw = (b"From: a@b.cn\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/alternative; boundary=alt\r\n\r\n"
           b"--alt\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
           b"--alt\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--alt--\r\n")
    assert parse_mail(raw, max_attachment_bytes=LIMIT, allowed_types=TYPES).body == "plain version"
    assert html_to_text("<p>a</p><script>x</script><p>b<br><br>c") == "a\nb\n\nc"


def test_quoted_history_is_trimmed_when_recognised() -> None:
    assert trim_quoted("Thanks, fixed.\n\nOn Tue, Dec 1, 2026 at 9:00 AM Hotline <s@h>\n"
                       "wrote:\n> old") == "Thanks, fixed."
    assert trim_quoted("好的，谢谢\n\n在 2026年12月1日 09:00，客服 <s@h> 写道：\n> 旧内容") \
        == "好的，谢谢"
    assert trim_quoted("收到\n\n------------------ 原始邮件 ------------------\n发件人: x") \
        == "收到"
    assert trim_quoted("OK\n\n________________________________\nFrom: Hotline\nSent: today\n"
                       "Subject: x") == "OK"
    assert trim_quoted("Yes\n发件人: 客服\n发送时间: 2026-12-01\n主题: x") == "Yes"
    assert trim_quoted("reply\n> quoted\n> more\n") == "reply"
    # nothing recognisable, or nothing would be left: kept whole
    assert trim_quoted("just text\nFrom: a sentence about From: lines") == \
        "just text\nFrom: a sentence about From: lines"
    assert trim_quoted("> all quoted") == "> all quoted"


OOF = (b"From: Chen Jing <chen.jing@bigcorp.example>\r\nTo: support@hotline.local\r\n"
       b"Subject: =?utf-8?B?6Ieq5Yqo5Zue5aSNOiBbVC0wMDAwNDJdIOaCqOeahOW3peWNlQ==?=\r\n"
       b"Thread-Topic: [T-000042]\r\nMessage-ID: <oof.77@bigcorp.example>\r\n"
       b"In-Reply-To: <hotline.T-000042.n-1@hotline.local>\r\n"
       b"Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n"
       b"X-MS-Exchange-Inbox-Rules-Loop: chen.jing@bigcorp.example\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
       b"I am out of the office until 8 December.\r\n")


def test_outlook_auto_reply_is_auto() -> None:
    m = parse_mail(OOF, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.is_auto and m.auto_reason == "Auto-Submitted: auto-replied"
    only_suppress = OOF.replace(b"Auto-Submitted: auto-replied\r\n", b"")
    m2 = parse_mail(only_suppress, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m2.is_auto and m2.auto_reason == "X-Auto-Response-Suppress: all"


def test_other_auto_markers() -> None:
    base = b"From: x@y.cn\r\nSubject: s\r\nMessage-ID: <a@y.cn>\r\n"
    body = b"\r\nbody\r\n"
    cases = {b"Auto-Submitted: auto-generated\r\n": "Auto-Submitted: auto-generated",
             b"Precedence: bulk\r\n": "Precedence: bulk",
             b"Precedence: junk\r\n": "Precedence: junk",
             b"X-Autoreply: yes\r\n": "X-Autoreply header",
             b"X-Autorespond: 1\r\n": "X-Autorespond header",
             b"Return-Path: <>\r\n": "empty Return-Path (a bounce or notice)"}
    for header, why in cases.items():
        m = parse_mail(base + header + body, max_attachment_bytes=LIMIT, allowed_types=TYPES)
        assert (m.is_auto, m.auto_reason) == (True, why), header
    human = parse_mail(base + b"Auto-Submitted: no\r\n" + body, max_attachment_bytes=LIMIT,
                       allowed_types=TYPES)
    assert not human.is_auto
    bounce = parse_mail(base + body, max_attachment_bytes=LIMIT, allowed_types=TYPES,
                        envelope_from="")
    assert bounce.is_auto and "null envelope sender" in str(bounce.auto_reason)
    daemon = parse_mail(base.replace(b"x@y.cn", b"MAILER-DAEMON@mx.y.cn") + body,
                        max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert daemon.is_auto and daemon.auto_reason == "sender mailer-daemon@mx.y.cn"


DSN = (b"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.cn>\r\n"
       b"To: support@hotline.local\r\nSubject: Undelivered Mail Returned to Sender\r\n"
       b"Message-ID: <dsn.9@mx.example.cn>\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
       b"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
       b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
       b"Reporting-MTA: dns; mx.example.cn\r\n\r\nFinal-Recipient: rfc822; nobody@x.cn\r\n"
       b"Action: failed\r\nStatus: 5.1.1\r\n\r\n"
       b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
       b"Message-ID: <hotline.T-000042.n-3@hotline.local>\r\nSubject: [T-000042]\r\n\r\n"
       b"--B--\r\n")


def test_dsn_bounce_is_auto() -> None:
    m = parse_mail(DSN, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.is_auto and m.auto_reason == "delivery report (multipart/report; delivery-status)"
    assert m.attachments == () and m.dropped == ()


def test_malformed_input_is_rejected_or_best_effort_never_raises() -> None:
    assert parse_mail(b"", max_attachment_bytes=LIMIT, allowed_types=TYPES).rejected == \
        "empty message"
    assert parse_mail(b"\r\n\r\njust a body", max_attachment_bytes=LIMIT,
                      allowed_types=TYPES).rejected == "no headers: not an email message"
    no_from = parse_mail(b"Subject: hi\r\n\r\nbody", max_attachment_bytes=LIMIT,
                         allowed_types=TYPES)
    assert no_from.rejected == "no usable From address"
    # unterminated multipart, bad base64, binary junk: best effort
    broken = (b"From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=Q\r\n\r\n"
              b"--Q\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              b"5Lit5paH!!!***\r\n--Q\r\nContent-Type: application/pdf\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n%%%%")
    m = parse_mail(broken, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.rejected is None and m.sender == "a@b.cn"
    for junk in (bytes(range(256)) * 20, b"From: \xff\xfe\r\n\r\n\x00\x01",
                 b"Content-Type: multipart/mixed\r\nFrom: a@b.c\r\n\r\nno boundary"):
        parse_mail(junk, max_attachment_bytes=LIMIT, allowed_types=TYPES)


def test_title_from_subject() -> None:
    assert title_from_subject("Re: RE: Fwd: 洗衣机不转") == "洗衣机不转"
    assert title_from_subject("回复：转发: 热水器漏水") == "热水器漏水"
    assert title_from_subject("  Re: [T-000042] 还是不行 ") == "还是不行"
    assert title_from_subject("", "\n\nfirst line\nsecond") == "first line"
    assert title_from_subject("") == "(no subject)"
    assert len(title_from_subject("x" * 500)) == 200
    assert title_from_subject("Regarding the fridge") == "Regarding the fridge"


def _from(header: bytes) -> bytes:
    return (b"From: " + header + b"\r\nTo: support@hotline.local\r\nSubject: hi\r\n"
            b"Message-ID: <spoof@evil.example>\r\nContent-Type: text/plain\r\n\r\nhello\r\n")


def _b64(text: str) -> bytes:
    return b"=?utf-8?b?" + base64.b64encode(text.encode()) + b"?="


def test_an_encoded_display_name_cannot_supply_the_address() -> None:
    m = parse_mail(_from(_b64("victim@example.com") + b" <attacker@evil.example>"),
                   max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.sender == "attacker@evil.example" and m.sender_name == "victim@example.com"
    alone = parse_mail(_from(_b64("victim@example.com")), max_attachment_bytes=LIMIT,
                       allowed_types=TYPES)
    assert alone.sender == "" and alone.rejected == "no usable From address"


def test_an_encoded_display_name_cannot_inject_headers_or_addresses() -> None:
    m = parse_mail(_from(_b64("Victim\r\nBcc: x@evil.example\r\n\u202e") +
                         b" <attacker@evil.example>"),
                   max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.sender == "attacker@evil.example"
    assert m.sender_name == "Victim Bcc: x@evil.example"
    assert not any(ch in m.sender_name for ch in "\r\n\u202e")
    m2 = parse_mail(_from(_b64("Victim\r\nBcc: x@evil.example") + b" <attacker@evil.example>, "
                          + _b64("x") + b" <other@evil.example>"),
                    max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m2.sender == "attacker@evil.example"


def test_bidi_and_format_characters_are_dropped_from_filenames() -> None:
    name = "照片\u202egnp.exe\u200b"
    raw = (b"From: a@example.cn\r\nMessage-ID: <bidi@example.cn>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nsee file\r\n--b\r\n"
           b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
           b'Content-Disposition: attachment; filename="' + _b64(name) + b'"\r\n\r\n'
           + base64.b64encode(b"\x89PNG....") + b"\r\n--b--\r\n")
    m = parse_mail(raw, max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert [a.filename for a in m.attachments] == ["照片gnp.exe"]


def test_message_id_domain_is_lower_cased_local_part_kept() -> None:
    m = parse_mail(_from(b"a@example.cn").replace(b"<spoof@evil.example>", b"<NC-1@EXAMPLE.COM>"),
                   max_attachment_bytes=LIMIT, allowed_types=TYPES)
    assert m.message_id == "<NC-1@example.com>"
