"""A zone loaded from a master file (RFC 1035 section 5): its records by owner name, its SOA, the names
that exist (empty non-terminals included, RFC 8020), and where it delegates to child zones.

Parsing is dnslib's `ZoneParser` ($ORIGIN, $TTL, parentheses, relative names); this module adds the
checks a server needs before it can answer with authority: one SOA, NS at the apex, every owner inside
the zone, no CNAME beside other data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dnslib import QTYPE, RR, DNSBuffer, DNSLabel, ZoneParser

from ..daemon import ConfigError, read_config

NameKey = tuple[bytes, ...]
SOA, NS, CNAME, A, AAAA, MX = QTYPE.SOA, QTYPE.NS, QTYPE.CNAME, QTYPE.A, QTYPE.AAAA, QTYPE.MX


class ZoneError(ConfigError):
    """A zone file that cannot be served; the message names the file and what is wrong."""


def name_key(label: DNSLabel | str) -> NameKey:
    """A case-folded key for a domain name: labels from the leftmost, as in the name."""
    if not isinstance(label, DNSLabel):
        label = DNSLabel(label)
    return tuple(part.lower() for part in label.label)


def is_under(name: NameKey, origin: NameKey) -> bool:
    """True when `name` is `origin` or below it."""
    return not origin or name[-len(origin):] == origin


@dataclass
class Zone:
    origin: DNSLabel
    soa: RR
    records: dict[NameKey, dict[int, list[RR]]] = field(default_factory=dict)
    names: set[NameKey] = field(default_factory=set)
    cuts: set[NameKey] = field(default_factory=set)
    source: str = ""

    @property
    def key(self) -> NameKey:
        return name_key(self.origin)

    @property
    def negative_ttl(self) -> int:
        """RFC 2308 section 5: the SOA in a negative answer lives min(its TTL, its MINIMUM field)."""
        return min(self.soa.ttl, self.soa.rdata.times[4])

    def rrset(self, name: NameKey, qtype: int) -> list[RR]:
        return self.records.get(name, {}).get(qtype, [])

    def add(self, rr: RR) -> None:
        key = name_key(rr.rname)
        self.records.setdefault(key, {}).setdefault(rr.rtype, []).append(rr)
        for i in range(len(key) - len(self.key) + 1):
            self.names.add(key[i:])


def parse_zone(text: str, source: str = "<zone>", origin: str = "") -> Zone:
    """Parse master-file text into a checked `Zone`; raise `ZoneError` naming `source` on any problem."""
    try:
        rrs = list(ZoneParser(text, origin=origin).parse())
    except Exception as e:  # dnslib raises ValueError, KeyError, IndexError... on bad input
        raise ZoneError(f"{source}: cannot parse zone file: {e.__class__.__name__}: {e}") from None
    soas = [rr for rr in rrs if rr.rtype == SOA]
    if len(soas) != 1:
        raise ZoneError(f"{source}: a zone needs exactly one SOA record, found {len(soas)}")
    zone = Zone(origin=soas[0].rname, soa=soas[0], source=source)
    for rr in rrs:
        if not is_under(name_key(rr.rname), zone.key):
            raise ZoneError(f"{source}: {rr.rname} is outside the zone {zone.origin}")
        try:  # a label over 63 bytes or a name over 255 parses, but no reply holding it could be sent
            rr.pack(DNSBuffer())
        except Exception as e:
            raise ZoneError(f"{source}: {str(rr.rname)[:80]}: {e.__class__.__name__}: {str(e)[:120]}") from None
        zone.add(rr)
    if not zone.rrset(zone.key, NS):
        raise ZoneError(f"{source}: the zone {zone.origin} has no NS record at its apex")
    for key, node in zone.records.items():
        if CNAME in node and len(node) > 1:
            raise ZoneError(f"{source}: {DNSLabel(key)} has a CNAME and other data (RFC 1034 section 3.6.2)")
        if NS in node and key != zone.key:
            zone.cuts.add(key)
    return zone


def load_zone(path: str | Path) -> Zone:
    try:
        text = read_config(path, "zone file")
    except ConfigError as e:
        raise ZoneError(str(e)) from None
    return parse_zone(text, source=str(path))
