"""Scenarios in real labs: each passes on its lab, and each FAILS when the behaviour it shows is broken
on purpose (a hub turned into a switch, forwarding off, a seeded ARP cache, ...). An assertion that
cannot fail would be a defect, so every scenario has its breaking test here.

Labs are copies of campus and chain under other names, so these tests never clash with a lab a
person has up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import wirelab
from scapy.utils import rdpcap
from scenario_runs import copy_of, failed, run_scenario, write_copy

from scenarios.framework.catalog import catalog
from scenarios.framework.runner import run
from topology import lab as labs
from topology.loader import LABS_DIR

pytestmark = pytest.mark.lab


def test_every_campus_scenario_passes_and_writes_its_evidence(tmp_path: Path):
    campus = [s for s in catalog().values() if s.lab == "campus"]
    results = run(campus, tmp_path, lab=copy_of("campus", "sc-campus"))
    bad = {r.name: r.error or failed(r) for r in results if not r.passed}
    assert not bad, bad
    assert {r.name for r in results} >= {"sockets", "arp", "hub-vs-switch", "fragmentation", "broadcast-domain",
                                          "dhcp", "dns-iterative", "dns-negative-and-tcp"}
    for r in results:
        assert r.captures and all(Path(p).exists() for p in r.captures.values())
        assert r.ladders and all(Path(lad.svg).exists() for lad in r.ladders)
    sockets = next(r for r in results if r.name == "sockets")
    tcp_ladder = sockets.ladders[1].text
    assert tcp_ladder.index("[SYN] seq=0") < tcp_ladder.index("[SYN,ACK] seq=0 ack=1") < tcp_ladder.index("FIN")
    messages = sockets.ladders[2].text  # the dialogue: one arrow per message, not per segment
    assert (messages.index("SYN (to port 12000)") < messages.index("'hello over tcp' (14 bytes)")
            < messages.index("'HELLO OVER TCP' (14 bytes)") < messages.index("FIN"))
    assert len(rdpcap(sockets.captures["servers"])) >= 12  # UDP pair + handshake, data, teardown


def test_cli_runs_on_a_lab_file_writes_reports_and_exits_by_outcome(tmp_path: Path):
    good = write_copy("chain", "sc-cli-chain", tmp_path)
    out = tmp_path / "ok"
    proc = wirelab("scenario", "run", "traceroute", "--lab-file", str(good), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  traceroute" in proc.stdout and "probe TTL=1" in proc.stdout  # the ladder, in the terminal
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["scenarios"][0]["name"] == "traceroute"
    assert all(a["passed"] and a["packets"] for a in report["scenarios"][0]["assertions"])
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 3
    assert (out / "traceroute" / "lan-a.pcap").exists() and (out / "traceroute" / "ladder.svg").exists()

    swapped = write_copy("campus", "sc-cli-campus", tmp_path, swap)
    out = tmp_path / "bad"
    proc = wirelab("scenario", "run", "hub-vs-switch", "--lab-file", str(swapped), "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  hub-vs-switch" in proc.stdout
    assert "expected no unicast between client1 (10.0.1.11) and r1 (10.0.1.1) on client2-eth0; saw" in proc.stdout
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "2"
    assert "sc-cli-campus" not in wirelab("ps", "--json").stdout  # the lab is down again


def test_cli_user_errors_are_one_line():
    proc = wirelab("scenario", "run", "no-such-scenario")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no scenario named" in proc.stderr
    proc = wirelab("scenario", "run", "arp", "--out", "/proc/no-such-folder")  # found before any lab comes up
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot write results into" in proc.stderr
    proc = wirelab("scenario", "list")
    assert proc.returncode == 0 and all(n in proc.stdout for n in ("sockets", "traceroute", "chain", "campus"))


def swap(data: dict) -> None:
    """The hub becomes a switch and the switch a hub."""
    data["segments"]["lan1"]["kind"], data["segments"]["lan2"]["kind"] = "hub", "switch"


# --- each scenario, broken on purpose, fails ----------------------------------------------------------


def test_sockets_fails_when_the_servers_are_gone(tmp_path: Path):
    def stop_servers(running: labs.RunningLab) -> None:
        for name in ("uppercase-udp", "uppercase-tcp"):
            running.stop_service(running.service("server1", name))

    why = failed(run_scenario("sockets", tmp_path, prepare=stop_servers))
    assert set(why) == {
        "UDP: server1 answers the datagram with the sentence in upper case",
        "TCP three-way handshake (SYN, SYN-ACK, ACK) client1 > server1:12000 precedes the data",
        "TCP: the byte stream carries the sentence to server1 and the upper-case sentence back",
        "TCP teardown: client1 and server1 each send a FIN that the other ACKs",
    }
    assert why["TCP three-way handshake (SYN, SYN-ACK, ACK) client1 > server1:12000 precedes the data"].startswith(
        "expected SYN-ACK server1 (10.0.3.10) > client1 (10.0.1.11) after SYN")
    assert why["UDP: server1 answers the datagram with the sentence in upper case"].startswith(
        "after client 'hello over udp', expected the server to say 'HELLO OVER UDP'; it said nothing more")
    # the client's SYNs are answered by RST: a connection with no byte from the client
    assert why["TCP: the byte stream carries the sentence to server1 and the upper-case sentence back"].startswith(
        "expected the client to say 'hello over tcp'; it said nothing more")


def test_sockets_fails_when_the_server_answers_in_lower_case(tmp_path: Path):
    def echo_instead(running: labs.RunningLab) -> None:
        # port 12000 now reaches server1's echo servers (port 7): the sentence comes back unchanged
        assert {s.name for s in running.services("server1")} >= {"echo-udp", "echo-tcp"}
        for proto in ("udp", "tcp"):
            running.run("server1", ["iptables", "-t", "nat", "-A", "PREROUTING", "-p", proto, "--dport", "12000",
                                    "-j", "REDIRECT", "--to-ports", "7"], check=True)

    why = failed(run_scenario("sockets", tmp_path, prepare=echo_instead))
    assert set(why) == {"UDP: server1 answers the datagram with the sentence in upper case",
                        "TCP: the byte stream carries the sentence to server1 and the upper-case sentence back"}
    assert why["TCP: the byte stream carries the sentence to server1 and the upper-case sentence back"].startswith(
        "after client 'hello over tcp', expected the server to say 'HELLO OVER TCP'; its next message was "
        "'hello over tcp' (on 10.0.1.11:")


def test_arp_fails_when_the_cache_is_seeded(tmp_path: Path):
    def seed(running: labs.RunningLab) -> None:
        mac = running.interface("client2", "lan1").mac
        running.run("client1", ["ip", "neigh", "replace", running.address("client2"), "lladdr", mac,
                                "dev", "eth0", "nud", "permanent"], check=True)

    why = failed(run_scenario("arp", tmp_path, prepare=seed))
    assert list(why.values()) == ["expected ARP who-has 10.0.1.12 tell client1 (10.0.1.11); saw none"]


def test_traceroute_fails_when_r2_stops_forwarding(tmp_path: Path):
    def no_forwarding(running: labs.RunningLab) -> None:
        running.run("r2", ["sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)

    why = failed(run_scenario("traceroute", tmp_path, prepare=no_forwarding))
    trace = next(w for t, w in why.items() if t.startswith("traceroute"))
    assert trace == "expected ICMP time-exceeded from r2 (10.10.12.2) after r1; saw none"
    assert any(t.startswith("ping") for t in why) and any("TTL 61" in t for t in why)


def test_hub_vs_switch_fails_when_the_hub_and_switch_swap(tmp_path: Path):
    why = failed(run_scenario("hub-vs-switch", tmp_path, lab=copy_of("campus", "sc-swapped", swap)))
    assert set(why) == {
        "on the hub (lan2), client4 sees the unicast frames between client3 and r2",
        "on the switch (lan1), once addresses are learned, client2 sees none of the unicast frames between "
        "client1 and r1",
    }


def test_fragmentation_fails_without_jumbo_frames(tmp_path: Path):
    def standard_mtu(data: dict) -> None:
        data["segments"]["servers"]["mtu"] = 1500  # server1 now fragments itself, and refuses DF outright

    why = failed(run_scenario("fragmentation", tmp_path, lab=copy_of("campus", "sc-frag-1500", standard_mtu)))
    assert "the datagram leaves server1 whole on its jumbo-frame LAN" in why
    assert why["with DF set, r3 drops the datagram and answers ICMP fragmentation-needed"].startswith(
        "expected UDP datagram server1 (10.0.3.10) > client1 (10.0.1.11):7")


def test_fragmentation_fails_when_r3_keeps_quiet_about_df(tmp_path: Path):
    def silence(running: labs.RunningLab) -> None:
        running.run("r3", ["iptables", "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed",
                           "-j", "DROP"], check=True)

    why = failed(run_scenario("fragmentation", tmp_path, prepare=silence))
    assert list(why) == ["with DF set, r3 drops the datagram and answers ICMP fragmentation-needed"]
    assert "expected ICMP fragmentation-needed from r3 (10.0.3.1) to server1 (10.0.3.10)" in next(iter(why.values()))


def test_broadcast_domain_fails_when_r1_bridges_instead_of_routing(tmp_path: Path):
    def bridge(running: labs.RunningLab) -> None:
        for cmd in (["ip", "link", "add", "br0", "type", "bridge"], ["ip", "link", "set", "eth0", "master", "br0"],
                    ["ip", "link", "set", "eth1", "master", "br0"], ["ip", "link", "set", "br0", "up"]):
            running.run("r1", cmd, check=True)

    why = failed(run_scenario("broadcast-domain", tmp_path, prepare=bridge))
    assert list(why) == ["the broadcast does not cross the router onto backbone"]
    assert why["the broadcast does not cross the router onto backbone"].startswith(
        "expected no copy of client1's broadcast on backbone; saw 1")


def test_a_lab_already_up_is_used_and_left_up(lab_up, tmp_path: Path):
    lab = copy_of("chain", "sc-left-up")
    running = lab_up(lab)
    [result] = run([catalog()["traceroute"]], tmp_path, lab=lab)
    assert result.passed, result.error or failed(result)
    assert running.run("h1", ["true"]).returncode == 0  # still up: the runner did not take it down


def zone_with_ttl_zero(tmp_path: Path, zone: str) -> str:
    """A copy of one of campus's zones in which every record, and the SOA's negative-caching MINIMUM, is 0 s."""
    text = (LABS_DIR / "campus.d" / "dns" / zone).read_text().replace("$TTL 3600", "$TTL 0")
    path = tmp_path / zone
    path.write_text(text.replace("604800 300 )", "604800 0 )"))
    return str(path)


def serve_zones(node: str, *zones: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["nodes"][node]["services"] = [{"name": "dns-auth", "args": [a for z in zones for a in ("--zone", z)]}]
    return edit


def test_dns_iterative_fails_when_the_answer_may_not_be_cached(tmp_path: Path):
    zones = [str(LABS_DIR / "campus.d" / "dns" / "umass.edu.zone"), zone_with_ttl_zero(tmp_path, "cs.umass.edu.zone")]
    why = failed(run_scenario("dns-iterative", tmp_path, lab=copy_of("campus", "sc-dns-ttl0",
                                                                    serve_zones("umass-dns", *zones))))
    assert set(why) == {"second lookup: answered from the cache, no query leaves the local DNS server",
                        "second lookup: no DNS packet from the local server reaches the internet segment"}
    assert why["second lookup: answered from the cache, no query leaves the local DNS server"].startswith(
        "expected no a query from local-dns (10.0.3.53) to another server on servers; saw")


def test_dns_negative_fails_when_the_absence_may_not_be_cached(tmp_path: Path):
    zone = zone_with_ttl_zero(tmp_path, "crepes.fr.zone")
    why = failed(run_scenario("dns-negative-and-tcp", tmp_path,
                              lab=copy_of("campus", "sc-dns-neg0", serve_zones("crepes-dns", zone))))
    assert list(why) == ["asked again: answered from the negative cache, no query upstream"]


def test_dhcp_fails_when_the_renewal_gets_no_answer(tmp_path: Path):
    def drop_forwarded_replies(running: labs.RunningLab) -> None:
        # the server's unicast ACK to a renewing client is forwarded by r1; its relayed replies are not
        running.run("r1", ["iptables", "-A", "FORWARD", "-p", "udp", "--dport", "68", "-j", "DROP"], check=True)

    why = failed(run_scenario("dhcp", tmp_path, prepare=drop_forwarded_replies))
    assert list(why) == ["laptop1 renews by unicast: REQUEST 10.0.1.100 > 10.0.3.60, ACK 10.0.3.60 > 10.0.1.100"]
    assert next(iter(why.values())).startswith("expected DHCP ACK 10.0.3.60 > 10.0.1.100")
