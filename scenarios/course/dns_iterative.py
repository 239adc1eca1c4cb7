"""DNS, iterative resolution: the local DNS server asks the root, then the TLD, then the authoritative server;
asked again at once, it answers from its cache without a packet upstream.

Kurose & Ross 2.4 (figure 2.19). client1 (the textbook's cis.poly.edu) asks its local DNS server
local-dns (dns.poly.edu, 10.0.3.53) for gaia.cs.umass.edu, with recursion desired. The local server,
its cache empty, asks the root server (10.0.5.10) with recursion off, which refers it to the edu TLD
server; the TLD server refers it to dns.umass.edu, which answers with authority. The answer goes back to
client1. A second lookup right after is answered from the cache: nothing leaves the local server.
"""

from __future__ import annotations

from scenarios.framework.assertions import Absent, InOrder, Present, Step
from scenarios.framework.describers.dns import dns

LAB = "campus"
SEGMENTS = ["servers", "internet"]
QNAME = "gaia.cs.umass.edu"
RESOLVER = "local-dns"


def fresh_resolver(ctx) -> None:
    """Restart the local DNS server, so the scenario starts from an empty cache whatever ran before."""
    ctx.restart_service(ctx.service(RESOLVER, "dns-resolver"))


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
    upstream = dns(local, None, response=False, label=f"a query from {local} to another server")
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
    ctx.ladder("servers", dns(), f"first lookup of {QNAME}: root, TLD, then authoritative", before="second",
               columns=columns)
    ctx.ladder("servers", dns(), f"second lookup of {QNAME}: from the cache", after="second", columns=columns)
