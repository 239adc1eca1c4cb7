"""Captured frames as the scenarios see them: numbered as Wireshark numbers them, timed, named by node.

A `Frame` is one packet of one capture (a segment's bridge or a node's interface); `Traffic` holds
every capture of a scenario run and the marks the scenario set, so assertions can look at a window
("after the mark `second`"). `Names` turns addresses into the lab's node names for people: static
addresses from the lab, MACs (deterministic) for hosts on DHCP, and the leases seen in the captures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, bind_bottom_up

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
NO_ADDRESS = "0.0.0.0"

# A relay and the server talk from port 67 to port 67 (RFC 2131 4.1); scapy before 2.6 decodes only
# 68>67 and 67>68 as BOOTP. bind_bottom_up, not bind_layers: decoding only, so what scapy builds for
# UDP()/BOOTP() stays 68>67. (68>68 never happens: clients only talk to servers and relays.)
bind_bottom_up(UDP, BOOTP, sport=67, dport=67)
DHCP_KINDS = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}
NXDOMAIN = 3


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

    def __init__(self, nodes: dict[str, dict]):
        self.by_ip: dict[str, str] = {}
        self.by_mac: dict[str, str] = {}
        self.unaddressed: set[str] = set()  # MACs of interfaces with no static address (on DHCP)
        for node, spec in nodes.items():
            for iface in spec["interfaces"]:
                mac = (iface.get("mac") or "").lower()
                if iface.get("address") not in (None, "dhcp"):
                    self.by_ip[iface["address"].split("/")[0]] = node
                elif mac:
                    self.unaddressed.add(mac)
                if mac:
                    self.by_mac[mac] = node

    def learn(self, pkts: Iterable[Packet]) -> None:
        """Name the addresses DHCP gave out: each ACK's yiaddr belongs to the node owning its chaddr."""
        for p in pkts:
            if DHCP in p and dhcp_kind(p) == "ACK":
                node = self.by_mac.get(mac_of(p[BOOTP].chaddr))
                if node and p[BOOTP].yiaddr != NO_ADDRESS:
                    self.by_ip.setdefault(p[BOOTP].yiaddr, node)

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


def mac_of(chaddr: bytes) -> str:
    return ":".join(f"{b:02x}" for b in chaddr[:6])


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
            raise LookupError(f"no capture named {capture!r}; captures: {', '.join(self.captures)}")
        for mark in (after, before):
            if mark and mark not in self.marks:
                raise LookupError(f"no mark named {mark!r}; marks: {', '.join(self.marks) or 'none'}")
        lo = self.marks[after] if after else float("-inf")
        hi = self.marks[before] if before else float("inf")
        return [f for f in self.captures[capture] if lo <= f.time < hi]


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
    if TCP in pkt:
        t = pkt[TCP]
        data = len(t.payload)
        text = f"TCP {t.sport} > {t.dport} [{tcp_flags(t)}] seq={t.seq}"
        text += f" ack={t.ack}" if t.flags.A else ""
        text += f" len={data}{snippet(bytes(t.payload))}"
    elif DHCP in pkt:
        return dhcp_text(pkt)
    elif UDP in pkt and DNS in pkt:
        return f"DNS {dns_text(pkt[DNS])}"
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


def dhcp_kind(p: Packet) -> str | None:
    """DISCOVER, OFFER, ... from option 53, or None."""
    for opt in p[DHCP].options:
        if isinstance(opt, tuple) and opt[0] == "message-type":
            return DHCP_KINDS.get(opt[1], f"type {opt[1]}")
    return None


def dhcp_text(p: Packet) -> str:
    """`DHCP OFFER xid 0x6f0ac6ad yiaddr 10.0.1.100 giaddr 10.0.1.1`: the fields K&R figure 4.24 shows."""
    b = p[BOOTP]
    text = f"DHCP {dhcp_kind(p)} xid 0x{b.xid:08x}"
    for name in ("yiaddr", "ciaddr", "giaddr"):
        if getattr(b, name) != NO_ADDRESS:
            text += f" {name} {getattr(b, name)}"
    return text


def dns_text(d: DNS) -> str:
    """A DNS message as the course reads it: `A? gaia.cs.umass.edu. (RD=1)`, an answer, a referral
    (the NS record of the zone to ask next, as K&R write (edu, dns.edu, NS)), or NXDOMAIN."""
    if not d.qd:
        return f"DNS {'reply' if d.qr else 'query'} id={d.id} with no question"
    q = d.qd[0]
    name, qtype = q.qname.decode(errors="replace"), q.sprintf("%qtype%")
    if not d.qr:
        return f"{qtype}? {name} (RD={d.rd})"
    if d.tc:
        return f"{qtype} {name}: truncated (TC=1)"
    if d.rcode == NXDOMAIN:
        return f"NXDOMAIN {name} + SOA (for negative caching)"
    if d.ancount and d.an:
        an = d.an[-1] if isinstance(d.an, list) else d.an
        more = f" (+{d.ancount - 1} more)" if d.ancount > 1 and qtype != "A" else ""
        return f"{qtype} {name} = {_rdata(an)[:40]}{more}{' (authoritative)' if d.aa else ''}"
    if d.nscount and d.ns and not d.aa:
        ns = d.ns[0] if isinstance(d.ns, list) else d.ns
        return f"referral: {ns.rrname.decode(errors='replace')} NS {_rdata(ns)}"
    return f"{name}: no data (SOA)"


def _rdata(rr: Packet) -> str:
    return rr.rdata.decode(errors="replace") if isinstance(rr.rdata, bytes) else str(rr.rdata)


def snippet(data: bytes, width: int = 24) -> str:
    if not data:
        return ""
    text = data[:width].decode("ascii", errors="replace")
    text = "".join(c if c.isprintable() else "." for c in text)
    return f" {text!r}" + ("..." if len(data) > width else "")
