"""The scenario framework without a lab: assertions over crafted packets, ladders, report files."""

from __future__ import annotations

import json
from ipaddress import IPv4Interface
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from scenarios.framework import ladder, report
from scenarios.framework.assertions import Absent, First, InOrder, Present, Step
from scenarios.framework.catalog import catalog, select
from scenarios.framework.describers.dhcp import dhcp
from scenarios.framework.describers.dns import dns
from scenarios.framework.frames import Frame, Host, Names, Traffic, describe
from scenarios.framework.match import arp_reply, arp_request, between, icmp, ip, payload, udp
from scenarios.framework.runner import ScenarioResult
from scenarios.framework.textbook import (
    EchoPairs,
    Fragments,
    TcpTeardown,
    fit_mtu,
    more_fragments_flags,
    offsets_in_eighths,
    one_identification,
    reassembles_to,
    tcp_handshake,
)
from scenarios.framework.traffic import data
from topology.errors import WirelabError
from topology.model import Interface, Node

A, B, R = Host("a", "10.0.1.10", "02:00:00:00:00:0a"), Host("b", "10.0.2.10", "02:00:00:00:00:0b"), \
    Host("r", "10.0.1.1", "02:00:00:00:00:01")
LAPTOP_MAC, SERVER = "02:00:00:00:00:1a", Host("srv", "10.0.3.60", "02:00:00:00:00:3c")


def node(name: str, segment: str, address: str | None, mac: str) -> Node:
    """A node with one interface as the lab model has it (address None: on DHCP)."""
    iface = Interface("eth0", segment, IPv4Interface(address) if address else None, dhcp=address is None, mac=mac)
    return Node(name, interfaces=[iface])


NODES = {n.name: n for n in (node("a", "lan1", "10.0.1.10/24", A.mac), node("b", "lan2", "10.0.2.10/24", B.mac),
                             node("r", "lan1", "10.0.1.1/24", R.mac), node("laptop", "lan1", None, LAPTOP_MAC),
                             node("srv", "lan3", "10.0.3.60/24", SERVER.mac))}


def wire(pkt):
    """The packet as a capture would give it back: built to bytes and decoded again."""
    if pkt[Ether].dst is None:
        pkt = pkt.copy()
        pkt[Ether].dst = "02:00:00:00:00:99"
    pkt[Ether].src = pkt[Ether].src or "02:00:00:00:00:98"
    return Ether(bytes(pkt))


def traffic(*pkts, capture: str = "lan1", marks: dict | None = None) -> Traffic:
    frames = [Frame(capture, i + 1, 1000.0 + i, wire(p)) for i, p in enumerate(pkts)]
    return Traffic({capture: frames}, Names(NODES), marks or {})


def seg(src: Host, dst: Host, flags: str, seq: int, ack: int = 0, data: bytes = b"", sport: int = 40000,
        dport: int = 12000):
    if src is B:
        sport, dport = dport, sport
    pkt = Ether() / IP(src=src.ip, dst=dst.ip) / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
    return pkt / Raw(data) if data else pkt


def conversation(*, data_first: bool = False, no_synack: bool = False, client_fin_acked: bool = True):
    pkts = [seg(A, B, "S", 100)]
    if data_first:
        pkts.append(seg(A, B, "PA", 101, 0, b"early"))
    if not no_synack:
        pkts.append(seg(B, A, "SA", 500, 101))
    pkts += [seg(A, B, "A", 101, 501), seg(A, B, "PA", 101, 501, b"hello"), seg(B, A, "PA", 501, 106, b"HELLO"),
             seg(A, B, "FA", 106, 506), seg(B, A, "FA", 506, 107 if client_fin_acked else 106),
             seg(A, B, "A", 107, 507)]
    return pkts


def test_handshake_passes_in_order_and_rests_on_its_four_packets():
    out = tcp_handshake("lan1", A, B, 12000).evaluate(traffic(*conversation()))
    assert out.passed, out.why
    assert [f.number for f in out.frames] == [1, 2, 3, 4]


def test_handshake_fails_without_syn_ack_naming_what_was_missing():
    out = tcp_handshake("lan1", A, B, 12000).evaluate(traffic(*conversation(no_synack=True)))
    assert not out.passed
    assert out.why == "expected SYN-ACK b (10.0.2.10) > a (10.0.1.10) after SYN; saw none"
    assert out.frames  # it shows the packets it looked at


def test_handshake_fails_when_data_comes_before_the_handshake_completes():
    out = tcp_handshake("lan1", A, B, 12000).evaluate(traffic(*conversation(data_first=True)))
    assert not out.passed
    assert "came before ACK" in out.why


