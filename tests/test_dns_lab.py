"""DNS in the campus lab itself (brought up under the name dns-campus): standard tools inside nodes resolve
lab names through the campus's local DNS server, which walks the lab's own hierarchy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab
CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: dns-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def resolver_log(running: labs.RunningLab) -> str:
    rec = next(s for s in running.state.services if s.name == "dns-resolver")
    return Path(rec.log).read_text()


def test_nodes_resolve_lab_names_with_standard_tools(campus):
    assert "nameserver 10.0.3.53" in campus.run("client1", ["cat", "/etc/resolv.conf"]).stdout
    out = campus.run("client1", ["dig", "gaia.cs.umass.edu"], check=True).stdout
    assert "status: NOERROR" in out and "SERVER: 10.0.3.53#53" in out
    assert re.search(r"^gaia\.cs\.umass\.edu\.\s+\d+\s+IN\s+A\s+10\.0\.5\.80$", out, re.M), out
    assert campus.run("client3", ["getent", "hosts", "dns.hamburger.edu"]).stdout.split()[0] == "10.0.5.40"
    assert "1 received" in campus.run("client2", ["ping", "-c1", "-W2", "gaia.cs.umass.edu"]).stdout
    assert campus.run("client4", ["dig", "+short", "+search", "cis"]).stdout.split() == ["client1.poly.edu.",
                                                                                     "10.0.1.11"]
    assert campus.run("server1", ["dig", "+short", "-x", "10.0.2.13"]).stdout.strip() == "client3.poly.edu."
    assert campus.run("client1", ["dig", "+short", "crepes.fr", "MX"]).stdout.strip() == "10 mail.crepes.fr."


def test_truncated_over_udp_then_whole_over_tcp(campus):
    udp = campus.run("client3", ["dig", "+ignore", "big.cs.umass.edu", "TXT"]).stdout
    assert "tc" in re.search(r";; flags: ([a-z ]+);", udp).group(1).split() and "ANSWER: 0" in udp
    retry = campus.run("client3", ["dig", "big.cs.umass.edu", "TXT"]).stdout
    assert "Truncated, retrying in TCP mode" in retry and "ANSWER: 16" in retry and "(TCP)" in retry


def test_nxdomain_then_answered_from_the_negative_cache(campus):
    first = campus.run("client1", ["dig", "no-such-host.crepes.fr"]).stdout
    assert "status: NXDOMAIN" in first
    assert re.search(r"^crepes\.fr\.\s+300\s+IN\s+SOA\s+dns\.crepes\.fr\.", first, re.M), first
    asked = resolver_log(campus).count("for no-such-host.crepes.fr.")
    assert asked >= 1
    second = campus.run("client2", ["dig", "no-such-host.crepes.fr"]).stdout
    assert "status: NXDOMAIN" in second
    ttl = int(re.search(r"^crepes\.fr\.\s+(\d+)\s+IN\s+SOA", second, re.M).group(1))
    assert ttl <= 300 and resolver_log(campus).count("for no-such-host.crepes.fr.") == asked


def test_authoritative_servers_answer_dig_directly(campus):
    out = campus.run("client1", ["dig", "@10.0.5.10", "+norec", "www.umass.edu"]).stdout
    assert "ANSWER: 0" in out and re.search(r"^edu\.\s+\d+\s+IN\s+NS\s+ns1\.nic\.edu\.$", out, re.M)
    out = campus.run("client1", ["dig", "@10.0.5.30", "+norec", "gaia.cs.umass.edu"]).stdout
    assert re.search(r";; flags: qr aa", out), out


def test_an_ns_lookup_does_not_wedge_the_resolver_for_the_zone(campus):
    # umass.edu and cs.umass.edu share one server: the resolver never sees a referral into cs.umass.edu
    ns = campus.run("client4", ["dig", "cs.umass.edu", "NS"]).stdout
    assert "status: NOERROR" in ns and re.search(r"^cs\.umass\.edu\.\s+\d+\s+IN\s+NS\s+dns\.cs\.umass\.edu\.$", ns,
                                                   re.M), ns
    v6 = campus.run("client4", ["dig", "v6.cs.umass.edu", "AAAA"]).stdout
    assert "status: NOERROR" in v6 and re.search(r"^v6\.cs\.umass\.edu\.\s+\d+\s+IN\s+AAAA\s+fd00:0:0:5::80$", v6,
                                                   re.M), v6
    assert campus.run("client4", ["dig", "+short", "dns.cs.umass.edu"]).stdout.split() == ["10.0.5.30"]


def test_a_cname_into_a_child_zone_on_the_same_server_is_answered_with_authority(campus):
    out = campus.run("client1", ["dig", "@10.0.5.30", "+norec", "www.umass.edu"]).stdout
    assert re.search(r";; flags: qr aa", out) and "AUTHORITY: 0" in out, out
    assert re.search(r"^gaia\.cs\.umass\.edu\.\s+\d+\s+IN\s+A\s+10\.0\.5\.80$", out, re.M), out


def test_the_resolver_answers_with_the_zones_own_ttl_not_the_delegations(campus):
    campus.run("client2", ["dig", "mail.crepes.fr"])  # passes fr.'s referral, with glue for dns.crepes.fr
    out = campus.run("client2", ["dig", "dns.crepes.fr"]).stdout
    ttl = int(re.search(r"^dns\.crepes\.fr\.\s+(\d+)\s+IN\s+A\s+10\.0\.5\.41$", out, re.M).group(1))
    assert 3500 < ttl <= 3600, out  # crepes.fr's 3600, not fr.'s glue 86400
