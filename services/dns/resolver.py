"""The caching recursive resolver's core, sans I/O: the campus "local DNS server".

    resolver = Resolver(load_hints("root.hints"), allow=[ip_network("10.0.0.0/16")])
    out = resolver.handle(query_bytes, client="10.0.1.11", tcp=False)
    # bytes: send them back; None: send nothing; Pending: drive out.resolution, then resolver.reply(out, outcome)

Clients outside the allow list get REFUSED (an open resolver is an amplifier for anyone's attack).
A reply built from the cache is kept packed, with the offsets of its TTL fields, until its first record
expires: the next identical query costs a dictionary look-up and, when a second has gone by, a few
four-byte writes to count the TTLs down.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random, SystemRandom

from dnslib import QTYPE, RCODE, DNSLabel, DNSRecord

from ..daemon import ConfigError, read_config
from .badpackets import bad_packet
from .cache import Cache
from .message import (
    EDNS_UDP,
    Malformed,
    edns_error,
    error_reply,
    error_to,
    fit,
    parse,
    reply_to,
    ttl_offsets,
    udp_limit,
)
from .resolution import Outcome, Resolution
from .zone import NS, A, NameKey, ZoneError, name_key

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MEMO_ENTRIES = 20_000
_TTL = struct.Struct("!I")


@dataclass
class Pending:
    """A question the cache cannot answer: drive `resolution`, starting with `first`, then call
    `Resolver.reply(pending, outcome)`. Questions with the same `key` may share one resolution."""

    query: DNSRecord
    data: bytes
    tcp: bool
    key: tuple[NameKey, int]
    resolution: Resolution
    first: object


@dataclass
class _Packed:
    tail: bytes  # the reply without its id
    created: float
    expires: float
    ttls: list[tuple[int, int]]  # (offset into tail, TTL when packed)


def load_hints(path: str | Path) -> tuple[list[DNSLabel], dict[NameKey, list[str]]]:
    """Root hints in master-file form (named.root): the root's NS names and their addresses."""
    from dnslib import ZoneParser

    try:
        text = read_config(path, "root hints")
    except ConfigError as e:
        raise ZoneError(str(e)) from None
    try:
        rrs = list(ZoneParser(text).parse())
    except Exception as e:
        raise ZoneError(f"{path}: cannot parse root hints: {e}") from None
    names = [rr.rdata.label for rr in rrs if rr.rtype == NS and not name_key(rr.rname)]
    addrs: dict[NameKey, list[str]] = {}
    for rr in rrs:
        if rr.rtype == A:
            addrs.setdefault(name_key(rr.rname), []).append(str(rr.rdata))
    if not names or not any(name_key(n) in addrs for n in names):
        raise ZoneError(f"{path}: root hints need NS records for '.' and an A record for one of them")
    return names, addrs


class Resolver:
    def __init__(self, hints: tuple[list[DNSLabel], dict[NameKey, list[str]]], allow: list[Network],
                 clock: Callable[[], float] = time.monotonic, rng: Random | None = None,
                 udp_ceiling: int = EDNS_UDP):
        self.hint_names, self.hints = hints
        self.allow = allow
        self.clock = clock
        self.rng = rng or SystemRandom()
        self.udp_ceiling = udp_ceiling
        self.cache = Cache(clock)
        self._memo: dict[tuple[bool, bytes], _Packed] = {}
        self._allowed: dict[str, bool] = {}

    def flush(self) -> None:
        self.cache.clear()
        self._memo.clear()

    def allowed(self, client: str) -> bool:
        ok = self._allowed.get(client)
        if ok is None:
            try:
                addr = ipaddress.ip_address(client.split("%")[0])
            except ValueError:
                return False
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            ok = any(addr in net for net in self.allow)
            if len(self._allowed) < 65536:
                self._allowed[client] = ok
        return ok

    def resolution(self, qname: DNSLabel, qtype: int) -> Resolution:
        return Resolution(self.cache, self.hints, self.hint_names, self.rng, qname, qtype)

    # bytes in -----------------------------------------------------------------------------------

    def handle(self, data: bytes, client: str, tcp: bool = False) -> bytes | Pending | None:
        data = bytes(data)  # callers may hand a bytearray; keys must be hashable
        if not self.allowed(client):
            return self._refuse(data)
        packed = self._memo.get((tcp, data[2:]))
        if packed is not None:
            now = self.clock()
            if now < packed.expires:
                return data[:2] + _aged(packed, now)
            del self._memo[(tcp, data[2:])]
        try:
            query = parse(data)
        except Malformed as e:
            bad_packet(client, str(e))
            return error_reply(data, RCODE.FORMERR)
        h = query.header
        if h.qr:
            return None
        refusal = self._check(query)
        if refusal is not None:
            return fit(refusal, 65535 if tcp else udp_limit(query, self.udp_ceiling))
        q = query.q
        res = self.resolution(q.qname, q.qtype)
        step = res.next()
        pending = Pending(query, data, tcp, (name_key(q.qname), q.qtype), res, step)
        if isinstance(step, Outcome):
            return self.reply(pending, step)
        return pending

    def reply(self, pending: Pending, outcome: Outcome) -> bytes:
        """The client's reply for an outcome; kept packed while every record in it is still fresh."""
        reply = reply_to(pending.query, ra=True, ceiling=self.udp_ceiling)
        reply.header.rcode = outcome.rcode
        for rr in outcome.answer:
            reply.add_answer(rr)
        for rr in outcome.authority:
            reply.add_auth(rr)
        wire = fit(reply, 65535 if pending.tcp else udp_limit(pending.query, self.udp_ceiling))
        records = outcome.answer + outcome.authority
        if records and outcome.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN) and len(pending.data) <= 512:
            now = self.clock()
            life = min(rr.ttl for rr in records)
            if life > 0:
                if len(self._memo) >= MEMO_ENTRIES:
                    self._memo.clear()
                ttls = [(off - 2, ttl) for off, ttl in ttl_offsets(wire)]
                self._memo[(pending.tcp, pending.data[2:])] = _Packed(wire[2:], now, now + life, ttls)
        return wire

    def servfail(self, pending: Pending) -> bytes:
        return self.reply(pending, Outcome(RCODE.SERVFAIL))

    def _check(self, query: DNSRecord) -> DNSRecord | None:
        """A reply refusing what this resolver does not do, or None for a question it will resolve."""
        bad_edns = edns_error(query)
        if bad_edns is not None:
            return error_to(query, bad_edns, ra=True, ceiling=self.udp_ceiling)
        reply = reply_to(query, ra=True, ceiling=self.udp_ceiling)
        if query.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
        elif len(query.questions) != 1 or query.rr or query.auth:
            reply.header.rcode = RCODE.FORMERR
        elif query.q.qclass != 1:
            reply.header.rcode = RCODE.REFUSED
        elif query.q.qtype in (QTYPE.AXFR, QTYPE.IXFR, QTYPE.OPT):
            reply.header.rcode = RCODE.REFUSED
        else:
            return None
        return reply

    def _refuse(self, data: bytes) -> bytes | None:
        try:
            query = parse(data)
        except Malformed:
            return error_reply(data, RCODE.REFUSED)
        if query.header.qr:
            return None
        reply = reply_to(query)
        reply.header.rcode = RCODE.REFUSED
        return fit(reply, 512)


def _aged(packed: _Packed, now: float) -> bytes:
    elapsed = int(now - packed.created)
    if elapsed <= 0:
        return packed.tail
    buf = bytearray(packed.tail)
    for off, ttl in packed.ttls:
        _TTL.pack_into(buf, off, max(0, ttl - elapsed))
    return bytes(buf)
