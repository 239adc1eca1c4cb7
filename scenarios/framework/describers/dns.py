"""DNS (RFC 1035) as the course reads it: queries, answers, referrals, NXDOMAIN, truncation.

    dns(root, local, qname="gaia.cs.umass.edu", referral=True)   # a predicate, for assertions and ladders

Over UDP a datagram is one message; over TCP each message has a two-byte length before it.
"""

from __future__ import annotations

import struct

from scapy.layers.dns import DNS
from scapy.layers.inet import UDP
from scapy.packet import Packet

from ..match import Endpoint, Match, addressed, who
from ..stream import Message
from . import Describer

NXDOMAIN = 3
PORT = 53


def dns(src: Endpoint = None, dst: Endpoint = None, *, qname: str | None = None, response: bool | None = None,
        rd: bool | None = None, tc: bool | None = None, rcode: int | None = None, answers: bool | None = None,
        referral: bool = False, authoritative: bool | None = None, label: str = "") -> Match:
    """A DNS message over UDP, by its header and question. referral: a reply with no answer, not
    authoritative, naming other servers (NS records in the authority section)."""
    def test(p: Packet) -> bool:
        if UDP not in p or DNS not in p or not addressed(p, src, dst):
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
    return Match(label or f"DNS {kind}{' for ' + qname if qname else ''} {who(src)} > {who(dst)}", test)


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
    """A record's data in zone-file words. scapy gives most records an `rdata`; MX, SOA and SRV have
    their own fields instead."""
    if hasattr(rr, "exchange"):  # MX
        return f"{rr.preference} {_text(rr.exchange)}"
    if hasattr(rr, "mname"):  # SOA
        return f"{_text(rr.mname)} {_text(rr.rname)} {rr.serial}"
    if hasattr(rr, "target") and hasattr(rr, "port"):  # SRV
        return f"{rr.priority} {rr.weight} {rr.port} {_text(rr.target)}"
    return _text(getattr(rr, "rdata", b""))


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def message(data: bytes) -> DNS:
    """A DNS message from a dialogue's message: a UDP datagram, or a TCP message with its length."""
    if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == len(data) - 2:
        data = data[2:]
    return DNS(data)


class DnsDescriber(Describer):
    name = "dns"
    transports = ("udp", "tcp")
    ports = (PORT,)
    splits = True

    def recognizes(self, pkt: Packet) -> bool:
        return UDP in pkt and DNS in pkt

    def summary(self, pkt: Packet) -> str:
        return f"DNS {dns_text(pkt[DNS])}"

    def arrow(self, pkt: Packet) -> str:
        return dns_text(pkt[DNS])

    def split(self, data: bytes, side: str) -> list[int]:
        """Over TCP: each message is preceded by its length (RFC 1035 4.2.2)."""
        ends, at = [], 0
        while at + 2 <= len(data):
            end = at + 2 + struct.unpack("!H", data[at:at + 2])[0]
            if end > len(data):
                break
            ends.append(end)
            at = end
        return ends

    def label(self, msg: Message) -> str:
        try:
            return dns_text(message(msg.data))
        except Exception:  # scapy raises many kinds on bytes that are not DNS
            return f"{len(msg.data)} bytes that are not a DNS message"


DESCRIBER = DnsDescriber()
