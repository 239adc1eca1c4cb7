"""DNS, iterative resolution: the local DNS server asks the root, then the TLD, then the authoritative server;
asked again at once, it answers from its cache without a packet upstream.

Kurose & Ross 2.4 (figure 2.19). client1 (the textbook's cis.poly.edu) asks its local DNS server
local-dns (dns.poly.edu, 10.0.3.53) for gaia.cs.umass.edu, with recursion desired. The local server,
its cache empty, asks the root server (10.0.5.10) with recursion off, which refers it to the edu TLD
server; the TLD server refers it to dns.umass.edu, which answers with authority. The answer goes back to
client1. A second lookup right after is answered from the cache: nothing leaves the local server.
"""

from __future__ import annotations

import time

from scapy.layers.dns import DNS
from scapy.layers.inet import UDP
from scapy.packet import Packet

from scenarios.assertions import Absent, InOrder, Present, Step
from scenarios.match import Endpoint, Match, _ends, _who
from topology.registry import lookup

LAB = "campus"
SEGMENTS = ["servers", "internet"]
QNAME = "gaia.cs.umass.edu"
RESOLVER = "local-dns"


def dns(src: Endpoint = None, dst: Endpoint = None, *, qname: str | None = None, response: bool | None = None,
        rd: bool | None = None, tc: bool | None = None, rcode: int | None = None, answers: bool | None = None,
        referral: bool = False, authoritative: bool | None = None, label: str = "") -> Match:
    """A DNS message over UDP, by its header and question."""
    def test(p: Packet) -> bool:
        if UDP not in p or DNS not in p or not _ends(p, src, dst):
            return False
        d = p[DNS]
        checks = [
            qname is None or d.qd[0].qname.decode().rstrip(".").lower() == qname.rstrip(".").lower(),
            response is None or d.qr == int(response),
            rd is None or d.rd == int(rd),
            tc is None or d.tc == int(tc),
            rcode is None or d.rcode == rcode,
            answers is None or (d.ancount > 0) == answers,
            not referral or (d.qr == 1 and d.ancount == 0 and d.nscount > 0 and d.rcode == 0 and d.aa == 0),
            authoritative is None or d.aa == int(authoritative),
        ]
        return all(checks)

    kind = "referral" if referral else "reply" if response else "query" if response is False else "message"
    return Match(label or f"DNS {kind}{' for ' + qname if qname else ''} {_who(src)} > {_who(dst)}", test)


def describe(p: Packet) -> str | None:
    """A DNS message in the ladder, in the course's words."""
    if DNS not in p or UDP not in p:
        return None
    d = p[DNS]
    q = d.qd[0]
    name, qtype = q.qname.decode(), q.sprintf("%qtype%")
    if not d.qr:
        return f"{qtype}? {name} (RD={d.rd})"
    if d.tc:
        return f"{qtype} {name}: truncated (TC=1)"
    if d.rcode == 3:
        return f"{name}: NXDOMAIN, SOA for negative caching"
    if d.ancount:
        an = d.an[-1] if isinstance(d.an, list) else d.an
        value = an.rdata.decode() if isinstance(an.rdata, bytes) else str(an.rdata)
        more = f" (+{d.ancount - 1} more)" if d.ancount > 1 and qtype != "A" else ""
        return f"{qtype} {name} = {value[:40]}{more}{' (authoritative)' if d.aa else ''}"
    if d.nscount and not d.aa:
        ns = d.ns[0] if isinstance(d.ns, list) else d.ns
        return f"referral: {ns.rrname.decode()} is served by {ns.rdata.decode() if isinstance(ns.rdata, bytes) else ns.rdata}"
    return f"{name}: no data (SOA)"


def fresh_resolver(ctx) -> None:
    """Restart the local DNS server, so the scenario starts from an empty cache whatever ran before."""
    lab = ctx.lab
    rec = next(s for s in lab.state.services if s.node == RESOLVER and s.name == "dns-resolver")
    lab.stop_service(rec)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # observe the old server's port close before the new one binds it
        if not any(line.split()[4].endswith(":53") for line in
                   lab.run(RESOLVER, ["ss", "-Hlnu"], timeout=10).stdout.splitlines() if len(line.split()) > 4):
            break
        time.sleep(0.05)
    args = rec.argv[len(lookup(rec.name).argv):]
    lab.wait_ready(lab.start_service(RESOLVER, rec.name, args))
    ctx.note("restarted local-dns: its cache is empty")


def run(ctx) -> None:
    client, local = ctx.host("client1"), ctx.host(RESOLVER)
    root, tld, auth = ctx.host("root-dns"), ctx.host("edu-dns"), ctx.host("umass-dns")
    fresh_resolver(ctx)
    ctx.mark("first")
    ctx.run("client1", ["dig", "+tries=1", "+time=5", QNAME], check=True)
    ctx.mark("second")
    ctx.run("client1", ["dig", "+tries=1", "+time=5", QNAME], check=True)

    steps = [
        Step(dns(client, local, qname=QNAME, response=False, rd=True,
                 label=f"client1 asks {local} for {QNAME}, recursion desired"), "client query"),
        Step(dns(local, root, qname=QNAME, response=False, rd=False,
                 label=f"{local} asks the root {root}, recursion off"), "root query"),
        Step(dns(root, local, qname=QNAME, referral=True, label="the root refers to the edu TLD server"), "root"),
        Step(dns(local, tld, qname=QNAME, response=False, rd=False, label=f"{local} asks the TLD server {tld}"),
             "TLD query"),
        Step(dns(tld, local, qname=QNAME, referral=True, label="the TLD server refers to dns.umass.edu"), "TLD"),
        Step(dns(local, auth, qname=QNAME, response=False, rd=False,
                 label=f"{local} asks the authoritative server {auth}"), "authoritative query"),
        Step(dns(auth, local, qname=QNAME, response=True, answers=True, authoritative=True,
                 label=f"{auth} answers with authority"), "authoritative"),
        Step(dns(local, client, qname=QNAME, response=True, answers=True, rcode=0,
                 label=f"{local} answers client1"), "answer"),
    ]
    upstream = dns(local, None, response=False, label=f"any query from {local} to another server")
    ctx.expect(
        InOrder("servers", steps, "first lookup: the local DNS server asks the root, then the TLD, then the "
                "authoritative server, and answers the client", after="first", before="second"),
        Present("servers", dns(local, client, qname=QNAME, response=True, answers=True,
                               label=f"{local}'s answer to client1"),
                "second lookup: the local DNS server answers client1 again", after="second"),
        Absent("servers", upstream, "second lookup: answered from the cache, no query leaves the local DNS server",
               after="second"),
        Absent("internet", dns(local, None), "second lookup: no DNS packet from the local server reaches the "
               "internet segment", after="second"),
    )
    columns = ["client1", RESOLVER, "root-dns", "edu-dns", "umass-dns"]
    ctx.ladder("servers", dns(), f"first lookup of {QNAME}", before="second", columns=columns, label=describe)
    ctx.ladder("servers", dns(), f"second lookup of {QNAME}: from the cache", after="second", columns=columns,
               label=describe)