def test_teardown_needs_each_fin_acknowledged():
    assert TcpTeardown("lan1", A, B, 12000).evaluate(traffic(*conversation())).passed
    out = TcpTeardown("lan1", A, B, 12000).evaluate(traffic(*conversation(client_fin_acked=False)))
    assert not out.passed and "to ACK a's FIN (ack=107)" in out.why


def test_in_order_steps_use_their_short_names():
    pkts = [Ether() / IP(src=R.ip, dst=A.ip) / ICMP(type=11)]
    steps = [Step(icmp(R, A, type=11), "r"), Step(icmp(B, A, type=11).named("ICMP time-exceeded from b"))]
    out = InOrder("lan1", steps, "path order").evaluate(traffic(*pkts))
    assert out.why == "expected ICMP time-exceeded from b after r; saw none"


def test_absent_and_present_and_windows():
    pkts = [Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src=A.ip, dst="255.255.255.255") / UDP(dport=9) / Raw(b"x")]
    t = traffic(*pkts, marks={"later": 2000.0})
    assert not Absent("lan1", udp(dport=9), "none").evaluate(t).passed
    assert Absent("lan1", udp(dport=9), "none", after="later").evaluate(t).passed
    assert Present("lan1", udp(dport=9), "some").evaluate(t).passed
    out = Present("lan1", udp(dport=9), "some", count=2).evaluate(t)
    assert not out.passed and out.why.endswith("saw 1")


def test_absent_with_a_given_fails_when_the_traffic_it_is_about_never_came():
    ping = Ether() / IP(src=A.ip, dst=B.ip) / ICMP(type=8)
    claim = Absent("lan1", arp_request(A, B), "no ARP", given=icmp(A, B, type=8))
    assert claim.evaluate(traffic(ping)).passed
    out = claim.evaluate(traffic(Ether() / IP(src=B.ip, dst=A.ip) / ICMP(type=0)))
    assert not out.passed and out.why.startswith("expected ICMP echo request from a (10.0.1.10) to b")
    assert not Absent("lan1", arp_request(A, B), "no ARP").evaluate(traffic()).why.startswith("expected")


def test_first_packet_of_udp_is_data():
    dgram = Ether() / IP(src=A.ip, dst=B.ip) / UDP(sport=5, dport=12000) / Raw(b"hello")
    first = First("lan1", between(A, B), udp(A, B, dport=12000) & payload(b"hello"), "no handshake")
    assert first.evaluate(traffic(dgram)).passed
    assert not first.evaluate(traffic(seg(A, B, "S", 1), dgram)).passed


def test_arp_matches():
    who = Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=A.ip, pdst=R.ip)
    at = Ether() / ARP(op=2, psrc=R.ip, pdst=A.ip, hwsrc=R.mac)
    out = InOrder("lan1", [arp_request(A, R), arp_reply(R, A), ip(A, R)], "arp first").evaluate(
        traffic(who, at, Ether() / IP(src=A.ip, dst=R.ip) / ICMP()))
    assert out.passed
    assert not arp_request(A, B)(who)


def test_echo_pairs_match_id_and_sequence():
    req = [Ether() / IP(src=A.ip, dst=B.ip) / ICMP(type=8, id=7, seq=s) for s in (1, 2)]
    rep = Ether() / IP(src=B.ip, dst=A.ip) / ICMP(type=0, id=7, seq=1)
    out = EchoPairs("lan1", A, B, 2).evaluate(traffic(req[0], rep, req[1]))
    assert not out.passed and "id=7 seq=2" in out.why
    rep2 = Ether() / IP(src=B.ip, dst=A.ip) / ICMP(type=0, id=7, seq=2)
    assert EchoPairs("lan1", A, B, 2).evaluate(traffic(req[0], rep, req[1], rep2)).passed


def frags(size: int = 2992, mtu: int = 1500, df_id: int = 4242):
    dgram = IP(src=A.ip, dst=B.ip, id=df_id) / UDP(sport=5, dport=7) / Raw(data(size))
    return [Ether() / f for f in fragment(dgram, fragsize=mtu - 20)]


def test_fragment_checks_pass_on_a_real_fragmentation():
    pieces = frags()
    assert [p[IP].frag for p in pieces] == [0, 185, 370]  # the textbook's offsets, in 8-byte units
    t = traffic(*pieces)
    for check in (fit_mtu(1500), offsets_in_eighths, more_fragments_flags, one_identification,
                  reassembles_to(data(2992))):
        out = Fragments("lan1", A, B, "x", check).evaluate(t)
        assert out.passed, out.why


