"""Packet predicates with a label in the course's words, for assertions and ladder diagrams.

    syn = tcp(client, server, dport=12000, flags="S")          # label: "SYN client1 (10.0.1.11) > server1 ..."
    ask = arp_request(client1, client2)                         # "ARP who-has 10.0.1.12 tell client1 ..."
    either = syn | ask; both = udp(a, b) & payload(b"hello")

Endpoints are `Host`s (from `ctx.host(...)`) or plain IP strings; `None` matches anything. The
predicates of an application protocol live in its describer: `describers.dns.dns(...)`,
`describers.dhcp.dhcp(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from .frames import BROADCAST_MAC, Host

Endpoint = Host | str | None


@dataclass(frozen=True)
class Match:
    label: str
    test: Callable[[Packet], bool]

    def __call__(self, pkt: Packet) -> bool:
        try:
            return bool(self.test(pkt))
        except (AttributeError, IndexError, TypeError):
            return False

    def __and__(self, other: Match) -> Match:
        return Match(f"{self.label}, {other.label}", lambda p: self(p) and other(p))

    def __or__(self, other: Match) -> Match:
        return Match(f"{self.label} or {other.label}", lambda p: self(p) or other(p))

    def named(self, label: str) -> Match:
        return Match(label, self.test)


def ip_of(e: Endpoint) -> str | None:
    return e.ip if isinstance(e, Host) else e


def who(e: Endpoint) -> str:
    return "any" if e is None else str(e)


def addressed(pkt: Packet, src: Endpoint, dst: Endpoint) -> bool:
    if IP not in pkt:
        return False
    s, d = ip_of(src), ip_of(dst)
    return (s is None or pkt[IP].src == s) and (d is None or pkt[IP].dst == d)


def ip(src: Endpoint = None, dst: Endpoint = None) -> Match:
    return Match(f"IP packet {who(src)} > {who(dst)}", lambda p: addressed(p, src, dst))


TCP_FLAG_NAMES = {"S": "SYN", "SA": "SYN-ACK", "A": "ACK", "FA": "FIN", "F": "FIN", "R": "RST", "RA": "RST"}


def tcp(src: Endpoint = None, dst: Endpoint = None, sport: int | None = None, dport: int | None = None,
        flags: str | None = None, has: str = "", data: bool | None = None) -> Match:
    """A TCP segment. flags: exactly these (e.g. "S", "SA"); has: at least these (e.g. "F")."""
    def test(p: Packet) -> bool:
        if TCP not in p or not addressed(p, src, dst):
            return False
        t = p[TCP]
        f = str(t.flags)
        return ((sport is None or t.sport == sport) and (dport is None or t.dport == dport)
                and (flags is None or set(f) == set(flags)) and all(c in f for c in has)
                and (data is None or (len(t.payload) > 0) == data))

    what = TCP_FLAG_NAMES.get(flags or "", "TCP segment") if flags else (
        "FIN" if "F" in has else "data segment" if data else "TCP segment")
    port = f":{dport}" if dport else ""
    return Match(f"{what} {who(src)} > {who(dst)}{port}", test)


def udp(src: Endpoint = None, dst: Endpoint = None, sport: int | None = None,
        dport: int | None = None) -> Match:
    def test(p: Packet) -> bool:
        return (UDP in p and addressed(p, src, dst) and (sport is None or p[UDP].sport == sport)
                and (dport is None or p[UDP].dport == dport))

    return Match(f"UDP datagram {who(src)} > {who(dst)}{f':{dport}' if dport else ''}", test)


def payload(contains: bytes) -> Match:
    """The transport payload (TCP or UDP) contains these bytes."""
    def test(p: Packet) -> bool:
        layer = p[TCP] if TCP in p else p[UDP] if UDP in p else None
        return layer is not None and contains in bytes(layer.payload)

    return Match(f"carrying {contains.decode(errors='replace')!r}", test)


ICMP_NAMES = {(0, None): "ICMP echo reply", (8, None): "ICMP echo request", (11, None): "ICMP time-exceeded",
              (3, 3): "ICMP port unreachable", (3, 4): "ICMP fragmentation-needed", (3, None): "ICMP unreachable"}


def icmp(src: Endpoint = None, dst: Endpoint = None, type: int | None = None, code: int | None = None) -> Match:
    def test(p: Packet) -> bool:
        return (ICMP in p and addressed(p, src, dst) and (type is None or p[ICMP].type == type)
                and (code is None or p[ICMP].code == code))

    name = ICMP_NAMES.get((type, code)) or ICMP_NAMES.get((type, None)) or "ICMP message"
    frm = f" from {src}" if src is not None else ""
    to = f" to {dst}" if dst is not None else ""
    return Match(f"{name}{frm}{to}", test)


def arp_request(asker: Endpoint = None, target: Endpoint = None) -> Match:
    def test(p: Packet) -> bool:
        a = p[ARP]
        return (a.op == 1 and (ip_of(asker) is None or a.psrc == ip_of(asker))
                and (ip_of(target) is None or a.pdst == ip_of(target)))

    t = ip_of(target) or "any address"
    return Match(f"ARP who-has {t} tell {who(asker)}", test)


def arp_reply(owner: Endpoint = None, to: Endpoint = None) -> Match:
    def test(p: Packet) -> bool:
        a = p[ARP]
        return (a.op == 2 and (ip_of(owner) is None or a.psrc == ip_of(owner))
                and (ip_of(to) is None or a.pdst == ip_of(to)))

    return Match(f"ARP is-at from {who(owner)} to {who(to)}", test)


def arp() -> Match:
    return Match("ARP", lambda p: ARP in p)


def broadcast() -> Match:
    return Match("broadcast frame", lambda p: p[Ether].dst.lower() == BROADCAST_MAC)


def between(a: Endpoint, b: Endpoint) -> Match:
    """Unicast IP between a and b, either way."""
    return Match(f"unicast between {who(a)} and {who(b)}",
                 lambda p: (addressed(p, a, b) or addressed(p, b, a)) and p[Ether].dst.lower() != BROADCAST_MAC)


def fragment(src: Endpoint = None, dst: Endpoint = None) -> Match:
    """An IP fragment: MF set, or a non-zero offset."""
    return Match(f"IP fragment {who(src)} > {who(dst)}",
                 lambda p: addressed(p, src, dst) and bool(p[IP].flags.MF or p[IP].frag))
