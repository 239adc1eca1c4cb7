"""The real POP3 server (`python -m services.pop3 serve`) on loopback, reading what the real SMTP server
delivered, with standard clients: Python's poplib, curl pop3://, mpop and fetchmail."""

from __future__ import annotations

import poplib
import shutil
import smtplib
import socket
import subprocess
import sys

import pytest
from test_smtp_interop import NET, MailHost, wait_listening

POP = NET + "110"
ALICE_SENT = b"From: alice@crepes.fr\r\nTo: bob@hamburger.edu\r\nSubject: lunch\r\n\r\n.Do you like ketchup?\r\n"


@pytest.fixture
def servers(tmp_path):
    mta = MailHost(tmp_path, NET + "2", "hamburger.test").start()
    log = tmp_path / "pop3.log"
    proc = subprocess.Popen([sys.executable, "-m", "services.pop3", "serve", "--accounts", str(tmp_path / "accounts"),
                             "--mail-dir", str(tmp_path / "mail"), "--listen", POP, "--port", "110"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_listening(POP, 110, proc, log)
    with smtplib.SMTP(mta.addr, 25) as s:
        for i in range(2):
            s.sendmail("alice@crepes.fr", ["bob@hamburger.test"], ALICE_SENT.replace(b"lunch", f"lunch {i}".encode()))
    mta.wait_mail("bob", 2)
    yield mta
    proc.terminate()
    proc.wait(timeout=10)
    mta.stop()


def test_poplib_reads_byte_for_byte_what_smtp_delivered_and_update_only_on_quit(servers):
    box = poplib.POP3(POP, 110)
    assert box.user("bob").startswith(b"+OK") and box.pass_("hungry").startswith(b"+OK")
    count, size = box.stat()
    assert count == 2 and size == sum(len(m) for m in servers.mailbox("bob"))
    _, lines, octets = box.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == servers.mailbox("bob")[0]
    assert (b"\r\n".join(lines) + b"\r\n").endswith(ALICE_SENT.replace(b"lunch", b"lunch 0"))
    assert len(box.uidl()[1]) == 2 and box.top(2, 0)[1][-1] == b""
    box.dele(1)
    assert len(servers.mailbox("bob")) == 2  # a mark only, until QUIT
    with pytest.raises(poplib.error_proto, match="IN-USE"):
        other = poplib.POP3(POP, 110)
        other.user("bob")
        other.pass_("hungry")
    box.quit()
    assert len(servers.mailbox("bob")) == 1


def test_a_connection_dropped_without_quit_deletes_nothing(servers):
    s = socket.create_connection((POP, 110))
    s.recv(100)
    s.sendall(b"USER bob\r\nPASS hungry\r\nDELE 1\r\nDELE 2\r\n")
    got = b""
    while got.count(b"\r\n") < 4:
        got += s.recv(1000)
    assert got.count(b"+OK") == 4
    s.close()
    box = poplib.POP3(POP, 110)  # also shows the lock was released with the connection
    box.user("bob")
    box.pass_("hungry")
    assert box.stat()[0] == 2
    box.quit()


def test_curl_pop3_lists_and_retrieves(servers):
    out = subprocess.run(["curl", "-sS", f"pop3://{POP}/", "-u", "bob:hungry"], capture_output=True, timeout=30)
    assert out.stdout.decode().splitlines() == [f"{i + 1} {len(m)}" for i, m in enumerate(servers.mailbox("bob"))]
    out = subprocess.run(["curl", "-sS", f"pop3://{POP}/2", "-u", "bob:hungry"], capture_output=True, timeout=30)
    assert out.stdout == servers.mailbox("bob")[1]


@pytest.mark.skipif(shutil.which("mpop") is None, reason="needs mpop")
def test_mpop_downloads_and_deletes(servers, tmp_path):
    deliver = tmp_path / "got"
    deliver.mkdir()
    for sub in ("new", "cur", "tmp"):
        (deliver / sub).mkdir()
    out = subprocess.run(["mpop", f"--host={POP}", "--port=110", "--tls=off", "--auth=user", "--user=bob",
                          "--passwordeval=echo hungry", f"--delivery=maildir,{deliver}", "--keep=off",
                          "--uidls-file=" + str(tmp_path / "uidls"), "--received-header=off"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    got = sorted(p.read_bytes() for p in (deliver / "new").iterdir())
    assert [g.split(b"Subject: ")[1][:7] for g in got] == [b"lunch 0", b"lunch 1"]
    assert servers.mailbox("bob") == []


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="needs fetchmail")
def test_fetchmail_keeps_and_counts(servers, tmp_path):
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"poll {POP} protocol pop3 port 110 user bob password hungry sslproto '' keep mda \"cat >> {tmp_path}/out\"\n")
    rc.chmod(0o600)
    out = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "-v", "--pidfile", str(tmp_path / "pid")],
                         capture_output=True, text=True, timeout=60, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 messages for bob" in out.stdout + out.stderr
    assert (tmp_path / "out").read_bytes().count(b"Subject: lunch") == 2
    assert len(servers.mailbox("bob")) == 2  # keep
