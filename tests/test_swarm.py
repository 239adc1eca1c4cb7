"""The swarm backend for real, on a swarm of three local hosts (dockerds in namespaces of their own)
made by the fixture and removed after: campus spread over the hosts with every scenario passing,
segments that behave as one Ethernet across hosts, merged captures, the MTU check, a host that dies.

Needs root, dockerd and the node image (`make images`); skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from dockerd import unavailable
from scenario_runs import copy_of

from topology import lab as labs
from topology.backends.swarm_capture import merge
from topology.errors import WirelabError
from topology.loader import loads

docker = pytest.importorskip("docker")

_reason = unavailable("swarm lab tests")
pytestmark = [pytest.mark.docker, pytest.mark.lab, pytest.mark.skipif(_reason is not None, reason=_reason or "")]


def test_merge_keeps_a_frame_seen_on_two_hosts_once():
    a, b = b"\x01" * 60, b"\x02" * 60
    parts = {"h1": [(1.000, a), (1.500, a), (2.000, b)], "h2": [(1.0004, a), (2.0001, b), (3.0, a)]}
    # a at 1.0 (h2's copy dropped), a again at 1.5 (a new frame: same host), b once, a at 3.0 (long after)
    assert merge(parts) == [(1.000, a), (1.500, a), (2.000, b), (3.0, a)]


def test_merge_orders_frames_by_time_across_hosts():
    parts = {"h1": [(1.0, b"x"), (3.0, b"z")], "h2": [(2.0, b"y")]}
    assert [d for _, d in merge(parts)] == [b"x", b"y", b"z"]


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    """Three local hosts; h2 is reached as a remote host is (a helper container for its namespaces)."""
    from topology.backends.docker import IMAGE
    from topology.backends.swarm_hosts import LOCAL_FILE, load_swarm, local_down, local_up
    from topology.progress import Progress

    if LOCAL_FILE.exists():
        pytest.skip(f"a local swarm is already up ({LOCAL_FILE}); these tests make their own")
    try:
        local_up(3, IMAGE, Progress(quiet=True))
        described = json.loads(LOCAL_FILE.read_text())
        described["hosts"][1]["helper"] = True
        path = tmp_path_factory.mktemp("swarm") / "swarm.json"
        path.write_text(json.dumps(described))
        os.environ["WIRELAB_SWARM"] = str(path)
        yield load_swarm(path)
    finally:
        local_down(Progress(quiet=True))
        os.environ.pop("WIRELAB_SWARM", None)
    assert_nothing_left()


def assert_nothing_left() -> None:
    """No local host's files, namespaces or processes remain."""
    from topology.backends.swarm_hosts import LOCAL_DATA, LOCAL_DIR

    assert not LOCAL_DIR.exists() and not LOCAL_DATA.exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "wlswarm" not in netns
    mark = str(LOCAL_DIR).encode()
    assert [e.name for e in os.scandir("/proc") if e.name.isdigit() and _cmdline_has(e.name, mark)] == []


def _containers(host_url: str, lab: str) -> set[str]:
    api = docker.APIClient(base_url=host_url)
    return {c["Labels"]["wirelab.node"] for c in api.containers(all=True, filters={"label": f"wirelab.lab={lab}"})}


@pytest.fixture(scope="module")
def campus(swarm):
    def pin(data: dict) -> None:
        # the hub's members on two hosts (client4 alone), client1 away from client2; the rest spread
        for node, host in {"client1": "h3", "client2": "h2", "client3": "h1", "r2": "h1", "client4": "h2"}.items():
            data["nodes"][node]["host"] = host

    lab = copy_of("campus", "swc-t1", pin)
    labs.down(lab.name)
    running = labs.up(lab, backend="swarm")
    yield running
    labs.down(lab.name)


