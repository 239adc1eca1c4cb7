"""Hostile input must never stall or silence a DNS server: compression-pointer chains, over-long labels and
names, TCP clients that hold connections or never read, and decoy replies to the resolver's queries.

The cores are asked directly; the TCP cases and the logging go through the real server
(`python -m services.dns auth`) on loopback addresses of their own (127.0.58.x)."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, DNSHeader, DNSQuestion, DNSRecord
from test_dns_resolver import ZONES

from services.dns import badpackets
from services.dns.authority import Authority
from services.dns.message import MAX_POINTERS, Malformed, parse
from services.dns.probe import wait_until_answering
from services.dns.upstream import exchange
from services.dns.zone import load_zone

AUTH = Authority([load_zone(ZONES / "umass.edu.zone"), load_zone(ZONES / "cs.umass.edu.zone")])
HEADER = struct.Struct("!HHHHHH")
SERVER, IMPATIENT = "127.0.58.1", "127.0.58.4"


def chained(records: int, qname: str = "gaia.cs.umass.edu", qid: int = 0x4242, restart: int = 0) -> bytes:
    """A query for `qname` whose additional section holds `records` records, each owned by a name that is
    only a pointer to the previous record's name: the last name takes `records` jumps to read. With
    `restart`, every restart-th record points at the question again, so no name takes more jumps."""
    q = DNSRecord(DNSHeader(id=qid, rd=1), q=DNSQuestion(qname))
    out = bytearray(bytes(q.pack()))
    out[10:12] = records.to_bytes(2, "big")  # ARCOUNT
    prev = 12  # the question's name
    for i in range(1, records + 1):
        here = len(out)
        assert here < 0x4000, "a pointer reaches only the first 16 KB of a message"
        out += (0xC000 | prev).to_bytes(2, "big") + struct.pack("!HHIHB", QTYPE.TXT, 1, 0, 1, 0)  # TXT ""
        prev = 12 if restart and i % restart == 0 else here
    return bytes(out)


def long_label(n: int = 70, qid: int = 0x4343) -> bytes:
    return HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + bytes([n]) + b"a" * n + b"\x03edu\x00" + b"\x00\x01\x00\x01"


def long_name(labels: int = 5, qid: int = 0x4444) -> bytes:
    name = b"".join(b"\x3c" + b"b" * 60 for _ in range(labels)) + b"\x00"  # 5 x 61 = 305 bytes > 255
    return HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"


def calls(fn) -> int:
    """How many Python and C functions `fn()` calls: the work it does, counted without a clock."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1
    sys.setprofile(profile)
    try:
        fn()
    except Malformed:
        pass
    finally:
        sys.setprofile(None)
    return count


def test_a_pointer_chain_costs_work_linear_in_the_message_size():
    small, large = chained(150), chained(600)  # 2 KB and 8 KB
    ratio = calls(lambda: parse(large)) / calls(lambda: parse(small))
    assert ratio < 5, f"4x the bytes cost {ratio:.1f}x the work"  # dnslib's own decoder: about 16x


def test_a_message_of_names_with_many_pointers_each_costs_work_linear_in_its_size():
    small, large = chained(150, restart=MAX_POINTERS), chained(600, restart=MAX_POINTERS)
    assert len(parse(large).ar) == 600  # every name read, none refused
    ratio = calls(lambda: parse(large)) / calls(lambda: parse(small))
    assert ratio < 5, f"4x the bytes cost {ratio:.1f}x the work"


def test_names_of_many_pointers_each_are_refused_and_a_few_are_fine():
    parse(chained(MAX_POINTERS))
    with pytest.raises(Malformed, match="compression pointers"):
        parse(chained(MAX_POINTERS + 1))


