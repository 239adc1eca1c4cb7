"""Describers found by registration, the line protocol they reuse, and the assertions and ladders on
dialogues that rest on them: crafted packets, no lab."""

from __future__ import annotations

import re
import struct
from ipaddress import IPv4Interface
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from scenarios.course.dns_negative_tcp import WholeOverTcp
from scenarios.framework import describers, ladder
from scenarios.framework.assertions import Step
from scenarios.framework.describers import Describer, for_port
from scenarios.framework.describers.dhcp import Transaction, dhcp
from scenarios.framework.describers.lines import LineProtocol
from scenarios.framework.dialogue import Connections, Dialogue, Elapsed, Said, Says
from scenarios.framework.frames import Frame, Host, Names, Traffic
from scenarios.framework.match import tcp
from scenarios.framework.stream import CLIENT, SERVER, Message, tcp_connections
from topology.model import Interface, Node

CLIENT_HOST, SERVER_HOST = Host("client1", "10.0.1.11", "02:00:00:00:00:0b"), Host("mail", "10.0.3.25", "02:00:00:00:00:19")
NODES = {h.name: Node(h.name, interfaces=[Interface("eth0", "lan", IPv4Interface(f"{h.ip}/24"), mac=h.mac)])
         for h in (CLIENT_HOST, SERVER_HOST)}
SMTP = LineProtocol("smtp-test", ports=(2525,), continued=rb"\d{3}-")


def seg(src: Host, flags: str, seq: int, data: bytes = b"", ack: int = 0, cport: int = 40000, sport: int = 2525):
    dst = SERVER_HOST if src is CLIENT_HOST else CLIENT_HOST
    a, b = (cport, sport) if src is CLIENT_HOST else (sport, cport)
    p = Ether() / IP(src=src.ip, dst=dst.ip) / TCP(sport=a, dport=b, flags=flags, seq=seq, ack=ack)
    return Ether(bytes(p / Raw(data) if data else p))


def session(chunks: list[tuple[Host, bytes]], cport: int = 40000, fin: bool = True) -> list:
    """A whole connection: handshake, then each chunk as one segment, then both FINs."""
    up, down = 1001, 5001
    pkts = [seg(CLIENT_HOST, "S", 1000, cport=cport), seg(SERVER_HOST, "SA", 5000, ack=1001, cport=cport),
            seg(CLIENT_HOST, "A", 1001, ack=5001, cport=cport)]
    for who, data in chunks:
        if who is CLIENT_HOST:
            pkts.append(seg(who, "PA", up, data, down, cport=cport))
            up += len(data)
        else:
            pkts.append(seg(who, "PA", down, data, up, cport=cport))
            down += len(data)
    if fin:
        pkts += [seg(CLIENT_HOST, "FA", up, ack=down, cport=cport), seg(SERVER_HOST, "FA", down, ack=up + 1, cport=cport),
                 seg(CLIENT_HOST, "A", up + 1, ack=down + 1, cport=cport)]
    return pkts


def traffic(*pkts, marks: dict | None = None) -> Traffic:
    return Traffic({"servers": [Frame("servers", i + 1, 100.0 + i / 100, p) for i, p in enumerate(pkts)]},
                   Names(NODES), marks or {})


MAIL = [(SERVER_HOST, b"220 mail ESMTP\r\n"), (CLIENT_HOST, b"EHLO client1\r\n"),
        (SERVER_HOST, b"250-mail\r\n250-PIPELINING\r\n250 OK\r\n"), (CLIENT_HOST, b"MAIL FROM:<alice@crepes.fr>\r\n"),
        (SERVER_HOST, b"250 OK\r\n"), (CLIENT_HOST, b"RCPT TO:<bob@hamburger.edu>\r\n"), (SERVER_HOST, b"550 no such user\r\n")]


def envelope(*steps: Says, **kw) -> Dialogue:
    return Dialogue("servers", CLIENT_HOST, SERVER_HOST, 2525, list(steps), "the envelope", describer=SMTP, **kw)


