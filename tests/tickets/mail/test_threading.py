from tickets.mail.threading import message_id, referenced_ticket, subject_tag, thread_root

D = "hotline.example.cn"


def test_ids_round_trip_through_reply_headers() -> None:
    mid = message_id("T-000123", "n:42/email", D)
    assert mid == "<hotline.T-000123.n-42-email@hotline.example.cn>"
    assert referenced_ticket(D, in_reply_to=mid, references=None, subject=None) == "T-000123"
    assert referenced_ticket(D, in_reply_to=None, references=f"<x@y> {thread_root('T-000007', D)}",
                             subject=None) == "T-000007"


def test_in_reply_to_beats_references_and_newest_reference_wins() -> None:
    refs = f"{thread_root('T-000001', D)} {thread_root('T-000002', D)}"
    assert referenced_ticket(D, in_reply_to=None, references=refs, subject=None) == "T-000002"
    assert referenced_ticket(D, in_reply_to=thread_root("T-000009", D), references=refs,
                             subject=None) == "T-000009"


def test_foreign_domains_are_ignored_subject_tag_is_the_fallback() -> None:
    other = "<hotline.T-000123@evil.example>"
    assert referenced_ticket(D, in_reply_to=other, references=other, subject="hi") is None
    subject = f"Re: 洗衣机不转 {subject_tag('T-000456')}"
    assert referenced_ticket(D, in_reply_to=other, references=None,
                             subject=subject) == "T-000456"
    assert referenced_ticket(D.upper(), in_reply_to=thread_root("t-000005", D), references=None,
                             subject=None) == "T-000005"


def test_no_reference_is_a_new_conversation() -> None:
    assert referenced_ticket(D, in_reply_to=None, references=None, subject="订单 12345") is None
