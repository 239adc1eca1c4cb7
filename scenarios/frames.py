"""Captured frames as the scenarios see them: numbered as Wireshark numbers them, timed, named by node.

A `Frame` is one packet of one capture (a segment's bridge or a node's interface); `Traffic` holds
every capture of a scenario run and the marks the scenario set, so assertions can look at a window
("after the mark `second`"). `Names` turns addresses into the lab's node names for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

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
    """Addresses (IP or MAC) to node names, from the lab's description."""

    def __init__(self, nodes: dict[str, dict]):
        self.by_ip: dict[str, str] = {}
        self.by_mac: dict[str, str] = {}
        for node, spec in nodes.items():
            for iface in spec["interfaces"]:
                if iface.get("address") not in (None, "dhcp"):
                    self.by_ip[iface["address"].split("/")[0]] = node
                if iface.get("mac"):
                    self.by_mac[iface["mac"].lower()] = node

    def ip(self, addr: str) -> str:
        node = self.by_ip.get(addr)
        return f"{node} ({addr})" if node else addr

    def node(self, addr: str) -> str:
        """The node's name for an address, or the address itself."""
        return self.by_ip.get(addr) or self.by_mac.get(addr.lower()) or addr


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

    def frames(self, capture: str, after: str | None = None, before: str | None = None) -> list[Frame]:
        if capture not in self.captures:
            raise KeyError(f"no capture named {capture!r}; captures: {', '.join(self.captures)}")
        lo = self.marks[after] if after else float("-inf")
        hi = self.marks[before] if before else float("inf")
        return [f for f in self.captures[capture] if lo <= f.time < hi]


def describe(pkt: Packet, names: Names) -> str:
    """One line about a packet, in the words of the course (and of Wireshark's Info column)."""
    if ARP in pkt:
        a = pkt[ARP]
        if a.op == 1:
            return f"ARP who-has {a.pdst} tell {names.ip(a.psrc)}"
        return f"ARP {names.ip(a.psrc)} is-at {a.hwsrc}"
    if IP not in pkt:
        eth = pkt[Ether] if Ether in pkt else None
        return f"{eth.src} > {eth.dst} {pkt.summary()}" if eth else pkt.summary()
    ip = pkt[IP]
    ends = f"{names.ip(ip.src)} > {names.ip(ip.dst)}"
    return f"{ends}: {short(pkt)}"


def short(pkt: Packet) -> str:
    """What a packet is, without its addresses: `SYN seq=0`, `UDP 41000 > 12000 len=5 'hello'`."""
    if ARP in pkt:
        a = pkt[ARP]
        return f"ARP who-has {a.pdst}?" if a.op == 1 else f"ARP {a.psrc} is-at {a.hwsrc}"
    if IP not in pkt:
        return pkt.summary()
    ip = pkt[IP]
    if ip.flags.MF or ip.frag:
        text = f"IP fragment id={ip.id} offset={ip.frag} ({ip.frag * 8} bytes){' MF' if ip.flags.MF else ''} " \
               f"len={ip.len - ip.ihl * 4}"
        if not ip.frag and (UDP in pkt or TCP in pkt):  # only the first fragment carries the transport header
            t = pkt[UDP] if UDP in pkt else pkt[TCP]
            text += f" [{'UDP' if UDP in pkt else 'TCP'} {t.sport} > {t.dport}]"
        return text
    df = " DF" if ip.flags.DF else ""
    if TCP in pkt:
        t = pkt[TCP]
        data = len(t.payload)
        text = f"TCP {t.sport} > {t.dport} [{tcp_flags(t)}] seq={t.seq}"
        text += f" ack={t.ack}" if t.flags.A else ""
        text += f" len={data}{_snippet(bytes(t.payload))}"
    elif UDP in pkt:
        u = pkt[UDP]
        text = f"UDP {u.sport} > {u.dport} len={u.len - 8}{_snippet(bytes(u.payload))}"
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


def _snippet(data: bytes, width: int = 24) -> str:
    if not data:
        return ""
    text = data[:width].decode("ascii", errors="replace")
    text = "".join(c if c.isprintable() else "." for c in text)
    return f" {text!r}" + ("..." if len(data) > width else "")