def test_this_package_s_describers_are_found_without_a_list_and_claim_their_ports():
    names = {d.name for d in describers.describers()}
    assert {"dns", "dhcp"} <= names
    assert for_port("udp", 53).name == "dns" and for_port("tcp", 53).name == "dns"
    assert for_port("udp", 67).name == "dhcp" and for_port("tcp", 67) is None


def test_an_outside_package_s_describer_is_found_through_the_entry_point(monkeypatch):
    outside = LineProtocol("gopher", ports=(70,))
    point = SimpleNamespace(name="gopher", load=lambda: outside)
    monkeypatch.setattr(describers, "entry_points", lambda group: [point] if group == describers.ENTRY_POINTS else [])
    describers.describers.cache_clear()
    try:
        assert for_port("tcp", 70) is outside and describers.named("gopher") is outside
    finally:
        monkeypatch.undo()
        describers.describers.cache_clear()
    assert for_port("tcp", 70) is None


def test_a_line_protocol_keeps_a_multi_line_reply_whole_and_labels_it_by_its_last_line():
    reply = b"250-mail\r\n250-PIPELINING\r\n250 OK\r\n"
    assert SMTP.split(reply + b"354 go", SERVER) == [len(reply)]  # "354 go" has no line end yet
    assert SMTP.split(b"250-is a command line\r\n", CLIENT) == [23]  # only replies continue
    msg = Message(SERVER, reply, 0, 0.0, [])
    assert SMTP.label(msg) == "250 OK (+2 lines)"


def test_messages_of_a_dialogue_are_the_describer_s_whatever_the_segmentation():
    byte_by_byte = [(who, data[i:i + 1]) for who, data in MAIL for i in range(len(data))]
    [conn] = tcp_connections(traffic(*session(byte_by_byte)).frames("servers"))
    msgs = conn.messages(SMTP)
    assert [m.text for m in msgs][:5] == ["220 mail ESMTP", "EHLO client1", "250-mail\r\n250-PIPELINING\r\n250 OK",
                                          "MAIL FROM:<alice@crepes.fr>", "250 OK"]
    assert [m.side for m in msgs] == [SERVER, CLIENT, SERVER, CLIENT, SERVER, CLIENT, SERVER]
    assert len(msgs[3].frames) == len(b"MAIL FROM:<alice@crepes.fr>\r\n")


def test_a_dialogue_passes_on_the_exchange_and_rests_on_its_frames():
    t = traffic(*session(MAIL))
    out = envelope(Says("server", "220"), Says("client", "EHLO"), Says("server", "250"),
                   Says("client", b"MAIL FROM:<alice@crepes.fr>"), Says("server", "250")).evaluate(t)
    assert out.passed, out.why
    assert [f.number for f in out.frames] == [4, 5, 6, 7, 8]
    assert out.why == "5 messages in order on 10.0.1.11:40000 > 10.0.3.25:2525"


def test_a_dialogue_fails_naming_the_reply_that_came_instead():
    out = envelope(Says("client", "RCPT TO:", skip=True), Says("server", "250")).evaluate(traffic(*session(MAIL)))
    assert not out.passed
    assert out.why == ("after client 'RCPT TO:<bob@hamburger.edu>', expected the server to say '250'; its next "
                       "message was '550 no such user' (on 10.0.1.11:40000 > 10.0.3.25:2525)")


def test_a_step_without_skip_must_be_the_side_s_very_next_message():
    out = envelope(Says("client", "EHLO"), Says("client", "RCPT")).evaluate(traffic(*session(MAIL)))
    assert not out.passed and "its next message was 'MAIL FROM:<alice@crepes.fr>'" in out.why
    assert envelope(Says("client", "EHLO"), Says("client", "RCPT", skip=True)).evaluate(traffic(*session(MAIL))).passed


