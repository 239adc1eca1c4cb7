"""A damaged lease journal: every good record is kept, each bad one is skipped and said in one line, and
the server starts (a cut last line, a byte that is not UTF-8, a field of the wrong type, junk)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dhcp.leases import BOUND, Lease, LeaseJournal

A = IPv4Address


def good(n: int, **change) -> bytes:
    record = {"ip": f"10.0.1.{100 + n}", "client": f"02:00:00:00:00:{n:02x}", "mac": f"02:00:00:00:00:{n:02x}",
              "expires": 2e9, "state": BOUND, "hostname": f"h{n}"} | change
    return json.dumps(record).encode() + b"\n"


BAD = [
    b"\xff\xfe not utf-8 at all\n",
    good(50, expires="soon"),
    good(51, expires=True),
    good(52, ip=12),
    good(53, ip="10.0.1.999"),
    good(54, state="lost"),
    good(55, mac=None),
    b'["a", "list"]\n',
    b'{"ip": "10.0.1.56"}\n',
    good(57, colour="blue"),
    b"[" * 100_000 + b"\n",
    good(58)[:30],  # a write cut short by a crash (and no newline: the last line)
]


def journal_with_damage(path) -> None:
    lines = [good(1), good(2)] + BAD[:-1] + [good(3), good(1, hostname="renamed"), BAD[-1]]
    path.write_bytes(b"".join(lines))


def test_bad_records_are_skipped_one_line_each_and_good_ones_kept(tmp_path, caplog):
    path = tmp_path / "leases.jsonl"
    journal_with_damage(path)
    with caplog.at_level(logging.WARNING, logger="dhcp.leases"):
        leases = LeaseJournal(path).load()
    assert sorted(leases) == [A("10.0.1.101"), A("10.0.1.102"), A("10.0.1.103")]
    assert leases[A("10.0.1.101")].hostname == "renamed"  # the last record of an address wins
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(BAD) and all("\n" not in line and "damaged lease record" in line for line in lines)
    assert f"{path}:3:" in lines[0] and "expires is 'soon'" in lines[1]
    assert all(r.exc_info is None for r in caplog.records)


def test_appending_after_a_cut_last_line_starts_a_line_of_its_own(tmp_path):
    path = tmp_path / "leases.jsonl"
    path.write_bytes(good(1) + good(2)[:25])
    journal = LeaseJournal(path)
    assert list(journal.load()) == [A("10.0.1.101")]
    journal.append([Lease(ip=A("10.0.1.110"), client="c", mac="m", expires=2e9)])
    journal.close()
    assert sorted(LeaseJournal(path).load()) == [A("10.0.1.101"), A("10.0.1.110")]


def test_many_bad_records_are_summed_up_after_a_few_lines(tmp_path, caplog):
    path = tmp_path / "leases.jsonl"
    path.write_bytes(good(1) + good(9, expires="later") * 500)
    with caplog.at_level(logging.WARNING, logger="dhcp.leases"):
        assert list(LeaseJournal(path).load()) == [A("10.0.1.101")]
    assert len(caplog.records) == 21 and "480 more damaged lease records" in caplog.records[-1].getMessage()


@pytest.mark.skipif(sys.platform != "linux", reason="the DHCP server needs Linux sockets")
def test_the_server_starts_on_a_damaged_journal(tmp_path):
    path = tmp_path / "leases.jsonl"
    journal_with_damage(path)
    config = tmp_path / "dhcp.yaml"
    config.write_text("pools:\n  - subnet: 10.0.1.0/24\n    range: 10.0.1.100-10.0.1.199\n")
    proc = subprocess.Popen([sys.executable, "-m", "services.dhcp", "server", "--config", str(config), "--leases",
                             str(path), "--port", "6799"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    deadline = time.monotonic() + 20
    while "serving pools" not in out and proc.poll() is None and time.monotonic() < deadline:
        out += proc.stdout.readline()  # readiness: the server says it serves, after loading the journal
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=10)
    out += rest
    assert proc.returncode == 0 and "Traceback" not in out + err, err
    assert "with 3 lease(s)" in out
    assert len([line for line in out.splitlines() if "damaged lease record" in line]) == len(BAD)


# fuzzing the loader: whatever the file holds, it loads, keeps every good record and says the rest ----------

values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                   st.lists(st.integers(), max_size=2))
damaged_record = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b and b.strip()),
    st.builds(lambda n, field, value: good(n, **{field: value})[:-1], st.integers(0, 99),
              st.sampled_from(["ip", "client", "mac", "expires", "state", "hostname", "extra"]), values),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.integers(0, 20).map(lambda n: ("good", n)), damaged_record.map(lambda b: ("bad", b))),
                max_size=30))
def test_the_loader_keeps_every_good_record_whatever_else_the_journal_holds(tmp_path, entries):
    path = tmp_path / "fuzz.jsonl"
    lines = [good(x)[:-1] if kind == "good" else x for kind, x in entries]
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected = {A(f"10.0.1.{100 + n}") for kind, n in entries if kind == "good"}
    leases = LeaseJournal(path).load()
    # a fuzzed line may by chance be a good record too: never fewer than the good ones, never a bad type
    assert expected <= set(leases)
    for lease in leases.values():
        assert isinstance(lease.expires, int | float) and not isinstance(lease.expires, bool)
        assert all(isinstance(v, str) for v in (lease.client, lease.mac, lease.state, lease.hostname))
        lease.active(0.0)  # usable as the server uses it
