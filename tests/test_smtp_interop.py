"""The real mail server (`python -m services.smtp serve`) on loopback addresses, driven by standard clients
(swaks, smtplib, curl, Postfix's smtp-source), relaying through DNS MX records to a second one, and the
project's user agent against a standard server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

NET = "127.0.25."
DNS = NET + "53"
ZONE = """$ORIGIN {domain}.
$TTL 60
@ IN SOA dns.{domain}. hostmaster.{domain}. ( 1 3600 900 604800 60 )
@ IN NS dns.{domain}.
{mx}
dns IN A {dns}
"""


def wait_listening(addr: str, port: int, proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    """Ready when the server's greeting arrives (observed, never slept for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {addr}:{port} exited: {log.read_text()[-800:]}")
        try:
            with socket.create_connection((addr, port), timeout=1) as s:
                if s.recv(100)[:1] in (b"2", b"+"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no greeting from {addr}:{port}: {log.read_text()[-800:]}")


class MailHost:
    """One mail server process with its own queue, mailboxes and accounts under a folder."""

    def __init__(self, root: Path, addr: str, domain: str, *extra: str, port: int = 25,
                 accounts: str = "bob:hungry\nalice:crepe\n", relay_from: str = "127.0.0.1/32"):
        self.root, self.addr, self.domain, self.port, self.extra = root, addr, domain, port, extra
        self.relay_from = relay_from
        root.mkdir(parents=True, exist_ok=True)
        (root / "accounts").write_text(accounts)
        self.proc: subprocess.Popen | None = None
        self.log = root / "smtp.log"

    def start(self) -> MailHost:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.smtp", "serve", "--hostname", self.domain, "--domain", self.domain,
             "--accounts", str(self.root / "accounts"), "--mail-dir", str(self.root / "mail"), "--queue-dir",
             str(self.root / "queue"), "--listen", self.addr, "--port", str(self.port), "--dns", DNS,
             "--relay-from", self.relay_from, *self.extra],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_listening(self.addr, self.port, self.proc, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def mailbox(self, user: str) -> list[bytes]:
        box = self.root / "mail" / user
        files = sorted((p for sub in ("new", "cur") if (box / sub).exists() for p in (box / sub).iterdir()),
                       key=lambda p: p.stat().st_mtime)
        return [p.read_bytes() for p in files]

    def wait_mail(self, user: str, count: int, timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.mailbox(user)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{user} has {len(self.mailbox(user))} message(s), expected {count}; "
                             f"log: {self.log.read_text()[-1500:]}")


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    """An authoritative server for the test domains: far.test has two MXs, the preferred one dead."""
    d = tmp_path_factory.mktemp("dns")
    zones = {"hamburger.test": f"@ IN MX 10 mail\nmail IN A {NET}2",
             "crepes.test": f"@ IN MX 10 mail\nmail IN A {NET}3",
             "far.test": f"@ IN MX 10 dead\n@ IN MX 20 mail\ndead IN A {NET}9\nmail IN A {NET}2"}
    argv = [sys.executable, "-m", "services.dns", "auth", "--listen", DNS]
    for name, mx in zones.items():
        (d / f"{name}.zone").write_text(ZONE.format(domain=name, mx=mx, dns=DNS))
        argv += ["--zone", str(d / f"{name}.zone")]
    proc = subprocess.Popen(argv, stdout=(d / "dns.log").open("w"), stderr=subprocess.STDOUT)
    from services.dns.probe import wait_until_answering
    wait_until_answering(DNS, alive=lambda: proc.poll() is None)
    yield DNS
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def bob(tmp_path, dns):
    host = MailHost(tmp_path / "bob", NET + "2", "hamburger.test", relay_from=NET + "250/32").start()  # relays for nobody
    yield host
    host.stop()


@pytest.fixture
def alice(tmp_path, dns):
    host = MailHost(tmp_path / "alice", NET + "3", "crepes.test", "--retry-min", "0.3", "--retry-max", "1").start()
    yield host
    host.stop()


def test_swaks_delivers_to_a_local_mailbox_with_a_received_line(bob):
    out = subprocess.run(["swaks", "--server", f"{bob.addr}:25", "--from", "alice@crepes.test", "--to",
                          "bob@hamburger.test", "--body", "Do you like ketchup?", "--header", "Subject: lunch"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout
    assert "<-  250 2.0.0 Message accepted for delivery" in out.stdout
    [msg] = bob.wait_mail("bob", 1)
    assert msg.startswith(b"Received: from ")
    assert b"by hamburger.test (wirelab) with ESMTP id " in msg and b"Do you like ketchup?" in msg


def test_smtplib_pipelined_transaction_and_refusals(bob):
    with smtplib.SMTP(bob.addr, 25, source_address=(NET + "100", 0)) as s:
        code, _ = s.ehlo("crepes.test")
        assert code == 250 and s.has_extn("pipelining") and s.has_extn("size")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("alice@crepes.test", ["carol@elsewhere.test"], b"Subject: x\r\n\r\nx\r\n")
        assert e.value.recipients["carol@elsewhere.test"][0] == 554  # no open relay from 127.0.25.100
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("alice@crepes.test", ["nobody@hamburger.test"], b"Subject: x\r\n\r\nx\r\n")
        assert e.value.recipients["nobody@hamburger.test"][0] == 550
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("alice@crepes.test", ["bob@hamburger.test"], b"x" * 11_000_000)
        assert e.value.smtp_code == 552
        assert s.sendmail("alice@crepes.test", ["bob@hamburger.test"], b"Subject: ok\r\n\r\n.dot\r\n") == {}
    assert bob.wait_mail("bob", 1)[0].endswith(b"Subject: ok\r\n\r\n.dot\r\n")


def test_curl_smtp_upload(bob, tmp_path):
    mail = tmp_path / "m.txt"
    mail.write_bytes(b"From: alice@crepes.test\r\nSubject: by curl\r\n\r\nHow about pickles?\r\n")
    out = subprocess.run(["curl", "-sS", f"smtp://{bob.addr}:25", "--mail-from", "alice@crepes.test",
                          "--mail-rcpt", "bob@hamburger.test", "--upload-file", str(mail)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert bob.wait_mail("bob", 1)[0].endswith(mail.read_bytes())


@pytest.mark.skipif(shutil.which("smtp-source") is None, reason="needs smtp-source (postfix)")
def test_smtp_source_stream_arrives_whole(bob):
    out = subprocess.run(["smtp-source", "-s", "5", "-m", "50", "-l", "1024", "-f", "alice@crepes.test", "-t",
                          "bob@hamburger.test", f"{bob.addr}:25"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(bob.wait_mail("bob", 50)) == 50


def test_relay_through_the_mx_adds_a_received_per_hop(alice, bob):
    data = b"From: alice@crepes.test\r\nTo: bob@hamburger.test\r\nSubject: far\r\n\r\nover two hops\r\n"
    with smtplib.SMTP(alice.addr, 25, source_address=("127.0.0.1", 0)) as s:
        s.sendmail("alice@crepes.test", ["bob@hamburger.test"], data)
    [msg] = bob.wait_mail("bob", 1)
    assert msg.endswith(data)
    assert msg.count(b"Received: from ") == 2
    assert b"by hamburger.test (wirelab)" in msg.split(b"\r\n")[1] and b"by crepes.test (wirelab)" in msg


def test_mx_fallback_and_bounce_as_a_delivery_status_notification(tmp_path, dns, bob):
    alice = MailHost(tmp_path / "a2", NET + "3", "crepes.test", "--retry-min", "0.2", "--retry-max", "0.5",
                     "--give-up", "2").start()
    try:
        with smtplib.SMTP(alice.addr, 25, source_address=("127.0.0.1", 0)) as s:
            s.sendmail("alice@crepes.test", ["bob@far.test"], b"Subject: to far\r\n\r\nhello\r\n")
        [report] = alice.wait_mail("alice", 1, timeout=20)
    finally:
        alice.stop()
    log = alice.log.read_text()
    assert f"relaying to {NET}9 (MX 10 dead.far.test)" in log and f"relaying to {NET}2 (MX 20 mail.far.test)" in log
    dsn = email.message_from_bytes(report, policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report" and dsn["To"] == "alice@crepes.test"
    parts = [p.get_content_type() for p in dsn.iter_parts()]
    assert parts == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = report.split(b"Final-Recipient: rfc822; bob@far.test\r\nAction: failed\r\nStatus: 5.")
    assert len(status) == 2  # bob's server refused to relay for far.test: a permanent failure, bounced


def test_queue_retries_while_the_next_hop_is_down_then_delivers_once(alice, bob):
    bob.stop()
    with smtplib.SMTP(alice.addr, 25, source_address=("127.0.0.1", 0)) as s:
        for i in range(3):
            s.sendmail("alice@crepes.test", ["bob@hamburger.test"], f"Subject: q{i}\r\n\r\nqueued\r\n".encode())
    deadline = time.monotonic() + 10
    while alice.log.read_text().count("deferred for bob@hamburger.test") < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alice.log.read_text().count("deferred for bob@hamburger.test") >= 6  # retried, not dropped
    bob.start()
    got = bob.wait_mail("bob", 3)
    time.sleep(1.5)  # a further retry round would show a duplicate
    got = bob.mailbox("bob")
    assert sorted(m.split(b"Subject: ")[1][:2] for m in got) == [b"q0", b"q1", b"q2"]


def test_kill_9_during_a_stream_loses_no_acknowledged_message(bob):
    """Messages go one by one; the server is killed at a random moment; every message that got its 250 is
    in the mailbox exactly once after a restart (one whose 250 never arrived may be there or not)."""
    acked, sent = [], 0
    killer_after = 0.4
    start = time.monotonic()
    try:
        with smtplib.SMTP(bob.addr, 25) as s:
            while sent < 2000 and time.monotonic() - start < 10:
                msg = f"Message-ID: <m{sent}@crepes.test>\r\nSubject: {sent}\r\n\r\nbody {sent}\r\n".encode()
                if time.monotonic() - start > killer_after and bob.proc.poll() is None:
                    os.kill(bob.proc.pid, signal.SIGKILL)
                s.sendmail("alice@crepes.test", ["bob@hamburger.test"], msg)
                acked.append(sent)
                sent += 1
    except (smtplib.SMTPException, OSError):
        pass
    bob.proc.wait(timeout=10)
    assert len(acked) > 10
    bob.start()  # picks up its queue
    got = bob.wait_mail("bob", len(acked))
    ids = [m.split(b"Message-ID: <m")[1].split(b"@")[0].decode() for m in got]
    for n in acked:
        assert ids.count(str(n)) == 1, f"message {n} was acknowledged and is there {ids.count(str(n))} times"
    assert len(ids) == len(set(ids))  # no duplicates at all
    assert len(ids) <= len(acked) + 1  # at most the one in flight when the kill came


def test_the_user_agent_sends_mime_with_an_attachment_to_aiosmtpd(tmp_path):
    from aiosmtpd.controller import Controller

    class Keep:
        envelopes: list = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    handler = Keep()
    ctl = Controller(handler, hostname=NET + "20", port=2525)
    ctl.start()
    try:
        blob = tmp_path / "crepe.jpg"
        blob.write_bytes(bytes(range(256)) * 40)
        out = subprocess.run([sys.executable, "-m", "services.smtp", "send", "--server", f"{NET}20:2525", "--from",
                              "alice@crepes.fr", "--to", "bob@hamburger.edu", "--subject", "Picture of yummy crepe.",
                              "--body", "see attached", "--attach", str(blob)], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
    finally:
        ctl.stop()
    [env] = handler.envelopes
    assert env.mail_from == "alice@crepes.fr" and env.rcpt_tos == ["bob@hamburger.edu"]
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    [att] = list(msg.iter_attachments())
    assert att["Content-Transfer-Encoding"] == "base64" and att.get_content_type() == "image/jpeg"
    assert att.get_content() == blob.read_bytes()


def test_a_bad_accounts_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "accounts").write_text("no colon here\n")
    out = subprocess.run([sys.executable, "-m", "services.smtp", "serve", "--hostname", "h", "--accounts",
                          str(tmp_path / "accounts"), "--mail-dir", str(tmp_path), "--queue-dir", str(tmp_path / "q"),
                          "--port", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"smtp: {tmp_path}/accounts:1: expected `user:password` "
                                               "(user of letters, digits, . _ + -)"]


def test_idle_client_gets_421_and_a_vanishing_one_leaves_nothing_behind(tmp_path, dns):
    host = MailHost(tmp_path / "idle", NET + "4", "hamburger.test", "--idle-timeout", "0.5").start()
    try:
        with socket.create_connection((host.addr, 25)) as s:
            s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@hamburger.test>\r\nDATA\r\nSubject: cut\r\n\r\nhal")
            s.close()  # gone in the middle of DATA: no 250 was given, nothing may be delivered
        with socket.create_connection((host.addr, 25)) as s:
            s.settimeout(10)
            got = b""
            while not got.endswith(b"\r\n") or b"421" not in got:
                data = s.recv(1000)
                if not data:
                    break
                got += data
            assert got.splitlines()[-1] == b"421 hamburger.test Error: timeout exceeded"  # no EHLO: no enhanced code
            assert s.recv(100) == b""  # and the server closed
        assert host.mailbox("bob") == [] and list((tmp_path / "idle" / "queue" / "active").iterdir()) == []
    finally:
        host.stop()
