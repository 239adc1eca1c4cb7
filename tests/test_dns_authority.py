"""The authoritative core, bytes in and bytes out, case by case from RFC 1034/1035/2308/6891."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from services.dns.authority import Authority
from services.dns.zone import ZoneError, load_zone, parse_zone

EXAMPLE = """
$ORIGIN example.org.
$TTL 3600
@        IN SOA ns1 hostmaster ( 2024010101 3600 900 604800 300 )
@        IN NS  ns1
@        IN MX  10 mail
ns1      IN A   192.0.2.1
mail     IN A   192.0.2.25
mail     IN AAAA 2001:db8::25
www      IN CNAME web
web      IN A   192.0.2.80
gone     IN CNAME nowhere
deep.empty IN A 192.0.2.9
*.wild   IN TXT "wildcard"
sub      IN NS  ns.sub
ns.sub   IN A   192.0.2.53
other    IN NS  ns.elsewhere.net.
""" + "".join(f'big IN TXT "{i:02d} {"x" * 180}"\n' for i in range(12))

REVERSE = """
$ORIGIN 2.0.192.in-addr.arpa.
@   30 IN SOA ns1.example.org. hostmaster.example.org. ( 1 3600 900 604800 600 )
@   IN NS ns1.example.org.
80  IN PTR web.example.org.
"""


@pytest.fixture(scope="module")
def auth() -> Authority:
    return Authority([parse_zone(EXAMPLE, "example.org"), parse_zone(REVERSE, "reverse")])


def ask(auth: Authority, name: str, qtype: str = "A", *, edns: int | None = None, tcp: bool = False,
        query: DNSRecord | None = None) -> tuple[DNSRecord, bytes]:
    q = query or DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    wire = auth.handle(bytes(q.pack()), "192.0.2.200", tcp=tcp)
    assert wire is not None
    reply = DNSRecord.parse(wire)
    assert reply.header.id == q.header.id and reply.header.qr == 1
    return reply, wire


def records(section) -> list[tuple[str, str, str]]:
    return [(str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in section]


def test_answer_is_authoritative_and_echoes_the_question(auth):
    reply, _ = ask(auth, "WWW.Example.ORG", "A")
    assert reply.header.aa == 1 and reply.header.rcode == RCODE.NOERROR
    assert str(reply.q.qname) == "WWW.Example.ORG."  # the question comes back exactly as asked
    assert records(reply.rr) == [("www.example.org.", "CNAME", "web.example.org."),
                                 ("web.example.org.", "A", "192.0.2.80")]


def test_mx_answer_carries_the_exchange_address_as_additional(auth):
    reply, _ = ask(auth, "example.org", "MX")
    assert records(reply.rr) == [("example.org.", "MX", "10 mail.example.org.")]
    assert {r[1:] for r in records(reply.ar)} == {("A", "192.0.2.25"), ("AAAA", "2001:db8::25")}


def test_nxdomain_carries_the_soa_with_the_negative_ttl(auth):
    reply, _ = ask(auth, "missing.example.org")
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa == 1
    assert not reply.rr
    [soa] = reply.auth
    assert soa.rtype == QTYPE.SOA and str(soa.rname) == "example.org."
    assert soa.ttl == 300  # RFC 2308: min(SOA TTL 3600, MINIMUM 300)


def test_negative_ttl_is_the_soa_ttl_when_that_is_smaller(auth):
    reply, _ = ask(auth, "81.2.0.192.in-addr.arpa", "PTR")
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.auth[0].ttl == 30


def test_nodata_is_noerror_with_the_soa(auth):
    reply, _ = ask(auth, "web.example.org", "MX")
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr
    assert [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


def test_an_empty_non_terminal_exists(auth):
    reply, _ = ask(auth, "empty.example.org")  # only deep.empty has data: empty exists, with no records
    assert reply.header.rcode == RCODE.NOERROR and not reply.rr and reply.auth[0].rtype == QTYPE.SOA


def test_cname_to_a_missing_name_is_nxdomain_with_the_chain(auth):
    reply, _ = ask(auth, "gone.example.org")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert records(reply.rr) == [("gone.example.org.", "CNAME", "nowhere.example.org.")]


def test_cname_query_returns_the_cname_itself(auth):
    reply, _ = ask(auth, "www.example.org", "CNAME")
    assert records(reply.rr) == [("www.example.org.", "CNAME", "web.example.org.")]


def test_referral_to_a_child_zone_with_glue(auth):
    reply, _ = ask(auth, "host.sub.example.org")
    assert reply.header.aa == 0 and reply.header.rcode == RCODE.NOERROR and not reply.rr
    assert records(reply.auth) == [("sub.example.org.", "NS", "ns.sub.example.org.")]
    assert records(reply.ar) == [("ns.sub.example.org.", "A", "192.0.2.53")]


def test_referral_without_glue_when_the_server_is_elsewhere(auth):
    reply, _ = ask(auth, "a.other.example.org", "MX")
    assert records(reply.auth) == [("other.example.org.", "NS", "ns.elsewhere.net.")] and not reply.ar


def test_wildcard_synthesises_the_asked_name(auth):
    reply, _ = ask(auth, "anything.wild.example.org", "TXT")
    assert records(reply.rr) == [("anything.wild.example.org.", "TXT", '"wildcard"')]


def test_any_returns_every_record_of_the_name(auth):
    reply, _ = ask(auth, "mail.example.org", "ANY")
    assert {r[1] for r in records(reply.rr)} == {"A", "AAAA"}


def test_ptr_in_the_reverse_zone(auth):
    reply, _ = ask(auth, "80.2.0.192.in-addr.arpa", "PTR")
    assert records(reply.rr) == [("80.2.0.192.in-addr.arpa.", "PTR", "web.example.org.")]


def test_a_name_outside_every_zone_is_refused(auth):
    reply, _ = ask(auth, "www.example.com")
    assert reply.header.rcode == RCODE.REFUSED and reply.header.aa == 0


def test_large_answer_truncates_at_512_without_edns(auth):
    reply, wire = ask(auth, "big.example.org", "TXT")
    assert reply.header.tc == 1 and not reply.rr and len(wire) <= 512


def test_large_answer_truncates_at_the_edns_size(auth):
    reply, wire = ask(auth, "big.example.org", "TXT", edns=1232)
    assert reply.header.tc == 1 and len(wire) <= 1232
    assert [rr.rtype for rr in reply.ar] == [QTYPE.OPT]  # the OPT record survives truncation


def test_large_answer_fits_a_large_edns_buffer_up_to_our_ceiling():
    auth = Authority([parse_zone(EXAMPLE, "example.org")], udp_ceiling=4096)
    reply, wire = ask(auth, "big.example.org", "TXT", edns=4096)
    assert reply.header.tc == 0 and len(reply.rr) == 12 and len(wire) > 1232


def test_large_answer_is_whole_over_tcp(auth):
    reply, wire = ask(auth, "big.example.org", "TXT", tcp=True)
    assert reply.header.tc == 0 and len(reply.rr) == 12 and len(wire) > 2000


def test_edns_query_gets_an_opt_record_and_plain_query_none(auth):
    reply, _ = ask(auth, "web.example.org", edns=4096)
    assert [(rr.rtype, rr.rclass) for rr in reply.ar] == [(QTYPE.OPT, 1232)]
    reply, _ = ask(auth, "web.example.org")
    assert not reply.ar


def test_unknown_edns_version_gets_badvers(auth):
    q = DNSRecord.question("web.example.org")
    q.add_ar(EDNS0(version=1, udp_len=1232))
    reply, _ = ask(auth, "", query=q)
    [opt] = reply.ar
    assert (opt.ttl >> 24) == 1 and not reply.rr  # extended rcode 16 = BADVERS


def test_other_opcodes_are_not_implemented(auth):
    q = DNSRecord.question("web.example.org")
    q.header.opcode = 2  # STATUS
    reply, _ = ask(auth, "", query=q)
    assert reply.header.rcode == RCODE.NOTIMP


def test_zone_transfer_is_refused(auth):
    reply, _ = ask(auth, "example.org", "AXFR", tcp=True)
    assert reply.header.rcode == RCODE.REFUSED


def test_garbage_with_a_header_gets_formerr_and_without_none(auth):
    wire = auth.handle(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07exa", "x")
    reply = DNSRecord.parse(wire)
    assert reply.header.id == 0x1234 and reply.header.rcode == RCODE.FORMERR and reply.header.qr
    assert auth.handle(b"\x12\x34\x01", "x") is None


def test_responses_are_never_answered(auth):
    q = DNSRecord.question("web.example.org")
    q.header.qr = 1
    assert auth.handle(bytes(q.pack()), "x") is None


def test_identical_queries_get_identical_replies_but_their_own_id(auth):
    a, _ = ask(auth, "web.example.org")
    q = DNSRecord.question("web.example.org")
    q.header.id = (a.header.id + 1) % 65536
    b, _ = ask(auth, "", query=q)
    assert b.header.id == q.header.id and records(a.rr) == records(b.rr)


@pytest.mark.parametrize("text, problem", [
    ("example.org. IN NS ns1.example.org.\n", "exactly one SOA"),
    ("$ORIGIN example.org.\n@ IN SOA ns1 h ( 1 2 3 4 5 )\n", "no NS record"),
    ("$ORIGIN example.org.\n@ IN SOA ns1 h ( 1 2 3 4 5 )\n@ IN NS ns1\nwww.example.com. IN A 1.2.3.4\n",
     "outside the zone"),
    ("$ORIGIN example.org.\n@ IN SOA ns1 h ( 1 2 3 4 5 )\n@ IN NS ns1\nw IN CNAME x\nw IN A 1.2.3.4\n",
     "CNAME and other data"),
    ("$ORIGIN example.org.\n@ IN SOA ns1 h ( 1 2 3 4 5 )\n@ IN NS ns1\nw IN BOGUS x\n", "cannot parse"),
    ("$ORIGIN example.org.\n@ IN SOA ns1 h ( 1 2 3 4 5 )\n@ IN NS ns1\n" + "l" * 70 + " IN A 1.2.3.4\n",
     "too long"),
])
def test_bad_zone_files_are_refused_in_one_line(text, problem):
    with pytest.raises(ZoneError, match=problem) as e:
        parse_zone(text, "bad.zone")
    assert str(e.value).startswith("bad.zone: ") and "\n" not in str(e.value)


def test_missing_zone_file_says_which(tmp_path):
    with pytest.raises(ZoneError, match="cannot read zone file .*nope.zone"):
        load_zone(tmp_path / "nope.zone")


# a CNAME into a child zone hosted by the same server, as www.umass.edu -> gaia.cs.umass.edu in campus
PARENT = """
$ORIGIN campus.test.
@        IN SOA ns1 hostmaster ( 1 3600 900 604800 300 )
@        IN NS  ns1
ns1      IN A   192.0.2.1
www      IN CNAME gaia.cs
alias    IN CNAME gone.cs
away     IN CNAME host.far
cs       IN NS  ns1.cs
ns1.cs   IN A   192.0.2.1
far      IN NS  ns.elsewhere.net.
"""
CHILD = """
$ORIGIN cs.campus.test.
@        IN SOA ns1 hostmaster ( 1 3600 900 604800 300 )
@        IN NS  ns1
ns1      IN A   192.0.2.1
gaia     IN A   192.0.2.80
"""


@pytest.fixture(scope="module")
def parent_and_child() -> Authority:
    return Authority([parse_zone(PARENT, "parent"), parse_zone(CHILD, "child")])


def test_a_cname_into_a_child_zone_held_here_is_followed_with_authority(parent_and_child):
    reply, _ = ask(parent_and_child, "www.campus.test")
    assert reply.header.aa == 1 and reply.header.rcode == RCODE.NOERROR
    assert records(reply.rr) == [("www.campus.test.", "CNAME", "gaia.cs.campus.test."),
                                 ("gaia.cs.campus.test.", "A", "192.0.2.80")]
    assert not reply.auth  # no referral to a zone the server itself answers for


def test_a_cname_to_a_missing_name_in_the_child_zone_is_nxdomain_with_its_soa(parent_and_child):
    reply, _ = ask(parent_and_child, "alias.campus.test")
    assert reply.header.aa == 1 and reply.header.rcode == RCODE.NXDOMAIN
    assert records(reply.rr) == [("alias.campus.test.", "CNAME", "gone.cs.campus.test.")]
    assert [str(rr.rname) for rr in reply.auth] == ["cs.campus.test."]


def test_a_cname_into_a_zone_held_elsewhere_keeps_aa_and_refers(parent_and_child):
    reply, _ = ask(parent_and_child, "away.campus.test")
    assert reply.header.aa == 1  # AA speaks for the name asked (RFC 1035 section 4.1.1)
    assert records(reply.rr) == [("away.campus.test.", "CNAME", "host.far.campus.test.")]
    assert records(reply.auth) == [("far.campus.test.", "NS", "ns.elsewhere.net.")]


def test_a_plain_referral_still_clears_aa(parent_and_child):
    reply, _ = ask(parent_and_child, "x.far.campus.test")
    assert reply.header.aa == 0 and not reply.rr and records(reply.auth)[0][1] == "NS"


def test_two_opt_records_get_formerr(auth):
    q = DNSRecord.question("web.example.org")
    q.add_ar(EDNS0(udp_len=1232))
    q.add_ar(EDNS0(udp_len=4096))
    reply, _ = ask(auth, "", query=q)
    assert reply.header.rcode == RCODE.FORMERR and not reply.rr and not reply.ar


def test_an_opt_record_outside_the_additional_section_gets_formerr(auth):
    q = DNSRecord.question("web.example.org")
    q.add_auth(EDNS0(udp_len=1232))
    reply, _ = ask(auth, "", query=q)
    assert reply.header.rcode == RCODE.FORMERR and not reply.rr


def test_badvers_reply_carries_rcode_16_and_no_answer(auth):
    q = DNSRecord.question("web.example.org")
    q.add_ar(EDNS0(version=3, udp_len=1232))
    reply, _ = ask(auth, "", query=q)
    [opt] = reply.ar
    assert ((opt.ttl >> 24) << 4 | reply.header.rcode) == 16 and not reply.rr and not reply.auth
