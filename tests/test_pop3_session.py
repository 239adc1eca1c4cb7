"""The POP3 session core (services/pop3/session.py) over a real Maildir, no sockets."""

import pytest

from services.mail.maildrop import Maildrop
from services.pop3.session import CLOSE, POP3Session, password_checker

M1 = b"From: alice@crepes.fr\r\nSubject: one\r\n\r\nDo you like ketchup?\r\n.hidden dot\r\nline3\r\n"
M2 = b"Subject: two\r\n\r\nHow about pickles?\r\n"


@pytest.fixture
def drop(tmp_path):
    d = Maildrop(tmp_path, {"bob": "hungry"})
    d.deliver("bob", M1, "q1.0")
    d.deliver("bob", M2, "q2.0")
    return d


def session(drop):
    return POP3Session(password_checker({"bob": "hungry"}), drop.open_mailbox)


def say(s, *lines):
    out = []
    for line in lines:
        out += s.receive(line.encode() + b"\r\n")
    return b"".join(e for e in out if isinstance(e, bytes))


def test_the_course_dialogue(drop):
    s = session(drop)
    assert s.greeting() == b"+OK POP3 server ready\r\n"
    assert say(s, "user bob") == b"+OK\r\n"
    assert say(s, "pass hungry") == b"+OK user successfully logged on\r\n"
    assert say(s, "list") == f"+OK\r\n1 {len(M1)}\r\n2 {len(M2)}\r\n.\r\n".encode()
    assert say(s, "retr 1") == f"+OK {len(M1)} octets\r\n".encode() + M1.replace(b"\r\n.h", b"\r\n..h") + b".\r\n"
    assert say(s, "dele 1") == b"+OK message 1 deleted\r\n"
    say(s, "retr 2", "dele 2")
    assert s.receive(b"quit\r\n") == [b"+OK POP3 server signing off\r\n", CLOSE]
    assert drop.open_mailbox("bob").messages == []


def test_stat_uidl_top_rset(drop):
    s = session(drop)
    say(s, "USER bob", "PASS hungry")
    assert say(s, "STAT") == f"+OK 2 {len(M1) + len(M2)}\r\n".encode()
    assert say(s, "UIDL 2").startswith(b"+OK 2 q2.0.")
    assert say(s, "TOP 1 1") == b"+OK\r\nFrom: alice@crepes.fr\r\nSubject: one\r\n\r\nDo you like ketchup?\r\n.\r\n"
    say(s, "DELE 1")
    assert say(s, "STAT") == f"+OK 1 {len(M2)}\r\n".encode()
    assert say(s, "RETR 1") == b"-ERR no such message\r\n"
    say(s, "RSET")
    assert say(s, "STAT") == f"+OK 2 {len(M1) + len(M2)}\r\n".encode()


def test_a_dropped_session_deletes_nothing_and_releases_the_lock(drop):
    s = session(drop)
    say(s, "USER bob", "PASS hungry", "DELE 1", "DELE 2")
    other = session(drop)
    assert say(other, "USER bob", "PASS hungry") == b"+OK\r\n-ERR [IN-USE] mailbox locked by another session\r\n"
    s.abort()
    box = drop.open_mailbox("bob")
    assert len(box.messages) == 2
    box.close()


def test_wrong_password_and_commands_before_login(drop):
    s = session(drop)
    assert say(s, "STAT") == b"-ERR STAT only after login (USER and PASS)\r\n"
    assert say(s, "USER bob", "PASS wrong") == b"+OK\r\n-ERR [AUTH] invalid user name or password\r\n"
    assert say(s, "PASS hungry") == b"-ERR USER first\r\n"


def test_capa_and_long_lines(drop):
    s = session(drop)
    assert say(s, "CAPA").split(b"\r\n")[1:4] == [b"USER", b"TOP", b"UIDL"]
    assert s.receive(b"A" * 300)[0].startswith(b"-ERR line too long")
    assert say(s, "rest of the long line", "NOOP") == b"+OK\r\n"


def test_a_message_delivered_between_sessions_is_there_at_the_next_login(drop):
    s = session(drop)
    say(s, "USER bob", "PASS hungry")
    late = b"Subject: three\r\n\r\nlate\r\n"
    drop.deliver("bob", late, "q3.0")
    assert say(s, "STAT").startswith(b"+OK 2 ")  # the list is fixed at login (RFC 1939)
    say(s, "QUIT")
    s = session(drop)
    assert say(s, "USER bob", "PASS hungry", "STAT").endswith(b"+OK 3 " + str(len(M1) + len(M2) + len(late)).encode() + b"\r\n")


def test_delivering_the_same_queue_entry_twice_keeps_one_copy(drop):
    assert drop.deliver("bob", M1, "q1.0") is False
    box = drop.open_mailbox("bob")
    assert len(box.messages) == 2


def test_non_ascii_digits_are_an_err_not_a_crash(drop):
    s = session(drop)
    say(s, "user bob", "pass hungry")
    for line in ("retr \u00b2", "dele \u0663", "top 1 \u00b2", "list \u00b2"):
        assert say(s, line).startswith(b"-ERR"), line
    assert say(s, "stat").startswith(b"+OK 2 ")  # and nothing was touched
