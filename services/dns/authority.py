"""The authoritative server's core, sans I/O: query bytes in, reply bytes out (RFC 1034 section 4.3.2).

    auth = Authority([load_zone("umass.edu.zone")])
    reply = auth.handle(query_bytes, client, tcp=False)   # None: nothing to send (not a query at all)

It answers with authority (AA) from its zones, follows a CNAME chain into any zone it holds (a child
zone on the same server included, RFC 1034 section 4.3.2), refers to child zones with NS and glue,
answers NXDOMAIN and NODATA with the zone's SOA in the authority section so resolvers cache the absence
(RFC 2308), and fits each UDP reply into 512 bytes or the client's EDNS size, setting TC when the answer
does not fit. Zones change only by `use` (a reload), so each distinct query's reply is packed once and
kept until then.
"""

from __future__ import annotations

import copy

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord

from .badpackets import bad_packet
from .message import EDNS_UDP, Malformed, edns_error, error_reply, error_to, fit, parse, reply_to, udp_limit
from .zone import AAAA, CNAME, MX, NS, A, NameKey, Zone, ZoneError, is_under, name_key

MAX_CNAME_CHAIN = 8
MEMO_ENTRIES = 20_000
ADDITIONAL_FOR = {NS: "label", MX: "label", QTYPE.SRV: "target"}


