"""Fuzzing both command parsers (SMTP and POP3 sessions) with hypothesis: random and mutated command lines,
huge lines, binary. No exception, every reply well formed, buffers bounded."""

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mail.maildrop import Maildrop
from services.pop3.session import CLOSE as POP_CLOSE
from services.pop3.session import POP3Session, password_checker
from services.smtp.session import CLOSE, Message, Policy, SMTPSession

POLICY = Policy(hostname="h.test", local_domains={"h.test"}, users={"bob"},
                relay_networks=[ipaddress.ip_network("127.0.0.0/8")], max_size=4096)
SMTP_WORDS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "VRFY", "QUIT", "<bob@h.test>",
              "<>", " SIZE=", "BODY=8BITMIME", ".", "\r\n", "\n", "\r", "..", "<", ">", "@", "x" * 600]
POP_WORDS = ["USER bob", "PASS hungry", "STAT", "LIST", "RETR 1", "DELE 1", "TOP 1 0", "UIDL", "RSET", "NOOP",
             "CAPA", "QUIT", " ", "\r\n", "\n", "0", "-1", "99999999999999999999", "x" * 300]


def chunks(words):
    return st.lists(st.one_of(st.sampled_from(words).map(str.encode), st.binary(max_size=300)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(chunks(SMTP_WORDS))
def test_smtp_session_survives_anything(parts):
    s = SMTPSession(POLICY, "127.0.0.1", new_id=lambda: "Q")
    for part in parts:
        for ev in s.receive(part):
            if isinstance(ev, Message):
                assert len(ev.data) <= POLICY.max_size + 500
                s.stored("Q")
            elif ev is not CLOSE:
                assert ev[:3].isdigit() and ev.endswith(b"\r\n")
        assert len(s._buf) <= 4096 and len(s._data) <= POLICY.max_size + 2048


@settings(max_examples=200, deadline=None)
@given(chunks(POP_WORDS))
def test_pop3_session_survives_anything(tmp_path_factory, parts):
    root = tmp_path_factory.mktemp("m")
    drop = Maildrop(root, {"bob": "hungry"})
    drop.deliver("bob", b"Subject: x\r\n\r\n.body\r\n", "q.0")
    s = POP3Session(password_checker({"bob": "hungry"}), drop.open_mailbox)
    for part in parts:
        for ev in s.receive(part):
            assert ev is POP_CLOSE or ev.startswith((b"+OK", b"-ERR"))
        assert len(s._buf) <= 300
    s.abort()