def test_a_dialogue_fails_when_the_side_says_nothing_more_or_nothing_that_matches():
    t = traffic(*session(MAIL[:4]))
    out = envelope(Says("client", "MAIL", skip=True), Says("server", "250")).evaluate(t)
    assert out.why.startswith("after client 'MAIL FROM:<alice@crepes.fr>', expected the server to say '250'; "
                              "it said nothing more")
    out = envelope(Says("client", "QUIT", skip=True)).evaluate(t)
    assert out.why.startswith("expected the client to say 'QUIT'; it said 'EHLO client1', 'MAIL FROM:")


def test_a_dialogue_fails_without_a_connection_and_says_which_there_were():
    out = Dialogue("servers", CLIENT_HOST, SERVER_HOST, 25, [Says("server", "220")], "x").evaluate(
        traffic(*session(MAIL)))
    assert out.why == ("expected a TCP connection client1 (10.0.1.11) > mail (10.0.3.25):25; saw none "
                       "(saw 10.0.1.11:40000 > 10.0.3.25:2525)")


def test_a_dialogue_may_name_which_connection_and_a_pattern():
    t = traffic(*session(MAIL[:1], cport=40000), *session([(SERVER_HOST, b"421 busy\r\n")], cport=40001))
    assert envelope(Says("server", "220")).evaluate(t).passed  # any connection
    out = envelope(Says("server", "220"), connection=2).evaluate(t)
    assert not out.passed and "its next message was '421 busy'" in out.why
    assert envelope(Says("server", re.compile(r"^4\d\d ")), connection=2).evaluate(t).passed
    assert "expected at least 3 TCP connections" in envelope(Says("server", "220"), connection=3).evaluate(t).why


def test_says_refuses_a_side_that_is_neither():
    with pytest.raises(ValueError, match="side is 'client' or 'server'"):
        Says("mail", "220")


def test_connections_count_whole_handshakes_by_opener_and_port():
    t = traffic(*session(MAIL[:1], cport=40000), *session(MAIL[:1], cport=40001))
    assert Connections("servers", CLIENT_HOST, SERVER_HOST, "two", port=2525, count=2).evaluate(t).passed
    out = Connections("servers", CLIENT_HOST, SERVER_HOST, "one", port=2525, count=1).evaluate(t)
    assert out.why.startswith("expected 1 TCP connections opened by client1 (10.0.1.11) to mail (10.0.3.25):2525; "
                              "saw 2")
    out = Connections("servers", SERVER_HOST, CLIENT_HOST, "back", at_least=1).evaluate(t)
    assert not out.passed and out.why.endswith("; 2 opened the other way (10.0.1.11:40000 > 10.0.3.25:2525, "
                                               "10.0.1.11:40001 > 10.0.3.25:2525)")
    assert not Connections("servers", CLIENT_HOST, SERVER_HOST, "few", at_most=1).evaluate(t).passed
    no_synack = [p for p in session(MAIL[:1]) if str(p[TCP].flags) != "SA"]
    assert not Connections("servers", CLIENT_HOST, SERVER_HOST, "x", count=1).evaluate(traffic(*no_synack)).passed


def test_elapsed_measures_between_marks_frames_and_messages_within_both_bounds():
    t = traffic(*session(MAIL), marks={"start": 99.5})
    syn = tcp(CLIENT_HOST, SERVER_HOST, flags="S")
    rejected = Said(CLIENT_HOST, SERVER_HOST, 2525, Says("server", "550"))
    ok = Elapsed("servers", "start", syn, "connects", at_least=0.4, at_most=0.6).evaluate(t)
    assert ok.passed and ok.why.startswith("0.500000 s from mark 'start' to SYN")
    late = Elapsed("servers", "start", syn, "connects", at_most=0.1).evaluate(t)
    assert not late.passed and late.why.endswith("; expected at most 0.1 s")
    early = Elapsed("servers", "start", syn, "connects", at_least=1).evaluate(t)
    assert not early.passed and early.why.endswith("; expected at least 1 s")
    out = Elapsed("servers", syn, rejected, "rejects", at_most=1).evaluate(t)  # no describer for 2525: turns
    assert out.passed and out.why.startswith("0.090000 s from SYN client1 (10.0.1.11) > mail (10.0.3.25) to server "
                                             "says '550'")
    never = Said(CLIENT_HOST, SERVER_HOST, 2525, Says("server", "999"))
    assert "saw none" in Elapsed("servers", syn, never, "x", at_most=1).evaluate(t).why
    with pytest.raises(ValueError):
        Elapsed("servers", "start", syn, "unbounded")