def test_nodes_are_spread_over_the_hosts_and_pinned_where_asked(swarm, campus):
    placed = {h.name: _containers(h.url, campus.name) for h in swarm.hosts}
    assert set().union(*placed.values()) == set(campus.nodes)
    assert all(len(nodes) >= len(campus.nodes) // 3 - 2 for nodes in placed.values()), placed
    assert "client1" in placed["h3"] and "client4" in placed["h2"]


def test_interfaces_have_the_lab_files_name_mac_mtu_and_address(campus):
    for node in ("r3", "client1", "dhcp"):
        for iface in campus.nodes[node].interfaces:
            out = campus.run(node, ["ip", "-o", "link", "show", "dev", iface.name], check=True).stdout
            assert f"link/ether {iface.mac}" in out
            assert f"mtu {campus.segments[iface.segment].mtu} " in out
            addrs = campus.run(node, ["ip", "-o", "-4", "addr", "show", "dev", iface.name], check=True).stdout
            assert [line.split()[3] for line in addrs.splitlines()] == [str(iface.address)]


def test_every_campus_scenario_passes_across_three_hosts(campus, tmp_path: Path):
    from scenarios.framework.catalog import catalog
    from scenarios.framework.runner import run

    mine = [sc for sc in catalog().values() if sc.lab == "campus"]
    results = run(mine, tmp_path, backend="swarm", lab=campus.lab)
    failed = {r.name: r.error or [(o.text, o.why) for o in r.outcomes if not o.passed] for r in results if not r.passed}
    assert failed == {}
    assert len(results) == len(mine)


def test_a_segment_capture_holds_each_frame_once_from_every_host(campus, tmp_path: Path):
    # client1 and client2 on two hosts: every echo crosses between two hosts' bridges, seen on both
    place = campus.state.objects["placement"]
    assert place["client1"] != place["client2"]
    # h3's part is captured with nsenter, h2's (a "remote" host) through a helper container there
    parts = json.loads(campus.backend.segment_argv(campus.state, "lan1", ["true"])[3])
    assert parts["h3"][0] == "nsenter" and parts["h2"][:2] == ["docker", "-H"] and "run" in parts["h2"]
    with campus.capture("lan1", tmp_path / "lan1.pcap", filter="icmp") as cap:
        campus.run("client1", ["ping", "-c3", "-i0.2", "10.0.1.12"], check=True)
    from scapy.layers.inet import ICMP

    kinds = [p[ICMP].type for p in cap.packets() if ICMP in p]
    assert kinds == [8, 0, 8, 0, 8, 0]


def test_a_broadcast_reaches_every_host_of_the_segment(campus, tmp_path: Path):
    # a broadcast from client1 reaches a node of lan1 on another host
    from topology.capture import Capture

    place = campus.state.objects["placement"]
    other = next(n.name for n, _ in campus.lab.members("lan1") if place[n.name] != place["client1"])
    with Capture(campus, "lan1", tmp_path / "other.pcap", filter="icmp", node=other) as cap:
        campus.run("client1", ["ping", "-b", "-c2", "-i0.2", "-W1", "10.0.1.255"])
    assert len([p for p in cap.packets() if p.haslayer("ICMP")]) == 2


def test_a_hub_floods_unicast_to_every_host(campus, tmp_path: Path):
    # lan2 is a hub: client4 sees client3's unicast to r2, client4 on a host neither of them is on
    from topology.capture import Capture

    place = campus.state.objects["placement"]
    assert place["client4"] not in {place["client3"], place["r2"]}, place

    with Capture(campus, "lan2", tmp_path / "c4.pcap", filter="icmp and host 10.0.2.1", node="client4") as cap:
        campus.run("client3", ["ping", "-c2", "-i0.2", "10.0.2.1"], check=True)
    from scapy.layers.inet import ICMP

    assert [p[ICMP].type for p in cap.packets() if ICMP in p] == [8, 0, 8, 0]


def test_a_stopped_command_stops_inside_its_node(campus):
    proc = campus.popen("server1", ["sleep", "57"])
    deadline = time.monotonic() + 10
    while not any(p.command == "sleep 57" for p in campus.processes("server1")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # to the host-side command: passed on into the node
    assert proc.wait(20) != 0
    assert not any(p.command == "sleep 57" for p in campus.processes("server1"))


MTU_LAB = textwrap.dedent("""
    name: swc-mtu
    segments:
      jumbo: {subnet: 10.62.1.0/24, mtu: 9200}
    nodes:
      a: {interfaces: [jumbo], host: h1}
      b: {interfaces: [jumbo], host: h2}
""")


def test_a_segment_mtu_the_underlay_cannot_carry_is_refused(swarm):
    lab = loads(MTU_LAB, "swc-mtu.yaml")
    with pytest.raises(WirelabError, match=r"segment jumbo asks for MTU 9200.*at least 9250"):
        labs.up(lab, backend="swarm")
    assert all(_containers(h.url, "swc-mtu") == set() for h in swarm.hosts)


CRASH_LAB = textwrap.dedent("""
    name: swc-crash
    segments:
      lan: {subnet: 10.63.1.0/24}
    nodes:
      a: {interfaces: [lan], host: h1, services: [echo-udp]}
      b: {interfaces: [lan], host: h2, services: [echo-udp]}
      c: {interfaces: [lan], host: h3, services: [echo-udp]}
""")


def test_zz_a_host_that_dies_is_named_and_down_clears_the_others(swarm):
    """Last: the swarm has lost a host afterwards."""
    from topology.backends.swarm_hosts import local_kill

    labs.down("swc-t1")  # campus first: its hosts are all needed to remove it
    running = labs.up(loads(CRASH_LAB, "swc-crash.yaml"), backend="swarm")
    assert local_kill("h3") > 0
    states = {rec.node: running.service_status(rec).state for rec in running.services()}
    assert states == {"a": "running", "b": "running", "c": "gone"}
    with pytest.raises(WirelabError, match=r"swc-crash is removed from every host that answers; not from: h3"):
        labs.down("swc-crash")
    assert _containers(swarm.hosts[0].url, "swc-crash") == set()
    assert _containers(swarm.hosts[1].url, "swc-crash") == set()
    from topology.state import LabState

    state = LabState.load("swc-crash")
    assert state is not None  # kept, so a later `down` can finish once h3 is back
    import shutil

    shutil.rmtree(state.dir)  # the fixture removes the whole swarm, h3's leftovers with it


def _cmdline_has(pid: str, mark: bytes) -> bool:
    try:
        return mark in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
