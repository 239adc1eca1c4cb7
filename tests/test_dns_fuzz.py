"""Hostile bytes: neither core may raise, loop, or send a reply a client could not parse, whatever arrives
from a client or from an upstream server."""

from __future__ import annotations

import ipaddress
import random

from dnslib import EDNS0, QTYPE, RR, DNSRecord
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
    kind = draw(st.sampled_from(["crafted", "crafted", "crafted", "junk", "timeout", "chain"]))
    if kind == "timeout":
        return None
    if kind == "chain":  # a hostile server's reply: names that are chains of compression pointers
        from test_dns_hostile import chained

        q = DNSRecord.parse(query)
        wire = bytearray(chained(draw(st.integers(1, 1200)), str(q.q.qname), q.header.id,
                                 restart=draw(st.integers(0, 40))))
        wire[2] |= 0x84  # QR, AA
        return bytes(wire)
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


# hostile names and EDNS: what the hardening of issue 11 is about -------------------------------------------

from test_dns_hostile import HEADER, calls, chained  # noqa: E402

from services.dns.message import MAX_POINTERS, parse  # noqa: E402

FORMERR, BADVERS = 1, 16
HOSTILE = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rcode_of(wire: bytes) -> int:
    reply = DNSRecord.parse(wire)
    opts = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    return (opts[0].ttl >> 24) << 4 | reply.header.rcode if opts else reply.header.rcode


def both(wire: bytes) -> list[bytes | None]:
    """The authority's reply, and the resolver's when it answers at once (not resolving upstream)."""
    out = [AUTH.handle(wire, "10.0.1.11")]
    front = resolver().handle(wire, "10.0.1.11")
    out.append(None if isinstance(front, Pending) else front)
    return out


@HOSTILE
@given(st.integers(1, 1200), st.integers(0, 80), st.sampled_from(["gaia.cs.umass.edu", "x.poly.edu"]))
def test_pointer_chains_are_refused_past_the_jump_bound_and_cost_linear_work(records, restart, qname):
    wire = chained(records, qname, restart=restart)
    jumps = min(records, restart) if restart else records
    for out in both(wire):
        if jumps > MAX_POINTERS:
            assert out is not None and rcode_of(out) == FORMERR
        elif out is not None:
            assert rcode_of(out) != FORMERR
    assert calls(lambda: parse(wire)) <= 12 * len(wire)  # linear: a few calls per byte, whatever the chain


@FAST
@given(st.lists(st.integers(1, 90), min_size=1, max_size=9), st.sampled_from([b"\x02cs\x05umass\x03edu", b""]))
def test_over_long_labels_and_names_get_formerr_and_the_rest_an_answer(lengths, suffix):
    name = b"".join(bytes([n]) + b"k" * n for n in lengths) + suffix + b"\x00"
    wire = HEADER.pack(0x5151, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
    too_long = max(lengths) > 63 or len(name) > 255
    for out in both(wire):
        if too_long:
            assert out is not None and rcode_of(out) == FORMERR
        elif out is not None:
            check_reply(wire, out)
            assert rcode_of(out) != FORMERR


@FAST
@given(st.integers(0, 3), st.sampled_from(["ar", "rr", "auth"]), st.integers(0, 255), st.integers(0, 65535))
def test_edns_two_opts_an_opt_out_of_place_and_unknown_versions(opts, place, version, size):
    q = DNSRecord.question("gaia.cs.umass.edu")
    for _ in range(opts):
        {"ar": q.add_ar, "rr": q.add_answer, "auth": q.add_auth}[place](EDNS0(version=version, udp_len=size))
    wire = bytes(q.pack())
    if opts > 1 or (opts and place != "ar"):
        expected = FORMERR
    elif opts and version:
        expected = BADVERS
    else:
        expected = None
    for out in both(wire):
        if expected is not None:
            assert out is not None and rcode_of(out) == expected
            check_reply(wire, out)
        elif out is not None:
            assert rcode_of(out) not in (FORMERR, BADVERS)