def test_elapsed_on_messages_uses_the_registered_describer(monkeypatch):
    point = SimpleNamespace(name="smtp-test", load=lambda: SMTP)
    monkeypatch.setattr(describers, "entry_points", lambda group: [point] if group == describers.ENTRY_POINTS else [])
    describers.describers.cache_clear()
    try:
        t = traffic(*session(MAIL))
        mail = Said(CLIENT_HOST, SERVER_HOST, 2525, Says("client", "MAIL FROM"))
        rejected = Said(CLIENT_HOST, SERVER_HOST, 2525, Says("server", "550"))
        out = Elapsed("servers", mail, rejected, "rejects", at_least=0.02, at_most=0.04).evaluate(t)
        assert out.passed and out.why.startswith("0.030000 s from client says 'MAIL FROM'")
    finally:
        monkeypatch.undo()
        describers.describers.cache_clear()


def test_a_message_ladder_draws_the_handshake_each_command_and_reply_and_the_teardown():
    t = traffic(*session(MAIL))
    convs = t.connections("servers")
    found = ladder.message_arrows(convs, t.names, SMTP)
    assert [(a.src, a.dst, a.label) for a in found] == [
        ("client1", "mail", "SYN (to port 2525)"), ("mail", "client1", "SYN-ACK"), ("client1", "mail", "ACK"),
        ("mail", "client1", "220 mail ESMTP"), ("client1", "mail", "EHLO client1"),
        ("mail", "client1", "250 OK (+2 lines)"), ("client1", "mail", "MAIL FROM:<alice@crepes.fr>"),
        ("mail", "client1", "250 OK"), ("client1", "mail", "RCPT TO:<bob@hamburger.edu>"),
        ("mail", "client1", "550 no such user"), ("client1", "mail", "FIN"), ("mail", "client1", "FIN")]
    text = ladder.text(found, ladder.columns_for(found, ["client1", "mail"]), "SMTP")
    assert "#7 MAIL FROM:<alice@crepes.fr>" in text


def test_dns_over_tcp_splits_at_each_length_and_is_labelled_in_the_course_words():
    d = describers.named("dns")
    q = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="big.cs.umass.edu", qtype="TXT")))
    a = bytes(DNS(id=7, qr=1, aa=1, qd=DNSQR(qname="big.cs.umass.edu", qtype="TXT"),
                  an=DNSRR(rrname="big.cs.umass.edu", type="TXT", rdata="x" * 30)))
    stream = struct.pack("!H", len(q)) + q + struct.pack("!H", len(a)) + a
    assert d.split(stream, CLIENT) == [2 + len(q), 4 + len(q) + len(a)]
    assert d.split(stream[:-1], CLIENT) == [2 + len(q)]
    assert d.label(Message(CLIENT, stream[:2 + len(q)], 0, 0.0, [])) == "TXT? big.cs.umass.edu. (RD=1)"
    udp = Ether(bytes(Ether() / IP(src="10.0.1.11", dst="10.0.3.53") / UDP(sport=5353, dport=53) / Raw(q)))
    assert d.recognizes(udp) and d.summary(udp) == "DNS TXT? big.cs.umass.edu. (RD=1)"


def test_the_base_describer_claims_nothing():
    base = Describer()
    assert not base.recognizes(Ether() / IP()) and base.split(b"a\nb\n", CLIENT) == [] and not base.splits


