"""DNS, negative caching and TCP: a missing name gives NXDOMAIN, then comes from the negative cache; a large
answer comes back truncated over UDP and whole over TCP.

Kurose & Ross 2.4 (DNS caching; DNS runs over UDP, port 53). client1 asks the local DNS server for a name
crepes.fr does not have: the authoritative server answers NXDOMAIN with its SOA, whose MINIMUM field
(300 s) says how long the absence may be remembered, and the local server passes it on. Asked again, the
local server answers NXDOMAIN itself, with no packet upstream. Then client3 asks for big.cs.umass.edu's
TXT records (about 3 KB): over UDP the reply is cut (TC=1, no answers), so the local server asks
dns.umass.edu again over TCP; client3 does the same and gets all 16 records over TCP.
"""

from __future__ import annotations

import struct

from dnslib import DNSRecord

from scenarios.course.dns_iterative import RESOLVER, fresh_resolver
from scenarios.framework.assertions import SHOWN, Absent, Assertion, InOrder, Outcome, Present, Step
from scenarios.framework.describers.dns import DESCRIBER, NXDOMAIN, PORT, dns
from scenarios.framework.dialogue import conversations
from scenarios.framework.frames import Host, Traffic
from scenarios.framework.match import tcp

NAME = "dns-negative-and-tcp"
LAB = "campus"
SEGMENTS = ["servers", "internet"]
MISSING = "no-such-host.crepes.fr"
BIG = "big.cs.umass.edu"


class WholeOverTcp(Assertion):
    """The server's reply to the client over TCP, read from the reassembled stream (each DNS message
    after its two-byte length, RFC 1035 4.2.2), is one whole DNS message with at least `answers`
    records and TC clear."""

    def __init__(self, capture: str, server: Host, client: Host, answers: int, text: str, after: str | None = None):
        self.capture, self.server, self.client, self.answers, self.text = capture, server, client, answers, text
        self.after = after

    def evaluate(self, traffic: Traffic) -> Outcome:
        convs = conversations(traffic, self.capture, self.client, self.server, PORT, "tcp", self.after)
        replies = [m for c in convs for m in c.messages(DESCRIBER) if m.side == "server"]
        if not replies:
            return Outcome(self.text, False, f"expected a DNS reply over TCP from {self.server}; saw none",
                           [f for c in convs for f in c.frames][:SHOWN], self.capture)
        reply = replies[0]
        if not reply.complete:
            announced = f"{struct.unpack('!H', reply.data[:2])[0]} bytes" if len(reply.data) >= 2 else "its length"
            return Outcome(self.text, False, f"the reply over TCP is cut short: {len(reply.data) - 2} bytes of the "
                           f"{announced} announced", reply.frames[:SHOWN], self.capture)
        try:
            parsed = DNSRecord.parse(reply.data[2:])
        except Exception as e:  # dnslib raises several kinds on bytes that are not DNS
            return Outcome(self.text, False, f"the {len(reply.data)} bytes over TCP are not one DNS message ({e})",
                           reply.frames[:SHOWN], self.capture)
        if parsed.header.tc or len(parsed.rr) < self.answers:
            return Outcome(self.text, False, f"expected {self.answers} answers with TC clear; got "
                           f"{len(parsed.rr)}, TC={parsed.header.tc}", reply.frames[:SHOWN], self.capture)
        return Outcome(self.text, True, f"{len(reply.data) - 2}-byte reply in {len(reply.frames)} TCP segment(s), "
                       f"{len(parsed.rr)} answers", reply.frames[:SHOWN], self.capture)


def run(ctx) -> None:
    c1, c3, local = ctx.host("client1"), ctx.host("client3"), ctx.host(RESOLVER)
    crepes, umass = ctx.host("crepes-dns"), ctx.host("umass-dns")
    fresh_resolver(ctx)
    ctx.mark("missing")
    ctx.run("client1", ["dig", "+tries=1", "+time=5", MISSING])
    ctx.mark("missing-again")
    ctx.run("client1", ["dig", "+tries=1", "+time=5", MISSING])
    ctx.mark("udp")
    ctx.run("client3", ["dig", "+tries=1", "+time=5", "+ignore", BIG, "TXT"])  # +ignore: keep the truncated reply
    ctx.mark("tcp")
    ctx.run("client3", ["dig", "+tries=1", "+time=5", "+tcp", BIG, "TXT"], check=True)

    ctx.expect(
        InOrder("servers", [
            Step(dns(c1, local, qname=MISSING, response=False, label=f"client1 asks for {MISSING}"), "query"),
            Step(dns(local, crepes, qname=MISSING, response=False,
                     label=f"{local} asks crepes.fr's server {crepes}"), "upstream"),
            Step(dns(crepes, local, qname=MISSING, rcode=NXDOMAIN, authoritative=True,
                     label=f"{crepes} answers NXDOMAIN with authority"), "NXDOMAIN"),
            Step(dns(local, c1, qname=MISSING, rcode=NXDOMAIN, label="NXDOMAIN to client1"), "to client"),
        ], "a missing name: the authoritative server's NXDOMAIN reaches the client", after="missing",
            before="missing-again"),
        Present("servers", dns(local, c1, qname=MISSING, rcode=NXDOMAIN, label=f"NXDOMAIN from {local}"),
                "asked again: the local DNS server answers NXDOMAIN", after="missing-again", before="udp"),
        Absent("servers", dns(local, None, qname=MISSING, response=False, label=f"a query for {MISSING} upstream"),
               "asked again: answered from the negative cache, no query upstream", after="missing-again",
               before="udp"),
        InOrder("servers", [
            Step(dns(local, umass, qname=BIG, response=False, label=f"{local} asks {umass} over UDP"), "UDP query"),
            Step(dns(umass, local, qname=BIG, tc=True, answers=False, label=f"{umass} replies truncated (TC=1)"),
                 "TC"),
            Step(tcp(local, umass, dport=53, flags="S").named(f"{local} opens TCP to {umass} port 53"), "TCP"),
        ], "the local DNS server gets a truncated reply over UDP and asks again over TCP", after="udp",
            before="tcp"),
        Present("servers", dns(local, c3, qname=BIG, tc=True, answers=False,
                               label="a truncated reply (TC=1, no answers) to client3"),
                "over UDP, client3's reply is truncated", after="udp", before="tcp"),
        WholeOverTcp("servers", local, c3, 16, "over TCP, client3 gets the whole answer: 16 TXT records",
                     after="tcp"),
    )
    ctx.ladder("servers", dns(), "NXDOMAIN, then the negative cache", before="udp",
               columns=["client1", RESOLVER, "root-dns", "fr-dns", "crepes-dns"])
    ctx.ladder("servers", dns() | tcp(None, None, dport=53, flags="S") | tcp(None, None, sport=53, flags="SA"),
               "a large answer: truncated over UDP, again over TCP", after="udp",
               columns=["client3", RESOLVER, "root-dns", "edu-dns", "umass-dns"])
