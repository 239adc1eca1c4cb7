"""ARP: the first IP packet to a new neighbour waits for ARP who-has and is-at; the next one does not.

Kurose & Ross 6.4.1. client1 pings client2 on lan1 with empty ARP caches: the capture shows client1's
broadcast "who has 10.0.1.12?", client2's unicast "is at <MAC>", and only then the echo request. A
second ping, within the cache's lifetime, goes out at once. To reach server1 on another subnet,
client1 asks ARP for its gateway r1, never for server1's own address.
"""

from scenarios.framework.assertions import Absent, InOrder, Step
from scenarios.framework.match import arp, arp_reply, arp_request, icmp, ip

LAB = "campus"


def run(ctx) -> None:
    a, b = ctx.host("client1", "lan1"), ctx.host("client2", "lan1")
    gateway, server = ctx.host("r1", "lan1"), ctx.host("server1")
    for node in ("client1", "client2"):
        ctx.run(node, ["ip", "neigh", "flush", "all"], check=True)  # a new neighbour: nothing cached

    ctx.mark("first")
    ctx.run("client1", ["ping", "-n", "-c1", "-W2", b.ip])
    ctx.mark("second")
    ctx.run("client1", ["ping", "-n", "-c1", "-W2", b.ip])
    ctx.mark("off-subnet")
    ctx.run("client1", ["ip", "neigh", "flush", "all"], check=True)
    ctx.run("client1", ["ping", "-n", "-c1", "-W2", server.ip])
    ctx.mark("end")

    ctx.expect(
        InOrder("lan1", [Step(arp_request(a, b), "the who-has"), Step(arp_reply(b, a), "the is-at"),
                         ip(a, b).named(f"the first IP packet {a.name} > {b.name}")],
                "the first IP packet to a new neighbour is preceded by ARP who-has and is-at",
                after="first", before="second"),
        Absent("lan1", arp_request(a, b),
               "a second exchange within the cache lifetime needs no ARP: client1's cache answers",
               after="second", before="off-subnet", given=icmp(a, b, type=8)),
        InOrder("lan1", [arp_request(a, gateway), arp_reply(gateway, a),
                         ip(a, server).named(f"the first IP packet {a.name} > {server.name}")],
                "for a host on another subnet, client1 asks ARP for its gateway r1",
                after="off-subnet", before="end"),
        Absent("lan1", arp_request(None, server), "nobody asks ARP for server1's address on lan1: it is not a neighbour",
               after="off-subnet", before="end"),
    )
    ctx.ladder("lan1", arp() | ip(a, b) | ip(b, a), "client1 meets client2 (first ping, then second)",
               after="first", before="off-subnet", columns=["client1", "client2"])
