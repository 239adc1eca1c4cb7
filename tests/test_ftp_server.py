"""The real server (`python -m services.ftp server`) on loopback, driven by Python's ftplib and raw sockets:
transfers both ways in both modes, TYPE A, REST, APPE, STOU, ABOR, the bounce and passive-theft
protections, the failed-login limit, the idle timeouts, and the reliability cases (clients vanishing
mid-transfer, 200 concurrent sessions) with the server's descriptors counted in /proc before and after."""

from __future__ import annotations

import asyncio
import ftplib
import io
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST, TIMEOUTS_HOST = "127.0.21.10", "127.0.21.11"
CLIENT, THIEF = "127.0.21.100", "127.0.21.101"  # source addresses, so the server sees distinct clients
CONFIG = "anonymous: {home: pub}\nusers:\n  alice: {password: secret, home: alice}\n"
BIG = 256 << 20  # sparse: bigger than any socket buffer, so a transfer is surely still running


@dataclass
class Server:
    host: str
    port: int
    root: Path
    proc: subprocess.Popen
    log: Path

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def ftp(self, user: str = "alice", password: str = "secret", source: str = CLIENT) -> ftplib.FTP:
        f = ftplib.FTP(timeout=10, source_address=(source, 0))
        f.connect(self.host, self.port)
        f.login(user, password)
        return f

    def settled_fds(self) -> int:
        """The descriptor count once it has held still for half a second (sessions of earlier tests have
        finished closing)."""
        last, same = self.fds(), 0
        for _ in range(200):
            time.sleep(0.05)
            n = self.fds()
            same = same + 1 if n == last else 0
            last = n
            if same >= 10:
                break
        return last

    def wait_fds(self, expected: int, timeout: float = 10.0) -> int:
        """The descriptor count once it settles at `expected` (closing is asynchronous), or the last seen."""
        deadline = time.monotonic() + timeout
        while (n := self.fds()) > expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return n


