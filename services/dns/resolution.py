"""Iterative resolution of one question, sans I/O (RFC 1034 section 5.3.3).

A `Resolution` is a state machine: `next()` returns either a `Query` the caller must send (to a server,
over UDP or TCP) or the final `Outcome`; the caller feeds each reply's bytes (or None for a timeout or a
network error) back with `next(reply)`.

    res = resolver.resolution(DNSLabel("gaia.cs.umass.edu"), QTYPE.A)
    step = res.next()
    while isinstance(step, Query):
        step = res.next(send(step))          # the I/O is the caller's
    outcome = step

It starts at the closest zone whose name servers the cache knows (the root hints at worst), follows
referrals down, checks that each reply matches its query (id, question) and keeps only records inside the
bailiwick of the server that sent them, follows CNAME chains, caches answers, referrals, glue and
negative answers, and retries a truncated reply over TCP. Every resolution has a budget of queries and a
depth limit for name-server names it must resolve on the way, so no zone data can make it loop.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from random import Random
from typing import TYPE_CHECKING

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from .message import EDNS_UDP, Malformed, parse
from .zone import AAAA, CNAME, NS, SOA, A, NameKey, is_under, name_key

if TYPE_CHECKING:
    from .cache import Cache

log = logging.getLogger("services.dns.resolver")

MAX_CNAME_CHAIN = 10
MAX_DEPTH = 4  # name-server names resolved on the way to a name-server name ...
MAX_QUERIES = 60  # upstream queries one client question may cost at most


@dataclass(frozen=True)
class Query:
    """A query to send: to `server` port 53, over TCP when `tcp`."""

    server: str
    wire: bytes
    tcp: bool
    qname: str
    qtype: str


@dataclass
class Outcome:
    rcode: int
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)


@dataclass
class _Found:
    """What one server's reply settled: an answer (maybe a CNAME chain still to chase), or an absence."""

    rcode: int
    answer: list[RR]
    soa: RR | None = None
    chase: DNSLabel | None = None  # the chain went out of this server's zone: look this name up next


@dataclass
class _Referral:
    zone: NameKey
    servers: list[DNSLabel]


class _Lame:
    """A reply that settles nothing: an error, an upward referral, data out of bailiwick."""


LAME = _Lame()
Step = Generator[Query, "bytes | None", Outcome]


