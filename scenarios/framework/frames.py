"""Captured frames as the scenarios see them: numbered as Wireshark numbers them, timed, named by node.

A `Frame` is one packet of one capture (a segment's bridge or a node's interface); `Traffic` holds
every capture of a scenario run and the marks the scenario set, so assertions can look at a window
("after the mark `second`"). `Names` turns addresses into the lab's node names for people: static
addresses from the lab, MACs (deterministic) for hosts on DHCP, and the leases seen in the captures.
What a packet of an application protocol is called comes from that protocol's describer (describers/).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

if TYPE_CHECKING:
    from topology.model import Node

    from .stream import Connection, UdpExchange

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


@dataclass(frozen=True)
class Host:
    """A node as a scenario names it: its name, and its address and MAC on one segment."""

    name: str
    ip: str
    mac: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.ip})"


class Names:
    """Addresses (IP or MAC) to node names, from the lab's description and the leases in the captures."""

    def __init__(self, nodes: dict[str, Node]):
        self.by_ip: dict[str, str] = {}
        self.by_mac: dict[str, str] = {}
        self.unaddressed: set[str] = set()  # MACs of interfaces with no static address (on DHCP)
        for node, spec in nodes.items():
            for iface in spec.interfaces:
                mac = (iface.mac or "").lower()
                if iface.address is not None:
                    self.by_ip[str(iface.address.ip)] = node
                elif mac:
                    self.unaddressed.add(mac)
                if mac:
                    self.by_mac[mac] = node

    def learn(self, pkts: Iterable[Packet]) -> None:
        """Name the addresses the captures show being assigned (DHCP's leases), as describers say."""
        from .describers import for_packet

        for p in pkts:
            if (d := for_packet(p)) is not None:
                d.learn(p, self)

    def lease(self, addr: str, mac: str) -> None:
        """`addr` was given to the interface with this MAC: it names that node from now on."""
        node = self.by_mac.get(mac.lower())
        if node:
            self.by_ip.setdefault(addr, node)

    def _owner(self, addr: str, mac: str | None) -> str | None:
        # a MAC names the sender only on an interface with no static address: a router's MAC on a
        # forwarded packet belongs to the router, not to the packet's source
        mac = (mac or "").lower()
        return self.by_ip.get(addr) or (self.by_mac.get(mac) if mac in self.unaddressed else None)

    def ip(self, addr: str, mac: str | None = None) -> str:
        """`client1 (10.0.1.11)`, or the address alone when no node has it."""
        node = self._owner(addr, mac)
        return f"{node} ({addr})" if node else addr

    def node(self, addr: str, mac: str | None = None) -> str:
        """The node's name for an address (IP, or MAC alone), or the address itself."""
        return self._owner(addr, mac) or self.by_mac.get(addr.lower()) or addr


@dataclass
class Frame:
    capture: str  # "lan1" (a segment's bridge) or "client2-eth0" (a node's interface)
    number: int  # 1-based, as in Wireshark
    time: float  # seconds since the epoch (the kernel's capture timestamp)
    pkt: Packet

    def line(self, names: Names, t0: float | None = None) -> str:
        at = f" +{self.time - t0:.6f}s" if t0 is not None else ""
        return f"[{self.capture} #{self.number}{at}] {describe(self.pkt, names)}"

    def ref(self, names: Names) -> dict:
        return {"capture": self.capture, "frame": self.number, "time": self.time,
                "summary": describe(self.pkt, names)}


@dataclass
class Traffic:
    """Every capture of one scenario run, and the marks set during it."""

    captures: dict[str, list[Frame]]
    names: Names
    marks: dict[str, float] = field(default_factory=dict)
    _streams: dict[tuple, list] = field(default_factory=dict, repr=False)  # reassembled once per window

    def frames(self, capture: str, after: str | None = None, before: str | None = None) -> list[Frame]:
        if capture not in self.captures:
            raise LookupError(f"no capture named {capture!r}; captures: {', '.join(self.captures)}")
        for mark in (after, before):
            if mark and mark not in self.marks:
                raise LookupError(f"no mark named {mark!r}; marks: {', '.join(self.marks) or 'none'}")
        lo = self.marks[after] if after else float("-inf")
        hi = self.marks[before] if before else float("inf")
        return [f for f in self.captures[capture] if lo <= f.time < hi]

    def connections(self, capture: str, after: str | None = None, before: str | None = None) -> list[Connection]:
        """The TCP connections of a capture's window, reassembled (a connection cut by the window keeps
        only the part inside it)."""
        from .stream import tcp_connections

        key = ("tcp", capture, after, before)
        if key not in self._streams:
            self._streams[key] = tcp_connections(self.frames(capture, after, before))
        return self._streams[key]

    def exchanges(self, capture: str, after: str | None = None, before: str | None = None) -> list[UdpExchange]:
        """The UDP exchanges of a capture's window."""
        from .stream import udp_exchanges

        key = ("udp", capture, after, before)
        if key not in self._streams:
            self._streams[key] = udp_exchanges(self.frames(capture, after, before))
        return self._streams[key]


