"""The SMTP session core (services/smtp/session.py), bytes in and replies out, no sockets."""

import ipaddress

import pytest

from services.smtp.client import ReplyParser, dot_stuff
from services.smtp.session import CLOSE, Message, Policy, SMTPSession, parse_path

POLICY = Policy(hostname="hamburger.edu", local_domains={"hamburger.edu"}, users={"bob"},
                relay_networks=[ipaddress.ip_network("10.0.1.0/24")], max_size=2000)


def session(client: str = "10.0.5.46") -> SMTPSession:
    return SMTPSession(POLICY, client, clock=lambda: 0.0, new_id=lambda: "Q1")


def say(s: SMTPSession, *lines: str) -> bytes:
    out = b""
    for line in lines:
        for ev in s.receive(line.encode() + b"\r\n"):
            out += ev if isinstance(ev, bytes) else b""
    return out


def codes(out: bytes) -> list[int]:
    return [int(line[:3]) for line in out.decode().splitlines() if line[3:4] == " "]


def test_the_course_dialogue_reply_by_reply():
    s = session()
    assert s.greeting() == b"220 hamburger.edu ESMTP wirelab\r\n"
    assert say(s, "HELO crepes.fr") == b"250 Hello crepes.fr, pleased to meet you\r\n"
    assert say(s, "MAIL FROM: <alice@crepes.fr>") == b"250 alice@crepes.fr... Sender ok\r\n"
    assert say(s, "RCPT TO: <bob@hamburger.edu>") == b"250 bob@hamburger.edu ... Recipient ok\r\n"
    assert say(s, "DATA") == b'354 Enter mail, end with "." on a line by itself\r\n'
    events = s.receive(b"Do you like ketchup?\r\nHow about pickles?\r\n.\r\n")
    [msg] = events
    assert isinstance(msg, Message)
    assert msg.data.endswith(b"\r\n\r\n") is False
    assert msg.data.split(b"\r\n", 4)[4] == b"Do you like ketchup?\r\nHow about pickles?\r\n"
    assert msg.envelope.mail_from == "alice@crepes.fr" and msg.envelope.rcpt_to == ["bob@hamburger.edu"]
    assert s.stored("Q1") == [b"250 Message accepted for delivery (queued as Q1)\r\n"]
    assert s.receive(b"QUIT\r\n") == [b"221 hamburger.edu closing connection\r\n", CLOSE]


def test_received_header_names_both_hops_and_the_protocol():
    s = session()
    say(s, "EHLO crepes.fr", "MAIL FROM:<alice@crepes.fr>", "RCPT TO:<bob@hamburger.edu>", "DATA")
    [msg] = s.receive(b"x\r\n.\r\n")
    assert msg.data.startswith(b"Received: from crepes.fr ([10.0.5.46])\r\n\tby hamburger.edu (wirelab) "
                               b"with ESMTP id Q1\r\n\tfor <bob@hamburger.edu>;\r\n\tThu, 01 Jan 1970")


def test_ehlo_offers_the_extensions_and_enhanced_codes_follow():
    s = session()
    out = say(s, "EHLO crepes.fr").decode()
    for ext in ("PIPELINING", "SIZE 2000", "8BITMIME", "ENHANCEDSTATUSCODES"):
        assert f"250-{ext}\r\n" in out
    assert say(s, "MAIL FROM:<alice@crepes.fr>") == b"250 2.1.0 alice@crepes.fr... Sender ok\r\n"


def test_dot_stuffing_is_undone_and_a_first_line_dot_ends_an_empty_message():
    s = session()
    say(s, "HELO a", "MAIL FROM:<a@b.c>", "RCPT TO:<bob@hamburger.edu>", "DATA")
    [msg] = s.receive(b"..leading dot\r\n...\r\nend\r\n.\r\n")
    assert msg.data.endswith(b"\r\n.leading dot\r\n..\r\nend\r\n")
    s.stored("Q1")
    say(s, "MAIL FROM:<a@b.c>", "RCPT TO:<bob@hamburger.edu>", "DATA")
    [msg] = s.receive(b".\r\n")
    assert msg.data.endswith(b";\r\n\tThu, 01 Jan 1970 00:00:00 GMT\r\n")


