"""The Telnet server (`python -m services.telnet server`) on loopback, driven over a real socket by the
project's Telnet core: login, the negotiated terminal in the shell, AYT, IP, wrong passwords, and no
process left behind when a client vanishes."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.telnet.accounts import hash_password
from services.telnet.codes import AYT, IAC, IP, NAWS, SB, SE, SGA, TTYPE
from services.telnet.connection import Data, TelnetConnection

PASSWORDS = {"alice": "wonderland", "bob": "builder"}


def make_accounts(folder: Path) -> Path:
    path = folder / "accounts"
    path.write_text("".join(f"{u}:{hash_password(p, iterations=1000)}\n" for u, p in PASSWORDS.items()))
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    """Ready when the port accepts a connection (observed, not slept for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-800:]}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host} port {port}: {log.read_text()[-800:]}")


@contextlib.contextmanager
def running(argv: list[str], host: str, port: int, log: Path) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_listening(host, port, proc, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def telnet_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    d = tmp_path_factory.mktemp("telnet")
    port = free_port()
    argv = [sys.executable, "-m", "services.telnet", "server", "--accounts", str(make_accounts(d)),
            "--homes", str(d / "home"), "--listen", "127.0.0.1", "--port", str(port), "--fail-delay", "0.5",
            "--node", "node1", "--log-level", "debug"]
    with running(argv, "127.0.0.1", port, d / "server.log"):
        yield port, d


class Terminal:
    """A Telnet client's end of a real connection, driven by the project's core."""

    def __init__(self, port: int, term: str = "vt220", window: tuple[int, int] = (100, 30)) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = TelnetConnection(local={TTYPE, NAWS, SGA}, remote={1, SGA}, terminal_type=term, window=window)
        self.text = b""

    def expect(self, pattern: bytes, timeout: float = 10.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while (m := re.search(pattern, self.text)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in {self.text[-600:]!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise EOFError(f"closed before {pattern!r}: {self.text[-600:]!r}")
            for ev in self.conn.receive(data):
                if isinstance(ev, Data):
                    self.text += ev.data
            self.sock.sendall(self.conn.data_to_send())
        self.text = self.text[m.end():]
        return m

    def send(self, data: bytes) -> None:
        self.conn.send(data)
        self.sock.sendall(self.conn.data_to_send())

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def login(self, user: str = "alice", password: str | None = None) -> int:
        """Log in; returns the shell's pid."""
        self.expect(b"login: ")
        self.send(user.encode() + b"\r\n")
        self.expect(b"Password: ")
        self.send((password or PASSWORDS[user]).encode() + b"\r\n")
        self.expect(user.encode() + rb"@node1:")
        self.send(b"echo pid=$$\r\n")
        return int(self.expect(rb"pid=(\d+)\r\n").group(1))

    def close(self) -> None:
        self.sock.close()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def children(pid: int, name: str) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)
            comm, ppid = fields[0].split(" (", 1)[1], int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and comm == name:
            out.append(int(stat.parent.name))
    return out


def test_login_gives_a_shell_with_the_negotiated_terminal_type_and_size(telnet_server):
    t = Terminal(telnet_server[0], term="vt220", window=(100, 30))
    try:
        t.login()
        t.send(b"echo term=$TERM user=$USER home=$HOME; stty size\r\n")
        m = t.expect(rb"term=(\S+) user=(\S+) home=(\S+)\r\n(\d+) (\d+)\r\n")
        assert m.group(1, 2, 4, 5) == (b"vt220", b"alice", b"30", b"100")
        assert m.group(3).decode() == str(telnet_server[1] / "home" / "alice")
    finally:
        t.close()


def test_a_window_change_reaches_the_shell(telnet_server):
    t = Terminal(telnet_server[0])
    try:
        t.login()
        t.raw(bytes([IAC, SB, NAWS, 0, 132, 0, 43, IAC, SE]))
        t.send(b"stty size\r\n")
        t.expect(rb"\D43 132\r\n")
    finally:
        t.close()


def test_are_you_there_is_answered_in_the_shell(telnet_server):
    t = Terminal(telnet_server[0])
    try:
        t.login()
        t.raw(bytes([IAC, AYT]))
        t.expect(rb"\[node1: yes\]")
    finally:
        t.close()


def test_interrupt_process_stops_the_running_command(telnet_server):
    t = Terminal(telnet_server[0])
    try:
        shell = t.login()
        t.send(b"sleep 30\r\n")
        deadline = time.monotonic() + 10
        while not (sleeping := children(shell, "sleep")):  # the command is running: observed in /proc
            assert time.monotonic() < deadline, "sleep never started"
            time.sleep(0.02)
        t.raw(bytes([IAC, IP]))
        t.expect(rb"\^C")  # the pty's echo of its interrupt character
        assert gone(sleeping, timeout=5), "sleep was not interrupted"
        t.send(b"echo back-$?\r\n")
        t.expect(rb"back-130")  # the shell saw its job die of SIGINT
    finally:
        t.close()


def test_a_wrong_password_is_refused_with_a_delay(telnet_server):
    t = Terminal(telnet_server[0])
    try:
        t.expect(b"login: ")
        t.send(b"alice\r\n")
        t.expect(b"Password: ")
        t.send(b"not-her-password\r\n")
        sent = time.monotonic()
        t.expect(b"Login incorrect")
        t.expect(b"login: ")
        assert time.monotonic() - sent >= 0.5
        t.send(b"bob\r\n")
        t.expect(b"Password: ")
        t.send(b"builder\r\n")
        t.expect(rb"bob@node1:")
    finally:
        t.close()


def test_a_client_that_vanishes_leaves_no_shell_behind(telnet_server):
    t = Terminal(telnet_server[0])
    shell = t.login()
    t.send(b"sleep 300 & echo job=$!\r\n")
    job = int(t.expect(rb"job=(\d+)\r\n").group(1))
    assert alive(shell) and alive(job)
    t.close()
    assert gone([shell, job]), "the shell or its job outlived the connection"


def test_exit_closes_the_connection(telnet_server):
    t = Terminal(telnet_server[0])
    try:
        shell = t.login()
        t.send(b"exit\r\n")
        with pytest.raises(EOFError):
            t.expect(b"never printed")
        assert gone([shell])
    finally:
        t.close()


def test_a_damaged_accounts_file_is_one_line_and_status_2(tmp_path):
    (tmp_path / "accounts").write_text("alice:plaintext\n")
    out = subprocess.run([sys.executable, "-m", "services.telnet", "server", "--accounts", str(tmp_path / "accounts"),
                          "--homes", str(tmp_path), "--port", str(free_port())], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"telnet server: {tmp_path}/accounts:1: the password of alice is not a $pbkdf2-sha256$ hash; "
        "make one with `python -m services.telnet passwd alice`"]


def test_the_client_prints_each_negotiation_and_speaks_to_any_port(telnet_server):
    """The course's client against our server: negotiations on stderr in order, the session on stdout."""
    out = subprocess.run([sys.executable, "-m", "services.telnet", "client", "127.0.0.1", str(telnet_server[0]),
                          "--term", "vt220", "--pace", "2"],
                         input=b"alice\nwonderland\necho $TERM-ok\nexit\n", capture_output=True, timeout=60)
    err = out.stderr.decode().splitlines()
    for a, b in [("RCVD DO TERMINAL-TYPE", "SENT WILL TERMINAL-TYPE"),
                 ("SENT WILL TERMINAL-TYPE", "RCVD SB TERMINAL-TYPE SEND"),
                 ("RCVD SB TERMINAL-TYPE SEND", "SENT SB TERMINAL-TYPE IS 'VT220'"),
                 ("RCVD WILL ECHO", "SENT DO ECHO"), ("RCVD DO NAWS", "SENT WILL NAWS")]:
        assert err.index(a) < err.index(b), err
    assert b"vt220-ok" in out.stdout and out.returncode == 0


def test_the_client_says_clearly_when_nothing_listens():
    port = free_port()
    out = subprocess.run([sys.executable, "-m", "services.telnet", "client", "127.0.0.1", str(port)],
                         input="", capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == f"telnet: cannot connect to 127.0.0.1 port {port}: Connection refused"
