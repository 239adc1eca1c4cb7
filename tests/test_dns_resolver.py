"""The resolver's core against the campus hierarchy held in memory: every authoritative server is an
`Authority` over the lab's own zone files, reached by address, so each upstream query the resolver
makes is seen and counted, and time moves only when a test moves it."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord

from services.dns.authority import Authority
from services.dns.resolution import Query
from services.dns.resolver import Resolver, load_hints
from services.dns.upstream import random_port_socket
from services.dns.zone import ZoneError, load_zone

ZONES = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.d" / "dns"
SERVERS = {  # as in campus.yaml
    "10.0.5.10": ["root.zone", "in-addr.arpa.zone"], "10.0.5.20": ["edu.zone"], "10.0.5.21": ["com.zone"],
    "10.0.5.22": ["fr.zone"], "10.0.5.30": ["umass.edu.zone", "cs.umass.edu.zone"],
    "10.0.5.40": ["hamburger.edu.zone"], "10.0.5.41": ["crepes.fr.zone"],
    "10.0.3.54": ["poly.edu.zone", "10.in-addr.arpa.zone"],
}
CLIENT = "10.0.1.11"
Server = Callable[[bytes, bool], "bytes | None"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Net:
    """The hierarchy in memory, and a log of every query sent into it."""

    def __init__(self) -> None:
        self.servers: dict[str, Server] = {}
        for ip, files in SERVERS.items():
            auth = Authority([load_zone(ZONES / f) for f in files])
            self.servers[ip] = lambda wire, tcp, auth=auth: auth.handle(wire, "10.0.3.53", tcp=tcp)
        self.sent: list[Query] = []
        self.clock = Clock()
        self.resolver = Resolver(load_hints(ZONES / "root.hints"), [ipaddress.ip_network("10.0.0.0/16")],
                                 clock=self.clock, rng=random.Random(4))

    def ask(self, name: str, qtype: str = "A", client: str = CLIENT, tcp: bool = False,
            edns: int | None = None) -> DNSRecord:
        q = DNSRecord.question(name, qtype)
        if edns:
            q.add_ar(EDNS0(udp_len=edns))
        out = self.resolver.handle(bytes(q.pack()), client, tcp)
        if not isinstance(out, bytes):
            step = out.first
            while isinstance(step, Query):
                self.sent.append(step)
                server = self.servers.get(step.server)
                step = out.resolution.next(server(step.wire, step.tcp) if server else None)
            out = self.resolver.reply(out, step)
        reply = DNSRecord.parse(out)
        assert reply.header.id == q.header.id
        return reply

    def upstream(self) -> list[tuple[str, str, str, bool]]:
        sent, self.sent = self.sent, []
        return [(s.server, s.qname, s.qtype, s.tcp) for s in sent]


@pytest.fixture
def net() -> Net:
    return Net()


def answers(reply: DNSRecord) -> list[tuple[str, str, str]]:
    return [(str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr]


def test_first_lookup_walks_root_tld_authoritative_then_the_cache_answers(net):
    reply = net.ask("gaia.cs.umass.edu")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.ra == 1 and reply.header.aa == 0
    assert answers(reply) == [("gaia.cs.umass.edu.", "A", "10.0.5.80")]
    assert [s[0] for s in net.upstream()] == ["10.0.5.10", "10.0.5.20", "10.0.5.30"]
    again = net.ask("gaia.cs.umass.edu")
    assert answers(again) == answers(reply) and net.upstream() == []


def test_cached_ttl_counts_down_and_expires(net):
    assert net.ask("gaia.cs.umass.edu").rr[0].ttl == 3600
    net.upstream()
    net.clock.now += 100.4
    assert net.ask("gaia.cs.umass.edu").rr[0].ttl == 3500
    net.clock.now += 3500
    assert net.ask("gaia.cs.umass.edu").rr[0].ttl == 3600
    # the A record expired; the umass.edu and cs delegations (TTL 86400 and 3600) partly: asked again below
    assert [s[0] for s in net.upstream()][-1] == "10.0.5.30"


def test_the_tld_delegation_is_cached_for_a_sibling_name(net):
    net.ask("gaia.cs.umass.edu")
    net.upstream()
    net.ask("dns.hamburger.edu")
    assert [s[0] for s in net.upstream()] == ["10.0.5.20", "10.0.5.40"]  # no root: edu's servers are known


def test_nxdomain_is_cached_for_the_soa_minimum(net):
    reply = net.ask("nope.umass.edu")
    assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
    assert [(QTYPE[rr.rtype], rr.ttl) for rr in reply.auth] == [("SOA", 300)]
    assert len(net.upstream()) == 3
    net.clock.now += 120
    again = net.ask("nope.umass.edu")
    assert again.header.rcode == RCODE.NXDOMAIN and again.auth[0].ttl == 180 and net.upstream() == []
    other_type = net.ask("nope.umass.edu", "MX")  # NXDOMAIN covers every type of the name
    assert other_type.header.rcode == RCODE.NXDOMAIN and net.upstream() == []
    net.clock.now += 181
    net.ask("nope.umass.edu")
    assert net.upstream() == [("10.0.5.30", "nope.umass.edu.", "A", False)]


def test_nodata_is_cached_per_type(net):
    reply = net.ask("gaia.cs.umass.edu", "MX")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth[0].rtype == QTYPE.SOA
    net.upstream()
    net.ask("gaia.cs.umass.edu", "MX")
    assert net.upstream() == []
    net.ask("gaia.cs.umass.edu", "A")  # a different type is not covered by that NODATA
    assert net.upstream() == [("10.0.5.30", "gaia.cs.umass.edu.", "A", False)]


def test_cname_chain_across_zones_is_followed(net):
    reply = net.ask("www.umass.edu")  # umass.edu: www -> gaia.cs.umass.edu, in the delegated child zone
    assert answers(reply) == [("www.umass.edu.", "CNAME", "gaia.cs.umass.edu."),
                              ("gaia.cs.umass.edu.", "A", "10.0.5.80")]


def test_cname_chain_within_a_zone_comes_in_one_reply(net):
    reply = net.ask("alias.cs.umass.edu")
    assert [a[1] for a in answers(reply)] == ["CNAME", "CNAME", "A"]
    assert len(net.upstream()) == 3


def test_truncated_reply_is_asked_again_over_tcp(net):
    reply = net.ask("big.cs.umass.edu", "TXT", tcp=True)
    assert len(reply.rr) == 16
    assert net.upstream()[-2:] == [("10.0.5.30", "big.cs.umass.edu.", "TXT", False),
                                   ("10.0.5.30", "big.cs.umass.edu.", "TXT", True)]


def test_large_cached_answer_truncates_for_a_udp_client(net):
    reply = net.ask("big.cs.umass.edu", "TXT", edns=1232)
    assert reply.header.tc == 1 and not reply.rr
    assert len(net.ask("big.cs.umass.edu", "TXT", tcp=True).rr) == 16
    assert net.upstream()[-1][3] is True  # fetched whole once, over TCP; the TCP client got it from the cache


def test_reverse_lookup_resolves_an_unglued_name_server_first(net):
    reply = net.ask("11.1.0.10.in-addr.arpa", "PTR")
    assert answers(reply) == [("11.1.0.10.in-addr.arpa.", "PTR", "client1.poly.edu.")]
    sent = net.upstream()
    assert ("10.0.5.20", "ns.poly.edu.", "A", False) in sent and sent[-1][0] == "10.0.3.54"


def test_mx_and_names_of_every_domain(net):
    assert answers(net.ask("crepes.fr", "MX")) == [("crepes.fr.", "MX", "10 mail.crepes.fr.")]
    assert answers(net.ask("hamburger.edu", "MX")) == [("hamburger.edu.", "MX", "10 mail.hamburger.edu.")]
    assert answers(net.ask("cis.poly.edu"))[-1] == ("client1.poly.edu.", "A", "10.0.1.11")
    assert answers(net.ask("v6.cs.umass.edu", "AAAA"))[0][1] == "AAAA"


def test_clients_outside_the_allow_list_are_refused(net):
    reply = net.ask("gaia.cs.umass.edu", client="192.0.2.7")
    assert reply.header.rcode == RCODE.REFUSED and not reply.rr and net.upstream() == []
    assert net.ask("gaia.cs.umass.edu", client="::ffff:10.0.2.13").header.rcode == RCODE.NOERROR


def test_query_ids_are_random(net):
    for name in ("a", "b", "c", "d", "e", "f", "g", "h"):
        net.ask(f"{name}.crepes.fr")
    ids = [DNSRecord.parse(q.wire).header.id for q in net.sent]
    assert len(set(ids)) == len(ids) >= 10


def test_source_ports_are_random():
    socks = [random_port_socket("127.0.0.1") for _ in range(20)]
    try:
        ports = sorted(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()
    steps = {b - a for a, b in zip(ports, ports[1:], strict=False)}
    assert len(set(ports)) == 20 and steps != {1}  # not one after another


def test_a_reply_with_the_wrong_id_or_question_is_ignored(net):
    honest = net.servers["10.0.5.10"]

    def spoofer(wire: bytes, tcp: bool) -> bytes:
        reply = DNSRecord.parse(honest(wire, tcp))
        reply.header.id ^= 0x5555
        return bytes(reply.pack())

    net.servers["10.0.5.10"] = spoofer
    assert net.ask("gaia.cs.umass.edu").header.rcode == RCODE.SERVFAIL


def test_out_of_bailiwick_records_are_not_cached(net):
    honest = net.servers["10.0.5.41"]

    def poisoner(wire: bytes, tcp: bool) -> bytes:  # crepes.fr's server "answers" for umass.edu too
        q = DNSRecord.parse(wire)
        if str(q.q.qname) != "www.crepes.fr.":
            return honest(wire, tcp)
        reply = q.reply()
        reply.add_answer(*RR.fromZone("www.crepes.fr. 60 IN CNAME gaia.cs.umass.edu."))
        reply.add_answer(*RR.fromZone("gaia.cs.umass.edu. 99999 IN A 6.6.6.6"))
        return bytes(reply.pack())

    net.servers["10.0.5.41"] = poisoner
    chased = net.ask("www.crepes.fr")  # the chain leaves crepes.fr: its target is asked of umass's server
    assert answers(chased) == [("www.crepes.fr.", "CNAME", "gaia.cs.umass.edu."),
                               ("gaia.cs.umass.edu.", "A", "10.0.5.80")]
    assert answers(net.ask("gaia.cs.umass.edu")) == [("gaia.cs.umass.edu.", "A", "10.0.5.80")]


def test_negative_ttl_is_capped_by_the_soa_minimum(net):
    honest = net.servers["10.0.5.30"]

    def full_ttl_soa(wire: bytes, tcp: bool) -> bytes:  # an older server: the SOA with its own TTL
        reply = DNSRecord.parse(honest(wire, tcp))
        for rr in reply.auth:
            rr.ttl = 3600
        return bytes(reply.pack())

    net.servers["10.0.5.30"] = full_ttl_soa
    net.ask("nope.umass.edu")
    net.upstream()
    net.clock.now += 299
    assert net.ask("nope.umass.edu").header.rcode == RCODE.NXDOMAIN and net.upstream() == []
    net.clock.now += 2
    net.ask("nope.umass.edu")
    assert len(net.upstream()) == 1


def test_a_referral_loop_ends_in_servfail_within_the_budget(net):
    def loop(wire: bytes, tcp: bool) -> bytes:  # refers every question back up to the root
        q = DNSRecord.parse(wire)
        reply = q.reply()
        reply.add_auth(*RR.fromZone(". 60 IN NS a.root-servers.net."))
        return bytes(reply.pack())

    net.servers["10.0.5.20"] = loop
    assert net.ask("gaia.cs.umass.edu").header.rcode == RCODE.SERVFAIL
    assert len(net.upstream()) <= 60


def test_a_silent_server_gives_servfail(net):
    del net.servers["10.0.5.30"]
    assert net.ask("gaia.cs.umass.edu").header.rcode == RCODE.SERVFAIL


def test_refused_types_and_classes(net):
    assert net.ask("umass.edu", "AXFR").header.rcode == RCODE.REFUSED
    q = DNSRecord.question("umass.edu", "A", "CH")
    reply = DNSRecord.parse(net.resolver.handle(bytes(q.pack()), CLIENT))
    assert reply.header.rcode == RCODE.REFUSED and net.upstream() == []


def test_flush_empties_the_cache(net):
    net.ask("gaia.cs.umass.edu")
    net.upstream()
    net.resolver.flush()
    net.ask("gaia.cs.umass.edu")
    assert len(net.upstream()) == 3


def test_root_hints_must_name_a_root_server(tmp_path):
    bad = tmp_path / "hints"
    bad.write_text("a.root-servers.net. 3600 IN A 10.0.5.10\n")
    with pytest.raises(ZoneError, match="root hints need NS"):
        load_hints(bad)


def test_an_ns_lookup_of_a_zone_sharing_its_parents_server_does_not_wedge_it(net):
    # campus: one server holds umass.edu and cs.umass.edu, so no referral into cs.umass.edu is ever seen;
    # the NS answer names dns.cs.umass.edu, whose address only that zone (or its parent) can give
    ns = net.ask("cs.umass.edu", "NS")
    assert answers(ns) == [("cs.umass.edu.", "NS", "dns.cs.umass.edu.")]
    net.upstream()
    v6 = net.ask("v6.cs.umass.edu", "AAAA")
    assert v6.header.rcode == RCODE.NOERROR and [ipaddress.ip_address(str(rr.rdata)) for rr in v6.rr] == [ipaddress.ip_address("fd00:0:0:5::80")]
    assert [s[0] for s in net.upstream()] == ["10.0.5.30"]  # the parent's server, known by the edu glue
    dns = net.ask("dns.cs.umass.edu")
    assert answers(dns) == [("dns.cs.umass.edu.", "A", "10.0.5.30")]
    assert answers(net.ask("gaia.cs.umass.edu")) == [("gaia.cs.umass.edu.", "A", "10.0.5.80")]


def test_a_referrals_ns_set_is_not_an_answer_the_zone_itself_is_asked(net):
    net.ask("ns1.nic.com")  # the root's referral to com. is cached (TTL 172800), with its glue
    net.upstream()
    reply = net.ask("com", "NS")
    assert answers(reply) == [("com.", "NS", "ns1.nic.com.")]
    assert reply.rr[0].ttl == 86400  # the zone's own TTL, not the delegation's (RFC 2181 section 5.4.1)
    assert net.upstream() == [("10.0.5.21", "com.", "NS", False)]
    net.clock.now += 10
    assert net.ask("com", "NS").rr[0].ttl == 86390 and net.upstream() == []  # now cached as an answer


def test_glue_is_not_an_answer_the_authority_is_asked(net):
    net.ask("crepes.fr", "MX")  # fr.'s referral brings glue for dns.crepes.fr (TTL 86400)
    net.upstream()
    reply = net.ask("dns.crepes.fr")
    assert answers(reply) == [("dns.crepes.fr.", "A", "10.0.5.41")] and reply.rr[0].ttl == 3600
    assert net.upstream() == [("10.0.5.41", "dns.crepes.fr.", "A", False)]


def test_glue_never_replaces_an_authoritative_answer(net):
    assert net.ask("dns.crepes.fr").rr[0].ttl == 3600
    net.clock.now += 100
    net.ask("www.crepes.fr")  # may pass fr.'s referral, glue and all, again
    assert net.ask("dns.crepes.fr").rr[0].ttl == 3500


def test_two_opt_records_get_formerr_and_an_unknown_version_badvers(net):
    q = DNSRecord.question("gaia.cs.umass.edu")
    q.add_ar(EDNS0(udp_len=1232))
    q.add_ar(EDNS0(udp_len=1232))
    reply = DNSRecord.parse(net.resolver.handle(bytes(q.pack()), CLIENT))
    assert reply.header.rcode == RCODE.FORMERR and not reply.rr and net.upstream() == []
    q = DNSRecord.question("gaia.cs.umass.edu")
    q.add_ar(EDNS0(version=1, udp_len=1232))
    reply = DNSRecord.parse(net.resolver.handle(bytes(q.pack()), CLIENT))
    [opt] = reply.ar
    assert ((opt.ttl >> 24) << 4 | reply.header.rcode) == 16 and not reply.rr