class Authority:
    def __init__(self, zones: list[Zone], udp_ceiling: int = EDNS_UDP):
        self.udp_ceiling = udp_ceiling
        self.use(zones)

    def use(self, zones: list[Zone]) -> None:
        """Serve these zones from now on (a reload): replies packed from the old ones are dropped."""
        by_key = {z.key: z for z in zones}
        if len(by_key) != len(zones):
            raise ZoneError("two zone files have the same origin")
        self.zones = by_key
        self._memo: dict[tuple[bool, bytes], bytes] = {}

    # bytes in, bytes out -------------------------------------------------------------------------

    def handle(self, data: bytes, client: str = "", tcp: bool = False) -> bytes | None:
        data = bytes(data)  # callers may hand a bytearray; keys must be hashable
        memo_key = (tcp, data[2:])
        tail = self._memo.get(memo_key)
        if tail is not None:
            return data[:2] + tail
        try:
            query = parse(data)
        except Malformed as e:
            bad_packet(client, str(e))
            return error_reply(data, RCODE.FORMERR)
        if query.header.qr:
            return None
        reply = self.respond(query)
        wire = fit(reply, 65535 if tcp else udp_limit(query, self.udp_ceiling))
        if len(data) <= 512:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()  # random names from a hostile client must not grow memory
            self._memo[memo_key] = wire[2:]
        return wire

    # the answer --------------------------------------------------------------------------------------

    def respond(self, query: DNSRecord) -> DNSRecord:
        h = query.header
        bad_edns = edns_error(query)
        if bad_edns is not None:
            return error_to(query, bad_edns, ceiling=self.udp_ceiling)
        reply = reply_to(query, aa=True, ceiling=self.udp_ceiling)
        if h.opcode != 0:
            return _rcode(reply, RCODE.NOTIMP)
        if len(query.questions) != 1 or query.rr or query.auth:
            return _rcode(reply, RCODE.FORMERR)
        q = query.q
        if q.qtype in (QTYPE.AXFR, QTYPE.IXFR) or q.qclass != 1:
            return _rcode(reply, RCODE.REFUSED)
        qkey = name_key(q.qname)
        zone = self.zone_for(qkey)
        if zone is None:
            return _rcode(reply, RCODE.REFUSED)  # not ours: an authoritative-only server does not recurse
        self._lookup(zone, q.qname, qkey, q.qtype, reply, 0)
        return reply

    def zone_for(self, qkey: NameKey) -> Zone | None:
        for i in range(len(qkey) + 1):
            zone = self.zones.get(qkey[i:])
            if zone is not None:
                return zone
        return None

    def _lookup(self, zone: Zone, qname: DNSLabel, qkey: NameKey, qtype: int, reply: DNSRecord,
                depth: int) -> None:
        cut = self._cut_above(zone, qkey, qtype)
        if cut is not None:
            if depth == 0:  # AA is about the name asked (RFC 1035 section 4.1.1): a chain into a cut keeps it
                reply.header.aa = 0
            self._refer(zone, cut, reply)
            return
        node = zone.records.get(qkey)
        if node is None and qkey in zone.names:
            node = {}  # an empty non-terminal: the name exists, with no records (RFC 8020)
        if node is None:
            node = self._wildcard(zone, qkey)
            if node is not None:
                node = {t: [_renamed(rr, qname) for rr in rrs] for t, rrs in node.items()}
        if node is None:
            reply.header.rcode = RCODE.NXDOMAIN  # after a CNAME too: the rcode is about the last name (RFC 6604)
            reply.add_auth(self._negative_soa(zone))
            return
        if qtype == QTYPE.ANY:
            found = [rr for rrs in node.values() for rr in rrs]
        else:
            found = node.get(qtype, [])
        if found:
            for rr in found:
                reply.add_answer(rr)
            self._additional(zone, found, reply)
            return
        if CNAME in node:
            cname = node[CNAME][0]
            reply.add_answer(cname)
            target = cname.rdata.label
            tkey = name_key(target)
            tzone = self.zone_for(tkey)  # RFC 1034 section 4.3.2 step 3a: start again, in any zone held here
            if depth < MAX_CNAME_CHAIN and tzone is not None:
                self._lookup(tzone, target, tkey, qtype, reply, depth + 1)
            return
        reply.add_auth(self._negative_soa(zone))  # NODATA: the name exists, not with this type

    def _cut_above(self, zone: Zone, qkey: NameKey, qtype: int) -> NameKey | None:
        """The highest delegation point between the apex and the name (the name itself included, except
        for a DS query, which the parent side answers)."""
        if not zone.cuts:
            return None
        for i in range(len(qkey) - len(zone.key) - 1, -1, -1):
            k = qkey[i:]
            if k in zone.cuts and not (i == 0 and qtype == QTYPE.DS):
                return k
        return None

    def _refer(self, zone: Zone, cut: NameKey, reply: DNSRecord) -> None:
        nss = zone.rrset(cut, NS)
        for rr in nss:
            reply.add_auth(rr)
        for rr in nss:  # glue: addresses of name servers inside the zone, without which none could be reached
            target = name_key(rr.rdata.label)
            if is_under(target, zone.key):
                for t in (A, AAAA):
                    for glue in zone.rrset(target, t):
                        reply.add_ar(glue)

    def _wildcard(self, zone: Zone, qkey: NameKey) -> dict[int, list[RR]] | None:
        """RFC 4592: `*.<closest encloser>` stands for names that do not exist below the encloser."""
        for i in range(1, len(qkey) - len(zone.key) + 1):
            encloser = qkey[i:]
            if encloser in zone.names:
                return zone.records.get((b"*",) + encloser)
        return None

    def _additional(self, zone: Zone, found: list[RR], reply: DNSRecord) -> None:
        for rr in found:
            attr = ADDITIONAL_FOR.get(rr.rtype)
            if attr is None:
                continue
            target = name_key(getattr(rr.rdata, attr))
            tzone = self.zone_for(target)
            if tzone is not None and self._cut_above(tzone, target, A) is None:
                for t in (A, AAAA):
                    for extra in tzone.rrset(target, t):
                        reply.add_ar(extra)

    @staticmethod
    def _negative_soa(zone: Zone) -> RR:
        soa = copy.copy(zone.soa)
        soa.ttl = zone.negative_ttl
        return soa


def _rcode(reply: DNSRecord, rcode: int) -> DNSRecord:
    reply.header.aa = 0
    reply.header.rcode = rcode
    return reply


def _renamed(rr: RR, qname: DNSLabel) -> RR:
    out = copy.copy(rr)
    out.rname = qname
    return out

