"""DHCP in real labs: the campus laptops through relays, renewal observed on the wire, leases that
survive a server restart. Leases here are seconds long so renewals happen during the test."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab

CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: dhcp-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)
    running = labs.up(lab)
    try:
        yield running
    finally:
        labs.down(lab.name)


def addr(running: labs.RunningLab, node: str, dev: str = "eth0") -> str:
    out = running.run(node, ["ip", "-4", "-o", "addr", "show", "dev", dev]).stdout.split()
    return out[out.index("inet") + 1] if "inet" in out else ""


def test_campus_laptops_get_leases_from_their_lans_pools_through_the_relays(campus):
    a1, a2 = addr(campus, "laptop1"), addr(campus, "laptop2")
    assert a1.startswith("10.0.1.1") and a1.endswith("/24"), a1  # 10.0.1.100-199
    assert a2.startswith("10.0.2.1") and a2.endswith("/24"), a2
    assert "default via 10.0.1.1 dev eth0" in campus.run("laptop1", ["ip", "route"]).stdout
    assert "default via 10.0.2.1 dev eth0" in campus.run("laptop2", ["ip", "route"]).stdout
    resolv = campus.run("laptop2", ["cat", "/etc/resolv.conf"]).stdout
    assert "nameserver 10.0.3.53" in resolv and "search poly.edu" in resolv
    # the lease works: across two routers to server1, and by name through the campus resolver
    assert "1 received" in campus.run("laptop1", ["ping", "-c1", "-W2", "10.0.3.10"]).stdout
    assert "1 received" in campus.run("laptop2", ["ping", "-c1", "-W3", "gaia.cs.umass.edu"]).stdout
    # relays stamped giaddr; the server's journal holds both leases, durable on disk
    assert "giaddr 10.0.1.1" in Path(campus.state.dir / "logs" / "r1-dhcp-relay.log").read_text()
    journal = campus.state.node_dir("dhcp") / "dhcp-leases.jsonl"
    leased = {json.loads(line)["ip"] for line in journal.read_text().splitlines()}
    assert {a1.split("/")[0], a2.split("/")[0]} <= leased


SHORT = textwrap.dedent("""
    name: {name}
    segments:
      lan: {{subnet: 10.64.1.0/24}}
      srv: {{subnet: 10.64.3.0/24}}
    nodes:
      r:
        kind: router
        interfaces: [{{segment: lan, address: 10.64.1.1}}, {{segment: srv, address: 10.64.3.1}}]
        services: [{{name: dhcp-relay, args: [--server, 10.64.3.60, --iface, eth0]}}]
      dhcpd:
        interfaces: [{{segment: srv, address: 10.64.3.60}}]
        services: [{{name: dhcp-server, args: [--config, "{config}"]}}]
      a: {{interfaces: [{{segment: lan, address: dhcp}}]}}
      b: {{interfaces: [{{segment: srv, address: dhcp}}]}}
""")


def short_lab(tmp_path: Path, name: str, lease: int = 6, renew: int = 2, rebind: int = 4) -> str:
    cfg = tmp_path / "server.yaml"
    cfg.write_text(f"lease_time: {lease}\npools:\n"
                   f"  - {{subnet: 10.64.1.0/24, range: 10.64.1.100-10.64.1.120, router: 10.64.1.1, "
                   f"renew: {renew}, rebind: {rebind}}}\n"
                   f"  - {{subnet: 10.64.3.0/24, range: 10.64.3.100-10.64.3.120, router: 10.64.3.1, "
                   f"renew: {renew}, rebind: {rebind}}}\n")
    return SHORT.format(name=name, config=cfg)


def dhcp_of(pcap) -> list:
    return [p for p in pcap if p.haslayer(DHCP)]


def mtype(p) -> int:
    return dict(o for o in p[DHCP].options if isinstance(o, tuple) and len(o) == 2)["message-type"]


def test_renewal_at_t1_is_unicast_and_keeps_the_address(lab_up, tmp_path):
    running = lab_up(short_lab(tmp_path, "dhcp-renew"))
    before = addr(running, "b")
    assert before.startswith("10.64.3.1")  # b is on the server's own LAN: no relay
    with running.capture("srv", tmp_path / "srv.pcap", "udp port 67 or udp port 68") as cap:
        time.sleep(2.6)  # T1 is 2 s after the last ACK: one renewal of b's must happen in this window
    renewals = [p for p in dhcp_of(cap.packets()) if p[BOOTP].op == 1 and mtype(p) == 3
                and p[IP].src == before.split("/")[0]]
    assert renewals, "no renewal from b on the servers LAN"
    r = renewals[0]
    assert r[IP].dst == "10.64.3.60" and r[BOOTP].ciaddr == before.split("/")[0]  # unicast, to the server
    acks = [p for p in dhcp_of(cap.packets()) if p[BOOTP].xid == r[BOOTP].xid and mtype(p) == 5]
    assert acks and acks[0][IP].dst == before.split("/")[0] and acks[0][UDP].dport == 68
    assert addr(running, "b") == before
    # laptop a behind the relay also renews: its renewal crosses the router as plain unicast
    assert addr(running, "a").startswith("10.64.1.1")


def test_leases_survive_a_server_restart(lab_up, tmp_path):
    running = lab_up(short_lab(tmp_path, "dhcp-restart", lease=30, renew=20, rebind=25))
    first = addr(running, "a")
    server = next(s for s in running.state.services if s.name == "dhcp-server")
    running.stop_service(server)
    client = next(s for s in running.state.services if s.name == "dhcp-client" and s.node == "a")
    os.killpg(client.pid, signal.SIGKILL)  # no RELEASE: the lease must come back from the server's disk
    running.run("a", ["ip", "addr", "flush", "dev", "eth0"], check=True)
    again = running.start_service("dhcpd", "dhcp-server", server.argv[server.argv.index("--config"):])
    running.wait_ready(again)
    log = Path(again.log).read_text()
    assert "with 2 lease(s)" in log, log
    rec = running.start_service("a", "dhcp-client", [], iface="eth0")
    running.wait_ready(rec)
    assert addr(running, "a") == first
