"""Capture in a real lab: ready before traffic, complete pcaps, filters, node interfaces, clear errors."""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

import pytest

from topology.capture import Capture
from topology.errors import WirelabError

pytestmark = pytest.mark.lab

LAB = textwrap.dedent("""
    name: sc-capture
    segments:
      lan1: {subnet: 10.62.1.0/24}
      lan2: {subnet: 10.62.2.0/24}
    nodes:
      r: {kind: router, interfaces: [lan1, lan2]}
      a: {interfaces: [lan1]}
      b: {interfaces: [lan1]}
      c: {interfaces: [lan2]}
""")


@pytest.fixture
def running(lab_up):
    return lab_up(LAB)


def test_capture_is_ready_before_traffic_and_complete_after(running, tmp_path: Path):
    b = running.address("b")
    with running.capture("lan1", tmp_path / "lan1.pcap") as cap:
        # the very first frames (ARP) are in the file: tcpdump was listening before we sent anything
        running.run("a", ["ping", "-c3", "-i0.2", "-W2", b], check=True)
    raw = (tmp_path / "lan1.pcap").read_bytes()
    magic, _major, _minor, _tz, _sig, _snap, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert magic == 0xA1B2C3D4 and linktype == 1  # a classic pcap of Ethernet frames: Wireshark opens it
    pkts = cap.packets()
    kinds = [p.sprintf("%ARP.op%") if p.haslayer("ARP") else p.sprintf("%ICMP.type%") for p in pkts]
    assert kinds[:2] == ["who-has", "is-at"]
    assert kinds.count("echo-request") == 3 and kinds.count("echo-reply") == 3
    # tcpdump's own count of what it wrote agrees with what scapy reads back: nothing lost at stop
    captured = next(int(line.split()[0]) for line in cap.stderr if line.endswith("packets captured"))
    assert captured == len(pkts)
    assert cap.proc.returncode == 0  # ended by SIGINT, cleanly


def test_filter_and_node_interface(running, tmp_path: Path):
    c = running.address("c")
    with running.capture("lan1", tmp_path / "arp.pcap", filter="arp") as only_arp, \
            Capture(running, "lan2", tmp_path / "c.pcap", node="c") as at_c:
        running.run("a", ["ip", "neigh", "flush", "all"], check=True)
        running.run("a", ["ping", "-c1", "-W2", c], check=True)
    assert only_arp.packets() and all(p.haslayer("ARP") for p in only_arp.packets())
    seen_by_c = at_c.packets()
    assert any(p.haslayer("ICMP") and p["IP"].dst == c for p in seen_by_c)
    assert at_c.where == "c eth0 (lan2)"


def test_capture_errors_are_one_clear_line(running, tmp_path: Path):
    with pytest.raises(WirelabError, match="has no segment 'nope'"):
        running.capture("nope", tmp_path / "x.pcap").start()
    with pytest.raises(WirelabError, match="did not start"):
        running.capture("lan1", tmp_path / "x.pcap", filter="not a (valid filter").start()
    with pytest.raises(WirelabError, match="node c has no interface on segment lan1"):
        Capture(running, "lan1", tmp_path / "y.pcap", node="c").start()


def test_an_empty_capture_reads_as_no_packets(running, tmp_path: Path):
    with running.capture("lan2", tmp_path / "quiet.pcap", filter="udp port 9") as cap:
        pass
    assert len(cap.packets()) == 0


def test_a_capture_that_dies_early_says_so(running, tmp_path: Path):
    cap = running.capture("lan1", tmp_path / "dies.pcap").start()
    cap._kill()  # as if tcpdump died halfway through a scenario
    cap.stop()
    assert cap.ended_early
    with running.capture("lan1", tmp_path / "lives.pcap") as whole:
        pass
    assert not whole.ended_early