def start_server(tmp: Path, host: str, port: int = 2121, *extra: str, config: str = CONFIG,
                 max_fds: int | None = None) -> Server:
    """Start the server and return once it greets (observed: a 220 on a fresh connection)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "ftp.yaml").write_text(config)
    log = tmp / "server.log"
    argv = [sys.executable, "-m", "services.ftp", "server", "--config", str(tmp / "ftp.yaml"), "--root",
            str(tmp / "root"), "--listen", host, "--port", str(port), *extra]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))) if max_fds else None
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, preexec_fn=limit)
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                if s.recv(100).startswith(b"220 "):
                    return Server(host, port, tmp / "root", proc, log)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"FTP server did not start: {log.read_text()[-800:]}")
        time.sleep(0.05)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("ftp"), HOST, 2121, "--passive-ports", "41000-41999",
                     "--login-delay", "0.3", "--login-failures", "2")
    (s.root / "alice" / "notes.txt").write_bytes(b"0123456789")
    (s.root / "alice" / "lines.txt").write_bytes(b"one\ntwo\nthree\n")
    with open(s.root / "alice" / "big.bin", "wb") as f:
        f.truncate(BIG)
    (s.root / "pub" / "readme.txt").write_text("welcome\n")
    yield s
    stop_server(s)


def test_retr_and_stor_passive(server):
    f = server.ftp()
    payload = os.urandom(3 << 20)
    assert f.storbinary("STOR up.bin", io.BytesIO(payload)).startswith("226")
    out = io.BytesIO()
    assert f.retrbinary("RETR up.bin", out.write).startswith("226")
    assert out.getvalue() == payload == (server.root / "alice" / "up.bin").read_bytes()
    f.quit()


def test_active_mode_data_connection_comes_from_port_20(server):
    f = server.ftp()
    f.set_pasv(False)
    conn, _ = f.ntransfercmd("RETR notes.txt")
    with conn:
        assert conn.getpeername() == (HOST, 20)
        assert conn.recv(100) == b"0123456789"
    assert f.voidresp().startswith("226")
    f.quit()


def test_type_a_sends_crlf_and_stores_lf(server):
    f = server.ftp()
    f.sendcmd("TYPE A")
    conn = f.transfercmd("RETR lines.txt")
    with conn:
        data = b"".join(iter(lambda: conn.recv(4096), b""))
    f.voidresp()
    assert data == b"one\r\ntwo\r\nthree\r\n"
    f.storlines("STOR ascii.txt", io.BytesIO(b"a\r\nb\r\n"))  # ftplib sends CRLF lines in TYPE A
    assert (server.root / "alice" / "ascii.txt").read_bytes() == b"a\nb\n"
    f.quit()


def test_rest_resumes_a_download_and_an_upload(server):
    f = server.ftp()
    out = io.BytesIO()
    f.retrbinary("RETR notes.txt", out.write, rest=6)
    assert out.getvalue() == b"6789"
    f.storbinary("STOR part.txt", io.BytesIO(b"abcdXXXX"))
    f.storbinary("STOR part.txt", io.BytesIO(b"efgh"), rest=4)
    assert (server.root / "alice" / "part.txt").read_bytes() == b"abcdefgh"
    f.quit()


def test_appe_and_stou(server):
    f = server.ftp()
    f.storbinary("STOR log.txt", io.BytesIO(b"first\n"))
    f.storbinary("APPE log.txt", io.BytesIO(b"second\n"))
    assert (server.root / "alice" / "log.txt").read_bytes() == b"first\nsecond\n"
    f.sendcmd("TYPE I")
    conn = socket.create_connection(f.makepasv(), timeout=5, source_address=(CLIENT, 0))
    opening = f.sendcmd("STOU")
    assert opening.startswith("125 FILE: ")  # RFC 1123 4.1.2.9: the name chosen (125: we had connected)
    with conn:
        conn.sendall(b"unique")
    assert f.voidresp().startswith("226")
    assert (server.root / "alice" / opening[len("125 FILE: "):]).read_bytes() == b"unique"
    f.quit()


def test_listings_nlst_mlsd_and_list(server):
    f = server.ftp()
    assert {"notes.txt", "lines.txt"} <= set(f.nlst())
    facts = dict(f.mlsd(facts=["type", "size"]))
    assert facts["notes.txt"] == {"type": "file", "size": "10"}
    lines: list[str] = []
    f.retrlines("LIST", lines.append)
    assert any(ln.startswith("-rw") and ln.endswith(" notes.txt") for ln in lines)
    f.quit()


def test_anonymous_reads_the_public_area_only(server):
    f = server.ftp("anonymous", "student@poly.edu")
    assert f.nlst() == ["readme.txt"]
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.storbinary("STOR x.txt", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.sendcmd("RETR ../alice/notes.txt")
    f.quit()


def test_port_to_another_address_is_refused(server):
    f = server.ftp()
    with pytest.raises(ftplib.error_perm, match="^504"):
        f.sendcmd("PORT 127,0,21,200,100,100")
    with pytest.raises(ftplib.error_perm, match="^504"):
        f.sendcmd("EPRT |1|127.0.21.200|25700|")
    f.quit()


def test_passive_port_accepts_only_the_client_that_asked(server):
    f = server.ftp()
    port = int(f.sendcmd("EPSV").split("|||")[1].rstrip("|)"))
    thief = socket.create_connection((HOST, port), timeout=5, source_address=(THIEF, 0))
    with socket.create_connection((HOST, port), timeout=5, source_address=(CLIENT, 0)) as mine:
        # connected before RETR: 125, "data connection already open" (RFC 959 4.2.2)
        assert f.sendcmd("RETR notes.txt") == "125 Data connection already open; transfer starting."
        assert b"".join(iter(lambda: mine.recv(100), b"")) == b"0123456789"
    assert f.getresp().startswith("226")
    with thief:
        assert thief.recv(100) == b""  # closed unheard: no byte of the file
    f.quit()


def test_failed_logins_are_delayed_and_limited(server):
    f = ftplib.FTP(timeout=10, source_address=(CLIENT, 0))
    f.connect(HOST, server.port)
    t0 = time.monotonic()
    with pytest.raises(ftplib.error_perm, match="^530"):
        f.login("alice", "wrong")
    assert time.monotonic() - t0 >= 0.3
    with pytest.raises(ftplib.error_temp, match="^421"):
        f.login("alice", "wrong again")
    with pytest.raises((EOFError, OSError)):
        f.sendcmd("NOOP")


def _retr_big_until_running(server: Server) -> tuple[ftplib.FTP, socket.socket]:
    f = server.ftp()
    conn = f.transfercmd("RETR big.bin")
    assert len(conn.recv(65536)) > 0
    return f, conn


def test_abor_mid_transfer(server):
    base = server.settled_fds()
    f, conn = _retr_big_until_running(server)
    f.sock.sendall(b"\xff\xf4\xff\xf2ABOR\r\n")  # Telnet IP and Synch first, as RFC 959 4.1.3 describes
    replies = [f.getline(), f.getline()]
    assert replies[0].startswith("426 ") and replies[1].startswith("226 ")
    with conn:
        while conn.recv(1 << 20):
            pass  # the server closed its end: the rest of the file never comes
    assert f.sendcmd("NOOP").startswith("200")
    f.quit()
    assert server.wait_fds(base) == base


def test_ftplib_abort_with_urgent_data(server):
    f, conn = _retr_big_until_running(server)
    assert f.abort().startswith("426")  # sent with MSG_OOB: must not lose its last byte
    assert f.getresp().startswith("226")
    conn.close()
    f.quit()


def _vanish(f: ftplib.FTP, conn: socket.socket) -> None:
    """Reset both connections: the client is gone without a word."""
    for s in (conn, f.sock):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    f.close()  # ftplib's file object holds the control socket open until it is closed too


def test_client_vanishing_mid_transfer_leaks_nothing(server):
    base = server.settled_fds()
    for _ in range(5):
        f, conn = _retr_big_until_running(server)
        _vanish(f, conn)
    assert server.wait_fds(base) == base
    g = server.ftp()
    assert g.size("notes.txt") == 10
    g.quit()


def test_clients_leaving_passive_ports_open_leak_nothing(server):
    base = server.settled_fds()
    for _ in range(20):
        f = server.ftp()
        f.sendcmd("PASV")
        f.close()  # gone with a passive port still listening for it
    assert server.wait_fds(base) == base


def test_client_vanishing_mid_upload_keeps_what_arrived(server):
    f = server.ftp()
    conn = f.transfercmd("STOR cut.bin")
    conn.sendall(b"x" * 100000)
    # the client is gone: its control connection reset, its data connection ended after the bytes it sent
    f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    conn.close()
    g = server.ftp()
    deadline = time.monotonic() + 5
    while g.size("cut.bin") < 100000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert g.size("cut.bin") == 100000
    g.quit()


async def _session(host: str, port: int, i: int) -> bytes:
    r, w = await asyncio.open_connection(host, port, local_addr=(CLIENT, 0))

    async def cmd(line: str) -> str:
        if line:
            w.write(line.encode() + b"\r\n")
        reply = (await r.readline()).decode()
        return reply

    assert (await cmd("")).startswith("220")
    assert (await cmd("USER alice")).startswith("331")
    assert (await cmd("PASS secret")).startswith("230")
    epsv = await cmd("EPSV")
    port_ = int(epsv.split("|||")[1].split("|")[0])
    dr, dw = await asyncio.open_connection(host, port_, local_addr=(CLIENT, 0))
    assert (await cmd("RETR notes.txt")).startswith("125 ")  # we connected first
    data = await dr.read()
    dw.close()
    assert (await cmd("")).startswith("226")
    assert (await cmd("QUIT")).startswith("221")
    w.close()
    return data


def test_200_concurrent_sessions(server):
    base = server.settled_fds()

    async def all_of_them() -> list[bytes]:
        return await asyncio.wait_for(asyncio.gather(*(_session(HOST, server.port, i) for i in range(200))), 60)

    results = asyncio.run(all_of_them())
    assert results == [b"0123456789"] * 200
    assert server.wait_fds(base) == base
    assert server.proc.poll() is None


@pytest.fixture(scope="module")
def impatient(tmp_path_factory) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("ftp-idle"), TIMEOUTS_HOST, 2121, "--idle", "1", "--data-idle", "1",
                     "--passive-ports", "42000-42099")
    (s.root / "alice" / "notes.txt").write_bytes(b"0123456789")
    yield s
    stop_server(s)


def test_idle_control_connection_gets_421_and_closed(impatient):
    f = impatient.ftp()  # logged in; now silent
    with pytest.raises(ftplib.error_temp, match="^421"):
        f.getresp()
    assert f.sock.recv(10) == b""


def test_passive_nobody_connects_425(impatient):
    f = impatient.ftp()
    f.sendcmd("EPSV")
    f.putcmd("RETR notes.txt")
    with pytest.raises(ftplib.error_temp, match="^425"):
        f.getresp()
    f.close()


def test_stalled_upload_426(impatient):
    f = impatient.ftp()
    conn = f.transfercmd("STOR stall.bin")
    conn.sendall(b"x" * 1000)
    with pytest.raises(ftplib.error_temp, match="^426"):
        f.getresp()
    conn.close()
    f.close()


def test_bad_configuration_is_one_line_and_status_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("users:\n  alice: {home: a}\n")
    out = subprocess.run([sys.executable, "-m", "services.ftp", "server", "--config", str(tmp_path / "bad.yaml"),
                          "--root", str(tmp_path / "r"), "--port", "2199", "--listen", "127.0.21.12"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"ftp: {tmp_path / 'bad.yaml'}: user 'alice' needs password: TEXT and home: DIR"]


def test_sigterm_says_421_to_every_session_and_exits_0(tmp_path):
    s = start_server(tmp_path, "127.0.21.13", 2121)
    sessions = [s.ftp() for _ in range(3)]
    s.proc.terminate()
    for f in sessions:
        with pytest.raises(ftplib.error_temp, match="^421"):
            f.getresp()
    assert s.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_out_of_descriptors_the_server_stays_up_and_serves_again(tmp_path, loop):
    # a session limit above what the descriptors allow, so that the descriptors run out first
    extra = ("--asyncio-loop",) if loop == "asyncio" else ()
    s = start_server(tmp_path, "127.0.21.14", 2121, "--max-sessions", "1000", *extra, max_fds=40)
    try:
        crowd = [socket.create_connection((s.host, s.port), timeout=5) for _ in range(60)]  # past its limit
        greeted = []
        for c in crowd[:20]:
            greeted.append(c.recv(100))
        assert all(g.startswith(b"220 ") for g in greeted)
        for c in crowd:
            c.close()
        # once the server has seen the crowd go and its descriptors are free, it serves again (until
        # then libuv accepts and drops a newcomer, asyncio leaves it in the backlog: a client retries)
        deadline = time.monotonic() + 10
        while True:
            try:
                f = s.ftp()
                break
            except (EOFError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert f.sendcmd("NOOP").startswith("200")
        f.quit()
        assert s.proc.poll() is None
    finally:
        stop_server(s)


def test_sessions_past_the_limit_get_421_and_a_freed_place_is_taken_again(tmp_path):
    s = start_server(tmp_path, "127.0.21.16", 2121, "--max-sessions", "5")
    try:
        crowd = []
        for _ in range(12):
            c = socket.create_connection((s.host, s.port), timeout=5)
            crowd.append((c, c.recv(200)))
        assert [g[:4] for _, g in crowd] == [b"220 "] * 5 + [b"421 "] * 7
        assert crowd[5][1] == b"421 Too many sessions (5); try again later.\r\n"
        assert all(c.recv(10) == b"" for c, _ in crowd[5:])  # and closed
        crowd[0][0].close()
        deadline = time.monotonic() + 5
        while True:  # its place is free once the server has seen it go
            c = socket.create_connection((s.host, s.port), timeout=5)
            greeting = c.recv(200)
            c.close()
            if greeting.startswith(b"220 ") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert greeting.startswith(b"220 ")
        assert "turned away: 5 sessions already" in s.log.read_text()
    finally:
        for c, _ in crowd:
            c.close()
        stop_server(s)


def test_the_session_limit_follows_the_descriptor_limit(tmp_path):
    s = start_server(tmp_path, "127.0.21.17", 2121, max_fds=100)  # (100 - 25) // 3: 25 sessions
    try:
        assert "at most 25 sessions" in s.log.read_text()
    finally:
        stop_server(s)


def bind_soon(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_server((host, port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_passive_ports_come_from_the_range_and_a_full_range_gets_425(tmp_path):
    s = start_server(tmp_path, "127.0.21.15", 2121, "--passive-ports", "43000-43003")
    taken: list[socket.socket] = []
    try:
        f = s.ftp()
        seen = {int(f.sendcmd("EPSV").split("|")[3]) for _ in range(20)}  # each EPSV drops the last listener
        assert seen <= set(range(43000, 43004)) and len(seen) > 1  # random, within the range
        f.quit()  # its listener closes with the session, an instant later
        for port in (43000, 43001, 43003):  # all but one taken by others: the free one is still found
            taken.append(bind_soon(s.host, port))
        f = s.ftp()
        assert {int(f.sendcmd("EPSV").split("|")[3]) for _ in range(5)} == {43002}
        g = s.ftp()  # and now that f holds it, the range is full
        with pytest.raises(ftplib.error_temp, match="^425"):
            g.sendcmd("EPSV")
        f.quit()
        g.quit()
    finally:
        for t in taken:
            t.close()
        stop_server(s)
