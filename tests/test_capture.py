"""Capture in a real lab: ready before traffic, complete pcaps, filters, node interfaces, clear errors."""

from __future__ import annotations

import struct
import textwrap
import time
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


# `wirelab capture`, as a user runs it: Ctrl-C keeps everything that was on the wire --------------------

def _cli_capture(running, tmp_path: Path, write: str, env: dict[str, str] | None = None) -> tuple[bytes, str]:
    """`wirelab capture LAB lan1 -w WRITE`, a ping from a to b, Ctrl-C 0.3 s later: (stdout, stderr)."""
    import os
    import signal
    import subprocess
    import threading
    import time

    from conftest import wirelab_exe

    proc = subprocess.Popen([wirelab_exe(), "capture", running.name, "lan1", "-w", write, "-f", "icmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, **(env or {})})
    stdout: list[bytes] = []
    reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)
    reader.start()
    said = b""
    while b"listening on" not in said:  # tcpdump's own word that it is capturing
        line = proc.stderr.readline()
        assert line, f"capture ended before it listened: {said.decode()}"
        said += line
    running.run("a", ["ping", "-c1", "-W2", running.address("b")], check=True)
    time.sleep(0.3)  # the ping's last frame left 0.3 s before Ctrl-C, as in the report
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
    rest = proc.stderr.read()
    assert proc.wait(10) == 0, (said + rest).decode()
    reader.join(5)
    return stdout[0], (said + rest).decode()


def _icmp_types(pcap: bytes) -> list[str]:
    import io

    import scapy.layers.all  # noqa: F401
    from scapy.utils import PcapReader

    return [p.sprintf("%ICMP.type%") for p in PcapReader(io.BytesIO(pcap)) if p.haslayer("ICMP")]


def test_cli_capture_to_a_file_keeps_the_last_packets_and_belongs_to_the_caller(running, tmp_path: Path):
    path = tmp_path / "last.pcap"
    _, said = _cli_capture(running, tmp_path, str(path), env={"SUDO_UID": "4242", "SUDO_GID": "4343"})
    assert _icmp_types(path.read_bytes()) == ["echo-request", "echo-reply"], said
    assert "2 packets captured" in said
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (4242, 4343)  # the user who ran sudo, not tcpdump's own user


def test_cli_capture_to_stdout_keeps_the_last_packets(running, tmp_path: Path):
    pcap, said = _cli_capture(running, tmp_path, "-")
    assert _icmp_types(pcap) == ["echo-request", "echo-reply"], said


RATED = textwrap.dedent("""
    name: sc-capture-rate
    segments:
      lan: {subnet: 10.67.0.0/24, rate: 1mbit}
    nodes:
      a: {interfaces: [lan]}
      b: {interfaces: [lan]}
      c: {interfaces: [lan]}
""")
# Both senders start at one agreed moment (a loaded machine may start one process a second late).
_BLAST = ("import socket,time\ns=socket.socket(2,2);n=0\ntime.sleep(max(0,{start}-time.time()));end={start}+1.0\n"
          "while time.time()<end:\n  s.sendto(b'x'*1000,('{dst}',9999));n+=1\nprint(n)\n")


def test_a_rated_segment_capture_shows_what_entered_the_bridge_not_what_each_host_got(lab_up, tmp_path: Path):
    """What the README says of captures on a rated segment: two hosts send b 1 Mbit/s each for a second
    over b's 1 Mbit/s link. The bridge sees both in full; b gets about half; what a's own shaper drops
    (a sends far faster than 1 Mbit/s) is seen nowhere."""
    import subprocess

    running = lab_up(RATED)
    dst = running.address("b")
    udp = "udp port 9999"
    with Capture(running, "lan", tmp_path / "bridge.pcap", filter=udp) as bridge, \
            Capture(running, "lan", tmp_path / "a.pcap", filter=udp, node="a") as at_a, \
            Capture(running, "lan", tmp_path / "b.pcap", filter=udp, node="b") as at_b:
        import time

        start = time.time() + 1.5
        senders = [running.popen(n, ["python3", "-c", _BLAST.format(dst=dst, start=start)], stdout=subprocess.PIPE,
                                 text=True) for n in ("a", "c")]
        written_by_a = int(senders[0].communicate(timeout=30)[0])
        senders[1].communicate(timeout=30)
    on_bridge, left_a, reached_b = bridge.packets(), at_a.packets(), at_b.packets()
    from_a = [p for p in on_bridge if p["IP"].src == running.address("a")]
    assert len(from_a) == len(left_a)  # what left a's shaper is what entered the bridge, frame for frame
    assert written_by_a > 10 * len(left_a)  # the rest a's own shaper dropped: in no capture at all
    assert 0 < len(reached_b) < 0.8 * len(on_bridge)  # b's shaper dropped frames the bridge capture shows


def test_tcp_frames_on_the_wire_are_mtu_sized_not_offload_sized(running, tmp_path: Path):
    # a bulk TCP transfer from a to c, through the router: every frame captured on either LAN is at most
    # the MTU plus the Ethernet header, as on a real LAN (with segmentation offloads on, a veth would pass
    # 64 KiB segments and the capture would show them whole)
    c = running.address("c")
    server = running.popen("c", ["iperf3", "-s", "-1", "-B", c])
    try:
        time.sleep(0.5)
        with running.capture("lan1", tmp_path / "lan1.pcap") as one, \
                running.capture("lan2", tmp_path / "lan2.pcap") as two:
            running.run("a", ["iperf3", "-c", c, "-n", "20M", "-l", "128K"], check=True, timeout=60)
    finally:
        server.wait(timeout=10)
    for cap in (one, two):
        sizes = [len(p) for p in cap.packets()]  # (at this speed tcpdump may miss some: they are not counted)
        assert len(sizes) > 1000
        assert max(sizes) == 1514  # full-sized segments: 1448 bytes of data, 32 of TCP, 20 of IP, 14 of Ethernet