@pytest.mark.parametrize("wire", [
    HEADER.pack(1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01",  # a pointer to itself
    HEADER.pack(1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0e\x00" + b"\x00\x01\x00\x01",  # a pointer forwards
    HEADER.pack(1, 0x0100, 1, 0, 0, 0) + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01",  # back into its own start
])
def test_pointers_that_do_not_point_strictly_backwards_are_refused(wire):
    with pytest.raises(Malformed, match="backwards"):
        parse(wire)


@pytest.mark.parametrize("wire", [chained(100), chained(1200), long_label(), long_label(64), long_name()])
def test_hostile_names_get_formerr_from_both_servers(wire):
    from test_dns_fuzz import resolver

    for out in (AUTH.handle(wire, "10.0.1.11"), resolver().handle(wire, "10.0.1.11")):
        reply = DNSRecord.parse(out)
        assert reply.header.id == wire[0] << 8 | wire[1] and reply.header.rcode == RCODE.FORMERR


def test_a_label_of_63_and_a_name_of_255_are_fine():
    label = DNSRecord.parse(AUTH.handle(long_label(63), "x"))
    assert label.header.rcode == RCODE.REFUSED  # parsed, answered: not a zone of ours
    name = b"".join(b"\x3e" + b"c" * 62 for _ in range(4)) + b"\x00"  # 4 x 63 + 1 = 253 bytes
    wire = HEADER.pack(7, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
    assert DNSRecord.parse(AUTH.handle(wire, "x")).header.rcode == RCODE.REFUSED


def test_a_flood_of_bad_packets_is_one_log_line_without_a_traceback(caplog, monkeypatch):
    monkeypatch.setattr(badpackets.bad_packet, "_next", 0.0)
    monkeypatch.setattr(badpackets.bad_packet, "_held", 0)
    with caplog.at_level(logging.DEBUG):
        for i in range(50):
            AUTH.handle(long_label(qid=i), "10.0.1.66")
    lines = [r for r in caplog.records if r.name.startswith("services.dns")]
    assert len(lines) == 1 and lines[0].exc_info is None and lines[0].levelno == logging.WARNING
    assert "bad packet from 10.0.1.66" in lines[0].getMessage() and "label of 70 bytes" in lines[0].getMessage()


# the real server ------------------------------------------------------------------------------------------

def run_server(addr: str, *extra: str) -> Iterator[subprocess.Popen]:
    argv = [sys.executable, "-m", "services.dns", "auth", "--listen", addr, *extra,
            "--zone", str(ZONES / "umass.edu.zone"), "--zone", str(ZONES / "cs.umass.edu.zone")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_answering(addr, "gaia.cs.umass.edu", alive=lambda: proc.poll() is None)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[subprocess.Popen]:
    yield from run_server(SERVER)


@pytest.fixture(scope="module")
def impatient_server() -> Iterator[subprocess.Popen]:
    """A server that gives a silent or non-reading TCP client one second (--tcp-idle 1)."""
    yield from run_server(IMPATIENT, "--tcp-idle", "1")


def tcp_query(name: str, qtype: str = "A", qid: int = 1) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.id = qid
    wire = bytes(q.pack())
    return len(wire).to_bytes(2, "big") + wire


def tcp_ask(sock: socket.socket, name: str) -> DNSRecord:
    sock.sendall(tcp_query(name))
    size = int.from_bytes(_read(sock, 2), "big")
    return DNSRecord.parse(_read(sock, size))


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def connect(source: str = "127.0.0.1", server: str = SERVER) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect((server, 53))
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_one_client_cannot_take_every_tcp_slot(server):
    held = [connect() for _ in range(16)]
    try:
        for s in held:
            assert tcp_ask(s, "gaia.cs.umass.edu").rr
        # the 17th from the same address is turned away: reset at once (sometimes before connect()
        # returns) or closed without an answer
        try:
            extra = connect()
        except ConnectionResetError:
            extra = None
        assert extra is None or closed_by_server(extra)
        with connect(source="127.0.0.2") as other:  # another client still gets in and is answered
            assert tcp_ask(other, "gaia.cs.umass.edu").header.rcode == RCODE.NOERROR
    finally:
        for s in held:
            s.close()


ESTABLISHED = 1  # tcpi_state in struct tcp_info (linux/tcp.h)


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_client_that_asks_and_never_reads_is_dropped(impatient_server):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    sock.settimeout(5)
    sock.connect((IMPATIENT, 53))
    big = tcp_query("big.cs.umass.edu", "TXT")
    sent = 0
    sock.setblocking(False)
    deadline = time.monotonic() + 10
    while sent < 4000 and time.monotonic() < deadline:
        try:
            sock.send(big)  # a whole 36-byte message or nothing, in practice
            sent += 1
        except BlockingIOError:
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
    deadline = time.monotonic() + 15  # --tcp-idle 1: the server gives up on it within a second or two
    while tcp_state(sock) == ESTABLISHED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tcp_state(sock) != ESTABLISHED, "the server kept the connection of a client that does not read"
    sock.settimeout(5)
    got, stream = 0, b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            stream += chunk
            while len(stream) >= 2 and len(stream) >= 2 + int.from_bytes(stream[:2], "big"):
                stream = stream[2 + int.from_bytes(stream[:2], "big"):]
                got += 1
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert got < sent, f"all {sent} replies came: the server waited for a client that does not read"
    with connect(server=IMPATIENT) as again:  # and its slot is free again
        assert tcp_ask(again, "gaia.cs.umass.edu").rr


def test_hostile_packets_get_formerr_and_the_log_one_line_or_none_with_quiet(tmp_path):
    logs = {}
    for quiet in (False, True):
        addr = SERVER[:-1] + ("3" if quiet else "2")
        argv = [sys.executable, "-m", "services.dns", "auth", "--listen", addr, "--zone", str(ZONES / "umass.edu.zone")]
        proc = subprocess.Popen(argv + (["--quiet"] if quiet else []), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            wait_until_answering(addr, "umass.edu", alive=lambda proc=proc: proc.poll() is None)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                for i, wire in enumerate([long_label(qid=i) for i in range(20)] + [long_name(qid=99), chained(200)]):
                    s.sendto(wire, (addr, 53))
                    reply = DNSRecord.parse(s.recv(4096))
                    assert reply.header.rcode == RCODE.FORMERR and reply.header.id == wire[0] << 8 | wire[1], i
        finally:
            proc.terminate()
            logs[quiet] = proc.communicate(timeout=10)[0]
    assert "Traceback" not in logs[False] and "Traceback" not in logs[True]
    assert len([line for line in logs[False].splitlines() if "bad packet" in line]) == 1
    assert logs[True] == ""


# the resolver's side: decoys --------------------------------------------------------------------------------

def test_a_decoy_reply_does_not_end_the_wait_for_the_real_one():
    async def scenario() -> bytes | None:
        fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fake.bind(("127.0.58.20", 0))
        fake.setblocking(False)
        port = fake.getsockname()[1]
        loop = asyncio.get_running_loop()
        query = DNSRecord.question("gaia.cs.umass.edu")

        async def authority() -> None:
            data, client = await loop.sock_recvfrom(fake, 4096)
            q = DNSRecord.parse(data)
            decoy = DNSRecord.question("evil.example")  # the right id, the wrong question
            decoy.header.id, decoy.header.qr = q.header.id, 1
            decoy.add_answer(*DNSRecord.question("x").reply().rr)
            await loop.sock_sendto(fake, bytes(decoy.pack()), client)
            wrong_type = DNSRecord.question("gaia.cs.umass.edu", "MX")
            wrong_type.header.id, wrong_type.header.qr = q.header.id, 1
            await loop.sock_sendto(fake, bytes(wrong_type.pack()), client)
            real = q.reply()
            real.add_answer(*RR.fromZone("gaia.cs.umass.edu. 60 IN A 10.0.5.80"))
            await loop.sock_sendto(fake, bytes(real.pack()), client)

        task = asyncio.ensure_future(authority())
        try:
            return await exchange("127.0.58.20", bytes(query.pack()), False, port, timeout=5)
        finally:
            await task
            fake.close()

    reply = asyncio.run(scenario())
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    assert str(parsed.q.qname) == "gaia.cs.umass.edu." and parsed.q.qtype == QTYPE.A
    assert [str(rr.rdata) for rr in parsed.rr] == ["10.0.5.80"]