class Resolution:
    def __init__(self, cache: Cache, hints: dict[NameKey, list[str]], hint_names: list[DNSLabel],
                 rng: Random, qname: DNSLabel, qtype: int):
        self.cache, self.hints, self.hint_names, self.rng = cache, hints, hint_names, rng
        self.queries = 0
        self._gen = self._lookup(qname, qtype, 0)
        self._started = False

    def next(self, reply: bytes | None = None) -> Query | Outcome:
        try:
            if not self._started:
                self._started = True
                return next(self._gen)
            return self._gen.send(reply)
        except StopIteration as stop:
            return stop.value

    # the algorithm ------------------------------------------------------------------------------

    def _lookup(self, qname: DNSLabel, qtype: int, depth: int) -> Step:
        chain: list[RR] = []
        name = qname
        for _ in range(MAX_CNAME_CHAIN + 1):
            key = name_key(name)
            hit = self.cache.get(key, qtype, answer=True)
            if hit is not None:
                if hit.negative:
                    return Outcome(RCODE.NXDOMAIN if hit.nxdomain else RCODE.NOERROR, chain, hit.rrs)
                return Outcome(RCODE.NOERROR, chain + hit.rrs)
            if qtype != CNAME:
                hit = self.cache.get(key, CNAME, answer=True)
                if hit is not None and not hit.negative:
                    chain += hit.rrs
                    name = hit.rrs[0].rdata.label
                    continue
            found = yield from self._iterate(name, key, qtype, depth)
            if found is None:
                return Outcome(RCODE.SERVFAIL, chain)
            chain += found.answer
            if found.chase is None:
                return Outcome(found.rcode, chain, [found.soa] if found.soa is not None else [])
            name = found.chase
        return Outcome(RCODE.SERVFAIL, chain)  # a CNAME chain longer than any sane one: a loop

    def _iterate(self, name: DNSLabel, key: NameKey, qtype: int, depth: int) -> Generator[Query, bytes | None, _Found | None]:
        for zone, servers in self._enclosing(key):
            addresses = yield from self._addresses(servers, zone, depth)
            if addresses:
                break
        while True:
            referral = None
            for server in addresses:
                if self.queries >= MAX_QUERIES:
                    log.info("giving up on %s: %d queries spent", name, self.queries)
                    return None
                reply = yield from self._ask(server, name, qtype)
                if reply is None:
                    continue
                result = self._classify(reply, name, key, qtype, zone)
                log.info("asked %s for %s %s: %s", server, name, QTYPE.get(qtype, qtype), _describe(result))
                if isinstance(result, _Referral):
                    referral = result
                    break
                if isinstance(result, _Found):
                    return result
            if referral is None:
                return None
            zone, servers = referral.zone, referral.servers
            addresses = yield from self._addresses(servers, zone, depth)

    def _enclosing(self, key: NameKey) -> Iterator[tuple[NameKey, list[DNSLabel]]]:
        """The enclosing zones whose name servers the cache holds, deepest first, then the root hints: when
        the servers of one cannot be reached, its parent's can be asked instead."""
        for i in range(len(key)):
            hit = self.cache.get(key[i:], NS)
            if hit is not None and not hit.negative:
                yield key[i:], [rr.rdata.label for rr in hit.rrs]
        yield (), list(self.hint_names)

    def _addresses(self, servers: list[DNSLabel], zone: NameKey,
                   depth: int) -> Generator[Query, bytes | None, list[str]]:
        """Addresses of a zone's servers: held in the cache or the hints, else found by resolving the
        servers' names. A name inside the zone itself with no address held is left out: only its parent's
        glue could give it, and asking the zone for it would need the address first (the caller falls back
        to the parent's servers, which hold the answer or the glue)."""
        servers = list(servers)
        self.rng.shuffle(servers)
        known, missing = [], []
        for ns in servers:
            key = name_key(ns)
            hit = self.cache.get(key, A)
            if hit is not None and not hit.negative:
                known += [str(rr.rdata) for rr in hit.rrs]
            elif key in self.hints:
                known += self.hints[key]
            elif not is_under(key, zone):
                missing.append(ns)
        if known or depth >= MAX_DEPTH:
            return list(dict.fromkeys(known))
        for ns in missing:  # no glue: resolve the name server's own name first
            outcome = yield from self._lookup(ns, A, depth + 1)
            found = [str(rr.rdata) for rr in outcome.answer if rr.rtype == A]
            if found:
                return found
        return []

    def _ask(self, server: str, name: DNSLabel, qtype: int) -> Generator[Query, bytes | None, DNSRecord | None]:
        qid = self.rng.getrandbits(16)
        query = DNSRecord(DNSHeader(id=qid, rd=0), q=DNSQuestion(name, qtype))
        query.add_ar(EDNS0(udp_len=EDNS_UDP))
        wire = query.pack()
        qname, tname = str(name), QTYPE.get(qtype, str(qtype))
        self.queries += 1
        reply = _accept((yield Query(server, wire, False, qname, tname)), qid, name, qtype)
        if reply is not None and reply.header.tc:
            self.queries += 1
            reply = _accept((yield Query(server, wire, True, qname, tname)), qid, name, qtype)
            if reply is not None and reply.header.tc:
                return None
        return reply

    def _classify(self, reply: DNSRecord, name: DNSLabel, key: NameKey, qtype: int,
                  zone: NameKey) -> _Found | _Referral | _Lame:
        rcode = reply.header.rcode
        if rcode not in (RCODE.NOERROR, RCODE.NXDOMAIN):
            return LAME
        inside = [rr for rr in reply.rr if rr.rclass == 1 and is_under(name_key(rr.rname), zone)]
        answer: list[RR] = []
        cur, cur_key = name, key
        for _ in range(MAX_CNAME_CHAIN):
            here = [rr for rr in inside if name_key(rr.rname) == cur_key]
            direct = here if qtype == QTYPE.ANY else [rr for rr in here if rr.rtype == qtype]
            if direct:
                self._cache_rrsets(cur_key, direct)
                return _Found(RCODE.NOERROR, answer + direct)
            cnames = [rr for rr in here if rr.rtype == CNAME]
            if not cnames:
                break
            self.cache.put(cur_key, CNAME, cnames[:1])
            answer.append(cnames[0])
            cur = cnames[0].rdata.label
            cur_key = name_key(cur)
        soa = next((rr for rr in reply.auth if rr.rtype == SOA and is_under(cur_key, name_key(rr.rname))
                    and is_under(name_key(rr.rname), zone)), None)
        if soa is not None:  # RFC 2308 section 5: a negative answer lives min(SOA TTL, SOA MINIMUM)
            soa = copy.copy(soa)
            soa.ttl = min(soa.ttl, soa.rdata.times[4])
        if rcode == RCODE.NXDOMAIN:
            if soa is not None:
                self.cache.put_negative(cur_key, None, soa)
            return _Found(RCODE.NXDOMAIN, answer, soa)
        if soa is not None:
            self.cache.put_negative(cur_key, qtype, soa)
            return _Found(RCODE.NOERROR, answer, soa)
        if answer:  # the chain leads out of this server's data: chase the target from the top
            return _Found(RCODE.NOERROR, answer, chase=cur)
        return self._referral(reply, cur_key, zone)

    def _referral(self, reply: DNSRecord, key: NameKey, zone: NameKey) -> _Referral | _Lame:
        nss = [rr for rr in reply.auth if rr.rtype == NS]
        if not nss:
            return LAME
        cut = name_key(nss[0].rname)
        # only a step down, towards the name, within what this server speaks for: no upward or sideways
        # referral, which could send us in circles or let a server poison another's zone
        if len(cut) <= len(zone) or not is_under(cut, zone) or not is_under(key, cut):
            return LAME
        nss = [rr for rr in nss if name_key(rr.rname) == cut]
        self.cache.put(cut, NS, nss, referral=True)
        targets = {name_key(rr.rdata.label) for rr in nss}
        glue: dict[tuple[NameKey, int], list[RR]] = {}
        for rr in reply.ar:
            gkey = name_key(rr.rname)
            if rr.rtype in (A, AAAA) and gkey in targets and is_under(gkey, zone):
                glue.setdefault((gkey, rr.rtype), []).append(rr)
        for (gkey, rtype), rrs in glue.items():
            self.cache.put(gkey, rtype, rrs, referral=True)
        return _Referral(cut, [rr.rdata.label for rr in nss])

    def _cache_rrsets(self, key: NameKey, rrs: list[RR]) -> None:
        by_type: dict[int, list[RR]] = {}
        for rr in rrs:
            by_type.setdefault(rr.rtype, []).append(rr)
        for rtype, group in by_type.items():
            self.cache.put(key, rtype, group)


def _accept(raw: bytes | None, qid: int, name: DNSLabel, qtype: int) -> DNSRecord | None:
    """The reply, if it is one to this very query: same id, a response, the same question."""
    if raw is None:
        return None
    try:
        reply = parse(raw)
    except Malformed:
        return None
    h = reply.header
    if h.id != qid or not h.qr or len(reply.questions) != 1:
        return None
    q = reply.q
    if q.qtype != qtype or name_key(q.qname) != name_key(name):
        return None
    return reply


def _describe(result: _Found | _Referral | _Lame) -> str:
    if isinstance(result, _Referral):
        return f"referral to {DNSLabel(result.zone) if result.zone else '.'} ({', '.join(map(str, result.servers))})"
    if isinstance(result, _Found):
        if result.chase is not None:
            return f"CNAME, chasing {result.chase}"
        if not result.answer or result.answer[-1].rtype == CNAME:
            return RCODE.get(result.rcode) if result.rcode else "NODATA"
        return f"answer ({len(result.answer)} records)"
    return "unusable reply"
