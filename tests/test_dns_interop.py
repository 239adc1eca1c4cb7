"""The real servers (`python -m services.dns`) on loopback addresses, asked by the standard client `dig`.

The campus hierarchy is served from the lab's own zone files, with the lab's 10.0.x addresses moved to
127.0.53.x so the root, the TLD, umass.edu's server and the resolver each have an address of their own.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dns_resolver import ZONES

from services.dns.probe import NotAnswering, wait_until_answering

pytestmark = pytest.mark.skipif(shutil.which("dig") is None, reason="needs dig (dnsutils)")

ROOT, EDU, UMASS, POLY, RESOLVER = "127.0.53.10", "127.0.53.20", "127.0.53.30", "127.0.53.54", "127.0.53.53"
SERVES = {ROOT: ["root.zone", "in-addr.arpa.zone"], EDU: ["edu.zone"], UMASS: ["umass.edu.zone", "cs.umass.edu.zone"],
          POLY: ["poly.edu.zone", "10.in-addr.arpa.zone"]}


def _loopback(text: str) -> str:
    return text.replace("10.0.5.", "127.0.53.").replace("10.0.3.54", POLY)


def _wait_answers(addr: str, proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    """Ready when the server answers a query (observed, not slept for)."""
    try:
        wait_until_answering(addr, alive=lambda: proc.poll() is None, timeout=timeout)
    except NotAnswering as e:
        raise RuntimeError(f"{e}: {log.read_text()[-500:]}") from None


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory) -> Iterator[dict[str, Path]]:
    d = tmp_path_factory.mktemp("dns")
    for f in ZONES.glob("*.zone"):
        (d / f.name).write_text(_loopback(f.read_text()))
    (d / "root.hints").write_text(_loopback((ZONES / "root.hints").read_text()))
    procs, logs = [], {}
    try:
        for addr, zones in SERVES.items():
            logs[addr] = d / f"{addr}.log"
            argv = [sys.executable, "-m", "services.dns", "auth", "--listen", addr]
            for z in zones:
                argv += ["--zone", str(d / z)]
            procs.append((addr, subprocess.Popen(argv, stdout=logs[addr].open("w"), stderr=subprocess.STDOUT)))
        logs[RESOLVER] = d / "resolver.log"
        argv = [sys.executable, "-m", "services.dns", "resolver", "--listen", RESOLVER, "--root-hints",
                str(d / "root.hints"), "--allow", "127.0.53.0/24"]
        procs.append((RESOLVER, subprocess.Popen(argv, stdout=logs[RESOLVER].open("w"), stderr=subprocess.STDOUT)))
        for addr, proc in procs:
            _wait_answers(addr, proc, logs[addr])
        yield logs
    finally:
        for _, proc in procs:
            proc.terminate()
        for _, proc in procs:
            proc.wait(timeout=10)


def dig(server: str, *args: str, source: str = "127.0.53.99") -> str:
    out = subprocess.run(["dig", f"@{server}", "-b", source, "+time=3", "+tries=1", *args],
                         capture_output=True, text=True, timeout=30)
    return out.stdout


def flags(out: str) -> set[str]:
    return set(re.search(r";; flags: ([a-z ]+);", out).group(1).split())


def status(out: str) -> str:
    return re.search(r"status: (\w+)", out).group(1)


def test_dig_gets_an_authoritative_answer(hierarchy):
    out = dig(UMASS, "+norec", "gaia.cs.umass.edu")
    assert status(out) == "NOERROR" and "aa" in flags(out)
    assert re.search(r"^gaia\.cs\.umass\.edu\.\s+3600\s+IN\s+A\s+127\.0\.53\.80$", out, re.M), out


def test_dig_sees_a_referral_from_the_root(hierarchy):
    out = dig(ROOT, "+norec", "gaia.cs.umass.edu")
    assert "aa" not in flags(out) and ";; AUTHORITY SECTION:" in out
    assert re.search(r"^edu\.\s+172800\s+IN\s+NS\s+ns1\.nic\.edu\.$", out, re.M)
    assert re.search(r"^ns1\.nic\.edu\.\s+172800\s+IN\s+A\s+127\.0\.53\.20$", out, re.M)  # glue


def test_dig_nxdomain_has_the_soa(hierarchy):
    out = dig(UMASS, "+norec", "nope.umass.edu")
    assert status(out) == "NXDOMAIN"
    assert re.search(r"^umass\.edu\.\s+300\s+IN\s+SOA\s+dns\.umass\.edu\.", out, re.M), out


def test_dig_large_answer_truncated_over_udp_then_whole_over_tcp(hierarchy):
    udp = dig(UMASS, "+norec", "+ignore", "+bufsize=1232", "big.cs.umass.edu", "TXT")
    assert "tc" in flags(udp) and "ANSWER: 0" in udp
    plain = dig(UMASS, "+norec", "+noedns", "big.cs.umass.edu", "TXT")  # dig itself retries over TCP
    assert "Truncated, retrying in TCP mode" in plain and "ANSWER: 16" in plain and "(TCP)" in plain


def test_tcp_connection_carries_several_queries(hierarchy):
    out = dig(UMASS, "+norec", "+tcp", "+keepopen", "gaia.cs.umass.edu", "dns.umass.edu", "umass.edu", "SOA")
    assert out.count("status: NOERROR") == 3 and out.count("(TCP)") == 3


def test_resolver_resolves_from_the_root_then_from_its_cache(hierarchy):
    first = dig(RESOLVER, "www.umass.edu")
    assert status(first) == "NOERROR" and "ra" in flags(first) and "aa" not in flags(first)
    assert re.search(r"^gaia\.cs\.umass\.edu\.\s+\d+\s+IN\s+A\s+127\.0\.53\.80$", first, re.M), first
    log = hierarchy[RESOLVER].read_text()
    assert f"asked {ROOT} for www.umass.edu." in log and f"asked {UMASS} for www.umass.edu." in log
    asked = log.count("asked ")
    second = dig(RESOLVER, "www.umass.edu")
    assert status(second) == "NOERROR" and hierarchy[RESOLVER].read_text().count("asked ") == asked


def test_resolver_negative_cache(hierarchy):
    assert status(dig(RESOLVER, "missing.cs.umass.edu")) == "NXDOMAIN"
    asked = hierarchy[RESOLVER].read_text().count("asked ")
    again = dig(RESOLVER, "missing.cs.umass.edu")
    assert status(again) == "NXDOMAIN" and hierarchy[RESOLVER].read_text().count("asked ") == asked
    assert re.search(r"^cs\.umass\.edu\.\s+(\d+)\s+IN\s+SOA", again, re.M)


def test_resolver_reverse_and_tcp(hierarchy):
    out = dig(RESOLVER, "+tcp", "-x", "10.0.1.11")
    assert re.search(r"IN\s+PTR\s+client1\.poly\.edu\.$", out, re.M), out
    big = dig(RESOLVER, "big.cs.umass.edu", "TXT")
    assert "Truncated, retrying in TCP mode" in big and "ANSWER: 16" in big


def test_resolver_refuses_clients_outside_its_allow_list(hierarchy):
    out = dig(RESOLVER, "gaia.cs.umass.edu", source="127.0.0.1")
    assert status(out) == "REFUSED" and "ANSWER: 0" in out


def test_servers_survive_garbage_over_udp_and_tcp(hierarchy):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"", b"\x00", b"\xff" * 12, b"\x12\x34\x00\x00\x00\x01" + b"\xc0" * 40):
            s.sendto(junk, (RESOLVER, 53))
            s.sendto(junk, (UMASS, 53))
    with socket.create_connection((UMASS, 53), timeout=3) as s:
        s.sendall(b"\x00\x05hello\xff\xff" + b"x" * 100)  # a bad message, then a length it never completes
    assert status(dig(UMASS, "+norec", "gaia.cs.umass.edu")) == "NOERROR"
    assert status(dig(RESOLVER, "gaia.cs.umass.edu")) == "NOERROR"


def test_a_bad_zone_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.zone"
    bad.write_text("www IN A 1.2.3.4\n")
    out = subprocess.run([sys.executable, "-m", "services.dns", "auth", "--zone", str(bad), "--listen",
                          "127.0.53.250"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "exactly one SOA" in out.stderr
