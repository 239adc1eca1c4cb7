"""The relay agent's decisions (RFC 2131 section 4.1, RFC 1542 section 4; sans-I/O).

From a client: stamp giaddr with the address of the link the request came in on (unless a relay
nearer the client already did), count the hop, and forward to every configured server. From a
server: find the link whose address is giaddr and deliver there the way the server would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from .packet import ZERO, DhcpPacket, MessageType, Op

MAX_HOPS = 16
LIMITED_BROADCAST = IPv4Address("255.255.255.255")


@dataclass
class Delivery:
    link: IPv4Address  # the relay's own address on the client's link (= giaddr)
    to: str  # "broadcast" | "unicast" (ciaddr) | "hardware" (yiaddr at chaddr)
    ip: IPv4Address


def toward_server(pkt: DhcpPacket, link: IPv4Address) -> DhcpPacket | None:
    """The request to forward, or None to drop it (a reply, or too many hops)."""
    if pkt.op != Op.BOOTREQUEST or pkt.hops >= MAX_HOPS:
        return None
    pkt.hops += 1
    if pkt.giaddr == ZERO:
        pkt.giaddr = link
    return pkt


def toward_client(pkt: DhcpPacket, links: set[IPv4Address]) -> Delivery | None:
    """Where a server's reply goes, or None when giaddr is none of this relay's links."""
    if pkt.op != Op.BOOTREPLY or pkt.giaddr not in links:
        return None
    if pkt.message_type == MessageType.NAK or pkt.broadcast or pkt.yiaddr == ZERO and pkt.ciaddr == ZERO:
        return Delivery(pkt.giaddr, "broadcast", LIMITED_BROADCAST)
    if pkt.ciaddr != ZERO:
        return Delivery(pkt.giaddr, "unicast", pkt.ciaddr)
    return Delivery(pkt.giaddr, "hardware", pkt.yiaddr)