def test_fragment_checks_catch_each_fault():
    pieces = frags()
    assert not Fragments("lan1", A, B, "x", fit_mtu(1000)).evaluate(traffic(*pieces)).passed
    lost = traffic(pieces[0], pieces[2])
    assert "offset 370" in Fragments("lan1", A, B, "x", offsets_in_eighths).evaluate(lost).why
    assert not Fragments("lan1", A, B, "x", reassembles_to(data(2992))).evaluate(lost).passed
    other = frags(df_id=99)
    mixed = traffic(pieces[0], other[1], pieces[2])
    assert not Fragments("lan1", A, B, "x", one_identification).evaluate(mixed).passed
    no_mf = pieces[1].copy()
    no_mf[IP].flags = 0
    assert "lacks MF" in Fragments("lan1", A, B, "x", more_fragments_flags).evaluate(
        traffic(pieces[0], no_mf, pieces[2])).why
    whole = Ether() / IP(src=A.ip, dst=B.ip) / UDP() / Raw(data(100))
    assert "saw none" in Fragments("lan1", A, B, "x", fit_mtu(1500)).evaluate(traffic(whole)).why


def test_ladder_text_and_svg_name_nodes_and_relative_sequence_numbers():
    t = traffic(*conversation())
    found = ladder.arrows(t.frames("lan1"), t.names)
    assert found[0].src == "a" and found[0].dst == "b"
    assert found[0].label == "[SYN] seq=0" and found[1].label == "[SYN,ACK] seq=0 ack=1"
    text = ladder.text(found, ladder.columns_for(found, ["a", "b"]), "handshake")
    assert "[SYN] seq=0" in text and "-->|" in text and "|<--" in text
    svg = ladder.svg(found, ["a", "b"], "handshake")
    ET.fromstring(svg)  # well-formed


def result(passed: bool) -> ScenarioResult:
    t = traffic(*conversation(no_synack=not passed))
    r = ScenarioResult("demo", "lab1", "a demo", "netns", names=t.names)
    r.outcomes.append(tcp_handshake("lan1", A, B, 12000).evaluate(t))
    r.outcomes.append(Absent("lan1", udp(), "no UDP").evaluate(t))
    return r


def test_report_files_parse_and_name_failures(tmp_path: Path):
    results = [result(True), result(False)]
    results[1].name = "broken"
    report.write(results, tmp_path, "netns")
    data_ = json.loads((tmp_path / "report.json").read_text())
    assert data_["passed"] is False
    assert [s["passed"] for s in data_["scenarios"]] == [True, False]
    failed = data_["scenarios"][1]["assertions"][0]
    assert failed["passed"] is False and "SYN-ACK" in failed["why"] and failed["packets"]
    assert {"capture", "frame", "summary"} <= set(failed["packets"][0])
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert "expected SYN-ACK" in failure.get("message") and "[lan1 #" in failure.text
    text = (tmp_path / "summary.txt").read_text()
    assert "broken (lab1):" in text and "expected SYN-ACK" in text and "1/2 scenarios passed" in text


def test_a_scenario_without_assertions_does_not_pass():
    assert not ScenarioResult("x", "lab", "", "netns").passed


def test_catalog_finds_the_course_scenarios_with_their_labs():
    found = catalog()
    assert {"sockets", "arp", "traceroute", "hub-vs-switch", "fragmentation", "broadcast-domain", "dhcp",
            "dns-iterative", "dns-negative-and-tcp"} <= set(found)
    assert found["arp"].module.__name__ == "scenarios.course.arp"  # the course's content, apart from the framework
    assert found["traceroute"].lab == "chain" and found["sockets"].lab == "campus"
    assert all(s.about for s in found.values())
    assert {s.name for s in select(lab="campus")} >= {"sockets", "arp", "hub-vs-switch"}
    with pytest.raises(WirelabError, match="no scenario named 'nope'"):
        select(["nope"])
    with pytest.raises(WirelabError, match="no scenario uses lab"):
        select(lab="nolab")


def dhcp_msg(kind: int, src: str, dst: str, sport: int = 68, dport: int = 67, eth_src: str = LAPTOP_MAC,
             eth_dst: str = "ff:ff:ff:ff:ff:ff", yiaddr: str = "0.0.0.0", giaddr: str = "0.0.0.0"):
    chaddr = bytes.fromhex(LAPTOP_MAC.replace(":", ""))
    return (Ether(src=eth_src, dst=eth_dst) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport)
            / BOOTP(op=1 if kind in (1, 3) else 2, xid=0x1234abcd, chaddr=chaddr, yiaddr=yiaddr, giaddr=giaddr)
            / DHCP(options=[("message-type", kind), "end"]))


def test_relayed_dhcp_is_decoded_and_described_in_the_course_words():
    relayed = wire(dhcp_msg(1, R.ip, SERVER.ip, sport=67, dport=67, eth_src=R.mac, eth_dst=SERVER.mac,
                            giaddr=R.ip))
    assert DHCP in relayed  # relay to server, port 67 to port 67
    names = Names(NODES)
    assert describe(relayed, names) == "r (10.0.1.1) > srv (10.0.3.60): DHCP DISCOVER xid 0x1234abcd giaddr 10.0.1.1"
    assert dhcp("DISCOVER", R, SERVER, giaddr=R.ip, xid=0x1234abcd)(relayed)
    assert not dhcp("OFFER")(relayed) and dhcp()(relayed)
    built = IP() / UDP() / BOOTP()  # decoding 67>67 leaves what scapy builds alone
    assert (built[UDP].sport, built[UDP].dport) != (67, 67)


