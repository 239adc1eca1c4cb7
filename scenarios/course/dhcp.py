"""DHCP: a new host gets its address in four messages, DISCOVER, OFFER, REQUEST, ACK, all with one
transaction id; it renews by unicast; a host on another LAN is served through its router's relay.

Kurose & Ross 4.3.3 (figure 4.24). laptop1 on lan1 starts its DHCP client afresh: with no address, it
broadcasts a DISCOVER from 0.0.0.0 to 255.255.255.255; r1's relay agent forwards it to the server
`dhcp` (10.0.3.60) with giaddr 10.0.1.1, so the server offers an address from lan1's pool; the client
broadcasts a REQUEST for it and the server ACKs. The address the laptop then holds is the ACK's yiaddr.
Asked to renew (as at T1), the laptop sends its REQUEST unicast to the server, from its own address.
laptop2 on lan2 (a hub) does the same through r2 and gets an address from lan2's pool.
"""

from __future__ import annotations

import signal

from scenarios.framework.assertions import Present, Step
from scenarios.framework.describers.dhcp import Transaction, dhcp
from scenarios.framework.ladder import BROADCAST

LAB = "campus"
SEGMENTS = ["lan1", "lan2", "backbone"]
SERVER = "10.0.3.60"
POOLS = {"lan1": ("10.0.1.100", "10.0.1.199"), "lan2": ("10.0.2.100", "10.0.2.199")}


def fresh_lease(ctx, node: str):
    """Restart the node's DHCP client: it releases its lease, and the new one starts with no address."""
    return ctx.restart_service(ctx.service(node, "dhcp-client", iface="eth0"))


def address(ctx, node: str) -> str:
    out = ctx.run(node, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], check=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def run(ctx) -> None:
    relay1, relay2 = "10.0.1.1", "10.0.2.1"  # the relays' addresses on the laptops' LANs: giaddr
    r2_out = ctx.host("r2", "backbone").ip  # where r2's forwarded requests come from
    laptop1, laptop2 = ctx.host("laptop1", "lan1"), ctx.host("laptop2", "lan2")

    ctx.mark("dora")
    client = fresh_lease(ctx, "laptop1")
    ip1 = address(ctx, "laptop1")
    ctx.mark("renew")
    logged = len(ctx.service_log(client))
    ctx.signal_service(client, signal.SIGUSR1)  # renew now, as at T1
    ctx.wait_log(client, "renewed", since=logged)  # the client says so once the server's ACK is in
    ctx.mark("relayed")
    fresh_lease(ctx, "laptop2")
    ip2 = address(ctx, "laptop2")
    ctx.mark("end")

    ctx.expect(
        Transaction("lan1", [
            Step(dhcp("DISCOVER", "0.0.0.0", "255.255.255.255", chaddr=laptop1.mac), "DISCOVER"),
            Step(dhcp("OFFER", relay1, in_pool=POOLS["lan1"]), "OFFER"),
            Step(dhcp("REQUEST", "0.0.0.0", "255.255.255.255", chaddr=laptop1.mac), "REQUEST"),
            Step(dhcp("ACK", relay1, yiaddr=ip1), "ACK"),
        ], f"laptop1: DISCOVER from 0.0.0.0 to broadcast, OFFER, REQUEST, ACK, all with one transaction id; "
           f"the ACK's yiaddr is the address on eth0 ({ip1})", after="dora", before="renew"),
        Transaction("lan1", [
            Step(dhcp("REQUEST", ip1, SERVER, ciaddr=ip1), "unicast REQUEST"),
            Step(dhcp("ACK", SERVER, ip1, yiaddr=ip1), "unicast ACK"),
        ], f"laptop1 renews by unicast: REQUEST {ip1} > {SERVER}, ACK {SERVER} > {ip1}",
            after="renew", before="relayed"),
        Present("backbone", dhcp("DISCOVER", r2_out, SERVER, chaddr=laptop2.mac, giaddr=relay2),
                f"r2's relay forwards laptop2's DISCOVER to the server by unicast, with giaddr {relay2}",
                after="relayed", before="end"),
        Transaction("lan2", [
            Step(dhcp("DISCOVER", "0.0.0.0", "255.255.255.255", chaddr=laptop2.mac), "DISCOVER"),
            Step(dhcp("ACK", relay2, yiaddr=ip2, in_pool=POOLS["lan2"]), "ACK"),
        ], f"laptop2 on lan2 gets {ip2} from lan2's pool ({POOLS['lan2'][0]}-{POOLS['lan2'][1]}) through r2",
            after="relayed", before="end"),
    )
    ctx.ladder("lan1", dhcp(), "DHCP on lan1: laptop1's DORA (r1 relays it to dhcp), then its unicast renewal",
               after="dora", before="relayed", columns=["laptop1", BROADCAST, "r1", "dhcp"])
    ctx.ladder("backbone", dhcp(), "the same for laptop2, as the backbone sees it: relay r2 and the server dhcp",
               after="relayed", before="end", columns=["laptop2", "r2", "dhcp"])