def test_pipelined_commands_wait_until_the_message_is_stored():
    s = session()
    out = s.receive(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<bob@hamburger.edu>\r\nDATA\r\n")
    assert codes(b"".join(out)) == [250, 250, 250, 354]
    events = s.receive(b"hi\r\n.\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n")
    assert len(events) == 1 and isinstance(events[0], Message)  # nothing answered before the 250
    after = s.stored("Q1")
    assert codes(b"".join(e for e in after if isinstance(e, bytes))) == [250, 250, 221]


@pytest.mark.parametrize("line,code", [
    ("MAIL FROM:<a@b.c>", 503),                     # before HELO
    ("FOO bar", 500),
    ("RCPT TO:<bob@hamburger.edu>", 503),
    ("DATA", 503),
])
def test_bad_sequence_and_unknown_commands(line, code):
    s = session()
    if code != 503 or not line.startswith("MAIL"):
        say(s, "HELO a")
    assert codes(say(s, line)) == [code]


def test_relay_policy_own_domain_from_anyone_other_domains_only_from_clients():
    s = session("192.0.2.9")
    say(s, "HELO x", "MAIL FROM:<a@b.c>")
    assert codes(say(s, "RCPT TO:<bob@hamburger.edu>")) == [250]
    assert say(s, "RCPT TO:<carol@elsewhere.org>") == b"554 <carol@elsewhere.org>: Relay access denied\r\n"
    assert codes(say(s, "RCPT TO:<nobody@hamburger.edu>")) == [550]
    c = session("10.0.1.11")
    say(c, "HELO x", "MAIL FROM:<a@b.c>")
    assert codes(say(c, "RCPT TO:<carol@elsewhere.org>")) == [250]


def test_limits_command_line_recipients_size_and_text_line():
    s = session("10.0.1.11")
    assert codes(b"".join(s.receive(b"HELO " + b"x" * 600 + b"\r\n"))) == [500]
    say(s, "HELO a", "MAIL FROM:<a@b.c>")
    replies = codes(say(s, *[f"RCPT TO:<u{i}@far.example>" for i in range(101)]))
    assert replies == [250] * 100 + [452]
    s = session()
    say(s, "EHLO a")
    assert say(s, "MAIL FROM:<a@b.c> SIZE=5000").startswith(b"552 5.3.4")
    say(s, "MAIL FROM:<a@b.c> SIZE=100", "RCPT TO:<bob@hamburger.edu>", "DATA")
    assert b"".join(s.receive(b"y" * 3000 + b"\r\n.\r\n")).startswith(b"552 5.3.4")
    say(s, "MAIL FROM:<a@b.c>", "RCPT TO:<bob@hamburger.edu>", "DATA")
    assert b"".join(s.receive(b"z" * 999 + b"\r\n.\r\n")).startswith(b"554 5.6.0")


def test_bare_lf_is_refused_in_commands_and_in_content():
    s = session()
    assert codes(b"".join(s.receive(b"HELO a\n"))) == [500]
    say(s, "HELO a", "MAIL FROM:<a@b.c>", "RCPT TO:<bob@hamburger.edu>", "DATA")
    # a bare-LF "end" is not an end: only CRLF.CRLF ends the message, which is then refused
    assert s.receive(b"one\n.\nMAIL FROM:<evil@x.y>\r\n") == []
    assert b"".join(s.receive(b".\r\n")).startswith(b"554")


def test_vrfy_252_rset_noop_and_null_sender():
    s = session()
    say(s, "HELO a")
    assert codes(say(s, "VRFY bob")) == [252]
    assert codes(say(s, "MAIL FROM:<>", "RSET", "NOOP", "MAIL FROM:<>")) == [250, 250, 250, 250]


def test_too_many_errors_close_with_421():
    s = session()
    out = []
    for _ in range(25):
        out += s.receive(b"NONSENSE\r\n")
    assert out[-1] is CLOSE and out[-2].startswith(b"421")


def test_timeout_is_421():
    assert session().timeout()[0].startswith(b"421")


@pytest.mark.parametrize("path,ok", [("<bob@hamburger.edu>", True), ("<@a,@b:bob@c.d>", True),
                                     ("<bob>", False), ("bob@c.d", False), ("<" + "x" * 65 + "@c.d>", False)])
def test_parse_path(path, ok):
    assert (parse_path(path) is not None) == ok


def test_client_side_dot_stuffing_and_multiline_replies():
    assert dot_stuff(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    p = ReplyParser()
    assert p.feed(b"250-one\r\n250-tw") == []
    [r] = p.feed(b"o\r\n250 three\r\n")
    assert r.code == 250 and r.lines == ("one", "two", "three")


def test_a_size_in_non_ascii_digits_is_a_500_not_a_crash():
    s = session()
    say(s, "EHLO crepes.fr")
    assert codes(say(s, "MAIL FROM:<alice@crepes.fr> SIZE=\u00b2")) == [500]  # (not ASCII: refused whole)
    assert codes(say(s, "MAIL FROM:<alice@crepes.fr>")) == [250]


def test_reply_parser_refuses_a_code_in_non_ascii_digits():
    with pytest.raises(Exception, match="malformed reply line"):
        ReplyParser().feed("\u00b2\u00b2\u00b2 hi\r\n".encode())