def test_a_host_on_dhcp_is_named_by_its_mac_and_by_its_lease():
    names = Names(NODES)
    discover = wire(dhcp_msg(1, "0.0.0.0", "255.255.255.255"))
    assert describe(discover, names).startswith("laptop (0.0.0.0) > 255.255.255.255: DHCP DISCOVER")
    found = ladder.arrows([Frame("lan1", 1, 1.0, discover)], names)
    assert (found[0].src, found[0].dst) == ("laptop", ladder.BROADCAST)
    assert found[0].label.endswith("from 0.0.0.0")
    # forwarded by r: r's MAC, an unknown source address; r is not the sender
    routed = wire(Ether(src=R.mac, dst=SERVER.mac) / IP(src="10.0.1.100", dst=SERVER.ip) / ICMP())
    assert describe(routed, names).startswith("10.0.1.100 > srv")
    ack = wire(dhcp_msg(5, R.ip, "10.0.1.100", sport=67, dport=68, eth_src=R.mac, eth_dst=LAPTOP_MAC,
                        yiaddr="10.0.1.100"))
    names.learn([ack])
    assert describe(routed, names).startswith("laptop (10.0.1.100) > srv")


def test_dns_predicate_and_words():
    q = wire(Ether() / IP(src=A.ip, dst=R.ip) / UDP(sport=5353, dport=53)
             / DNS(id=1, rd=1, qd=DNSQR(qname="gaia.cs.umass.edu")))
    referral = wire(Ether() / IP(src=R.ip, dst=A.ip) / UDP(sport=53, dport=5353)
                    / DNS(id=1, qr=1, qd=DNSQR(qname="gaia.cs.umass.edu"),
                          ns=DNSRR(rrname="edu", type="NS", rdata="ns1.nic.edu")))
    assert dns(A, R, qname="gaia.cs.umass.edu.", response=False, rd=True)(q)
    assert dns(R, A, referral=True)(referral) and not dns(R, A, referral=True)(q)
    assert describe(q, Names(NODES)).endswith("DNS A? gaia.cs.umass.edu. (RD=1)")
    assert ladder.arrows([Frame("lan1", 2, 1.0, referral)], Names(NODES))[0].label == \
        "referral: edu. NS ns1.nic.edu."


def test_ladder_gives_each_label_room_between_the_lifelines_its_arrow_joins():
    long = ladder.Arrow(0.0, "a", "b", "x" * 60, 1)
    short_ = ladder.Arrow(0.1, "b", "r", "y", 2)
    cols = ["a", "b", "r"]
    at = ladder.layout([long, short_], cols)
    assert at["b"] - at["a"] >= len(long.text) + 2 and at["r"] - at["b"] == ladder.GAP
    rows = ladder.text([long, short_], cols).splitlines()
    label_row = next(r for r in rows if "xxx" in r)
    assert label_row.rstrip().endswith("|") and label_row.count("|") == 3  # no lifeline overwritten
    svg = ladder.svg([long, short_], cols, "t")
    ET.fromstring(svg)


def test_ladder_broadcast_column_can_be_placed_and_link_ends_stop_at_the_router():
    who = wire(Ether(src=A.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=A.ip, pdst=R.ip, hwsrc=A.mac))
    found = ladder.arrows([Frame("lan1", 1, 1.0, who)], Names(NODES))
    assert ladder.columns_for(found, ["a", ladder.BROADCAST, "r"]) == ["a", ladder.BROADCAST, "r"]
    assert ladder.columns_for(found, ["a"]) == ["a", ladder.BROADCAST]
    dgram = wire(Ether(src=A.mac, dst=R.mac) / IP(src=A.ip, dst=B.ip) / UDP(dport=7))
    ip_ends = ladder.arrows([Frame("lan1", 1, 1.0, dgram)], Names(NODES))[0]
    hop = ladder.arrows([Frame("lan1", 1, 1.0, dgram)], Names(NODES), link=True)[0]
    assert (ip_ends.src, ip_ends.dst) == ("a", "b") and (hop.src, hop.dst) == ("a", "r")


def test_a_window_on_an_unknown_mark_says_which_marks_exist():
    t = traffic(Ether() / IP(src=A.ip, dst=B.ip) / ICMP(), marks={"start": 0.0})
    with pytest.raises(LookupError, match="no mark named 'strat'; marks: start"):
        t.frames("lan1", after="strat")