def test_a_dhcp_transaction_takes_its_xid_from_the_capture_and_holds_every_step_to_it():
    mac = "02:00:00:00:00:1a"

    def msg(kind: int, xid: int):
        return Ether(bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                           / UDP(sport=68, dport=67) / BOOTP(xid=xid, chaddr=bytes.fromhex(mac.replace(":", "")))
                           / DHCP(options=[("message-type", kind), "end"])))

    dora = Transaction("servers", [Step(dhcp("DISCOVER", chaddr=mac), "DISCOVER"), Step(dhcp("ACK"), "ACK")], "DORA")
    ok = dora.evaluate(traffic(msg(1, 0x1234), msg(5, 0x1234)))
    assert ok.passed and ok.why == "2 steps in order, all with xid 0x00001234"
    out = dora.evaluate(traffic(msg(1, 0x1234), msg(5, 0x9999)))
    assert not out.passed and out.why == "expected DHCP ACK, xid 0x00001234 after DISCOVER; saw none"
    assert dora.evaluate(traffic(msg(5, 0x1234))).why == "expected DHCP DISCOVER; saw none"
    assert not dhcp("DISCOVER", chaddr="02:00:00:00:00:ff")(msg(1, 1))


def test_whole_over_tcp_reads_the_dns_reply_from_the_reassembled_stream():
    client, local = Host("client3", "10.0.2.12"), Host("local-dns", "10.0.3.53")
    reply = bytes(DNS(id=7, qr=1, qd=DNSQR(qname="big.cs.umass.edu", qtype="TXT"),
                      an=[DNSRR(rrname="big.cs.umass.edu", type="TXT", rdata=f"record {i} " * 8) for i in range(16)]))
    stream = struct.pack("!H", len(reply)) + reply

    def seg(src: Host, flags: str, seq: int, data: bytes = b"", ack: int = 0):
        dst, (a, b) = (local, (40000, 53)) if src is client else (client, (53, 40000))
        p = Ether() / IP(src=src.ip, dst=dst.ip) / TCP(sport=a, dport=b, flags=flags, seq=seq, ack=ack)
        return Ether(bytes(p / Raw(data) if data else p))

    opening = [seg(client, "S", 10), seg(local, "SA", 500, ack=11), seg(client, "A", 11, ack=501)]
    third = len(stream) // 3
    parts = [seg(local, "PA", 501 + k, stream[k:k + third if i < 2 else None], 11)
             for i, k in enumerate((0, third, 2 * third))]
    claim = WholeOverTcp("servers", local, client, 16, "whole over TCP")
    out = claim.evaluate(traffic(*opening, parts[2], parts[0], parts[0], parts[1]))  # reordered, one sent twice
    assert out.passed, out.why
    assert out.why == f"{len(reply)}-byte reply in 4 TCP segment(s), 16 answers"
    cut = claim.evaluate(traffic(*opening, parts[0], parts[1]))
    assert not cut.passed and cut.why == f"the reply over TCP is cut short: {2 * third - 2} bytes of the " \
                                         f"{len(reply)} bytes announced"
    assert claim.evaluate(traffic(*opening)).why == "expected a DNS reply over TCP from local-dns (10.0.3.53); saw none"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), side=st.sampled_from([CLIENT, SERVER]))
def test_splitters_cut_any_bytes_at_ascending_offsets_inside_them(data, side):
    for d in (SMTP, describers.named("dns")):
        ends = d.split(data, side)
        assert ends == sorted(set(ends)) and all(0 < e <= len(data) for e in ends)
        msg = Message(side, data, 0, 0.0, [])
        assert isinstance(d.label(msg), str)
    assert all(data[e - 1:e] == b"\n" for e in SMTP.split(data, side))


def test_dns_answers_of_every_record_kind_are_described():
    from scapy.layers.dns import DNSRR, DNSRRMX, DNSRRSOA

    from scenarios.framework.describers.dns import _rdata

    assert _rdata(DNSRRMX(rrname="crepes.fr.", preference=10, exchange="mail.crepes.fr.")) == "10 mail.crepes.fr."
    assert _rdata(DNSRRSOA(rrname="fr.", mname="ns1.nic.fr.", rname="h.nic.fr.", serial=7)) == "ns1.nic.fr. h.nic.fr. 7"
    assert _rdata(DNSRR(rrname="gaia.cs.umass.edu.", type="A", rdata="10.0.5.80")) == "10.0.5.80"
