"""Hostile bytes: neither core may raise, loop, or send a reply a client could not parse, whatever arrives
from a client or from an upstream server."""

from __future__ import annotations

import ipaddress
import random

from dnslib import QTYPE, RR, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dns_resolver import SERVERS, ZONES, Clock

from services.dns.authority import Authority
from services.dns.resolution import MAX_QUERIES, Outcome, Query
from services.dns.resolver import Pending, Resolver, load_hints
from services.dns.zone import load_zone

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AUTH = Authority([load_zone(ZONES / f) for files in SERVERS.values() for f in files if f != "in-addr.arpa.zone"])
VALID = [bytes(DNSRecord.question(n, t).pack()) for n, t in
         [("gaia.cs.umass.edu", "A"), ("big.cs.umass.edu", "TXT"), ("umass.edu", "MX"), ("x.poly.edu", "A")]]


def resolver() -> Resolver:
    return Resolver(load_hints(ZONES / "root.hints"), [ipaddress.ip_network("10.0.0.0/8")], clock=Clock(),
                    rng=random.Random(1))


def check_reply(query: bytes, reply: bytes | None) -> None:
    if reply is None:
        return
    parsed = DNSRecord.parse(reply)  # whatever we send parses
    assert parsed.header.qr == 1 and reply[:2] == query[:2]


mutated = st.builds(
    lambda base, edits: _mutate(base, edits),
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=8),
)


def _mutate(base: bytes, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(base)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
        else:
            b.append(val)
    return bytes(b)


@FAST
@given(st.one_of(st.binary(max_size=600), mutated), st.booleans())
def test_authority_survives_any_query(data, tcp):
    check_reply(data, AUTH.handle(data, "10.0.1.11", tcp=tcp))


@FAST
@given(st.one_of(st.binary(max_size=600), mutated), st.booleans())
def test_resolver_front_survives_any_query(data, tcp):
    out = resolver().handle(data, "10.0.1.11", tcp)
    if isinstance(out, Pending):
        assert isinstance(out.first, Query)
    else:
        check_reply(data, out)


names = st.sampled_from(["gaia.cs.umass.edu.", "cs.umass.edu.", "umass.edu.", "edu.", ".", "evil.com.",
                         "x.gaia.cs.umass.edu.", "dns.umass.edu."])
rdata_for = {
    "A": st.just("10.0.5.30"), "NS": names, "CNAME": names,
    "SOA": st.just("a. b. 1 2 3 4 300"), "TXT": st.just('"t"'), "MX": st.just("10 gaia.cs.umass.edu."),
}
@st.composite
def record_text(draw) -> str:
    rtype = draw(st.sampled_from(sorted(rdata_for)))
    return f"{draw(names)} {draw(st.integers(0, 100000))} IN {rtype} {draw(rdata_for[rtype])}"


@st.composite
def upstream_reply(draw, query: bytes) -> bytes | None:
    """A reply that gets past the id and question checks, with anything in it; or junk; or nothing."""
    kind = draw(st.sampled_from(["crafted", "crafted", "crafted", "junk", "timeout"]))
    if kind == "timeout":
        return None
    if kind == "junk":
        return query[:2] + draw(st.binary(max_size=200))
    reply = DNSRecord.parse(query).reply()
    reply.header.aa = draw(st.booleans())
    reply.header.tc = draw(st.integers(0, 4)) == 0
    reply.header.rcode = draw(st.sampled_from([0, 0, 0, 2, 3, 5]))
    for section in (reply.add_answer, reply.add_auth, reply.add_ar):
        for text in draw(st.lists(record_text(), max_size=4)):
            section(*RR.fromZone(text))
    return bytes(reply.pack())


@FAST
@given(st.data(), st.sampled_from(["gaia.cs.umass.edu", "www.umass.edu", "nope.edu"]),
       st.sampled_from(["A", "MX", "TXT"]))
def test_resolution_survives_any_upstream_and_ends_within_its_budget(data, name, qtype):
    r = resolver()
    q = DNSRecord.question(name, qtype)
    out = r.handle(bytes(q.pack()), "10.0.1.11")
    assert isinstance(out, Pending)
    step, steps = out.first, 0
    while isinstance(step, Query):
        steps += 1
        assert steps <= MAX_QUERIES + 2, "a resolution must end within its query budget"
        step = out.resolution.next(data.draw(upstream_reply(step.wire)))
    assert isinstance(step, Outcome)
    wire = r.reply(out, step)
    check_reply(bytes(q.pack()), wire)
    assert QTYPE[DNSRecord.parse(wire).q.qtype] == qtype