def describe(pkt: Packet, names: Names) -> str:
    """One line about a packet, in the words of the course (and of Wireshark's Info column)."""
    eth = pkt[Ether] if Ether in pkt else None
    if ARP in pkt:
        a = pkt[ARP]
        if a.op == 1:
            return f"ARP who-has {a.pdst} tell {names.ip(a.psrc, a.hwsrc)}"
        return f"ARP {names.ip(a.psrc, a.hwsrc)} is-at {a.hwsrc}"
    if IP not in pkt:
        return f"{eth.src} > {eth.dst} {pkt.summary()}" if eth else pkt.summary()
    ip = pkt[IP]
    ends = f"{names.ip(ip.src, eth.src if eth else None)} > {names.ip(ip.dst, eth.dst if eth else None)}"
    return f"{ends}: {short(pkt)}"


def short(pkt: Packet) -> str:
    """What a packet is, without its addresses: `SYN seq=0`, `UDP 41000 > 12000 len=5 'hello'`."""
    from .describers import for_packet

    if ARP in pkt:
        a = pkt[ARP]
        return f"ARP who-has {a.pdst}?" if a.op == 1 else f"ARP {a.psrc} is-at {a.hwsrc}"
    if IP not in pkt:
        return pkt.summary()
    ip = pkt[IP]
    if ip.flags.MF or ip.frag:
        # the textbook's fields (K&R figure 4.18): length, ID, offset in 8-byte units, the MF flag
        text = f"IP fragment id={ip.id} length={ip.len} offset={ip.frag} (byte {ip.frag * 8}) MF={int(ip.flags.MF)}"
        if not ip.frag and (UDP in pkt or TCP in pkt):  # only the first fragment carries the transport header
            t = pkt[UDP] if UDP in pkt else pkt[TCP]
            text += f" [{'UDP' if UDP in pkt else 'TCP'} {t.sport} > {t.dport}]"
        return text
    df = " DF" if ip.flags.DF else ""
    if (d := for_packet(pkt)) is not None:
        return f"{d.summary(pkt)}{df}"
    if TCP in pkt:
        t = pkt[TCP]
        data = len(t.payload)
        text = f"TCP {t.sport} > {t.dport} [{tcp_flags(t)}] seq={t.seq}"
        text += f" ack={t.ack}" if t.flags.A else ""
        text += f" len={data}{snippet(bytes(t.payload))}"
    elif UDP in pkt:
        u = pkt[UDP]
        text = f"UDP {u.sport} > {u.dport} len={u.len - 8}{snippet(bytes(u.payload))}"
    elif ICMP in pkt:
        text = icmp_text(pkt[ICMP])
    else:
        text = f"IP proto {ip.proto}"
    return f"{text}{df}"


def tcp_flags(t: TCP) -> str:
    names = [("S", "SYN"), ("F", "FIN"), ("R", "RST"), ("P", "PSH"), ("A", "ACK")]
    return ",".join(n for f, n in names if f in str(t.flags))


ICMP_TYPES = {0: "echo reply", 8: "echo request", 11: "time-exceeded", 3: "destination unreachable"}
EXCEEDED = {0: "TTL expired in transit", 1: "fragment reassembly time exceeded"}
UNREACH = {0: "net unreachable", 1: "host unreachable", 3: "port unreachable", 4: "fragmentation needed"}


def icmp_text(i: ICMP) -> str:
    if i.type in (0, 8):
        return f"ICMP {ICMP_TYPES[i.type]} id={i.id} seq={i.seq}"
    if i.type == 3:
        what = UNREACH.get(i.code, f"unreachable code {i.code}")
        return f"ICMP {what}" + (f" (next-hop MTU {i.nexthopmtu})" if i.code == 4 else "")
    if i.type == 11:
        return f"ICMP time-exceeded ({EXCEEDED.get(i.code, f'code {i.code}')})"
    return f"ICMP {ICMP_TYPES.get(i.type, f'type {i.type}')} code {i.code}"


def snippet(data: bytes, width: int = 24) -> str:
    if not data:
        return ""
    text = data[:width].decode("ascii", errors="replace")
    text = "".join(c if c.isprintable() else "." for c in text)
    return f" {text!r}" + ("..." if len(data) > width else "")
