"""The resolver's cache: RRsets and negative answers, each kept for its TTL (RFC 1035 section 7.4,
RFC 2308). The clock is passed in, so tests move time by hand.

A negative entry holds the SOA that came with it; its lifetime is min(SOA TTL, SOA MINIMUM). NXDOMAIN is
kept per name (every type of the name is absent), NODATA per name and type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import RR

from .zone import SOA, NameKey

MAX_TTL = 7 * 86400  # RFC 8767's cap: a week, whatever a server says
ANY_TYPE = -1  # the key type of an NXDOMAIN entry: it answers for every type


@dataclass
class Entry:
    expires: float
    rrs: list[RR]  # the RRset, or [SOA] for a negative entry
    negative: bool = False  # True: NODATA (by type) or NXDOMAIN (under ANY_TYPE)
    referral: bool = False  # from a referral (its NS set, glue): good for finding servers, never an answer


@dataclass
class Hit:
    rrs: list[RR]  # TTLs already counted down to what is left
    negative: bool
    nxdomain: bool
    ttl: int


class Cache:
    def __init__(self, clock: Callable[[], float], max_entries: int = 100_000):
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[tuple[NameKey, int], Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def put(self, name: NameKey, rtype: int, rrs: list[RR], referral: bool = False) -> None:
        """Keep an RRset: an authoritative answer's, or (`referral`) a referral's NS set or glue, which
        ranks lower (RFC 2181 section 5.4.1) and never replaces a live authoritative one."""
        if not rrs:
            return
        if referral:
            held = self._entries.get((name, rtype))
            if held is not None and not held.referral and held.expires > self.clock():
                return
        ttl = min(min(rr.ttl for rr in rrs), MAX_TTL)
        self._store((name, rtype), Entry(self.clock() + ttl, [copy.copy(rr) for rr in rrs], referral=referral))

    def put_negative(self, name: NameKey, rtype: int | None, soa: RR) -> None:
        """Remember that `name` does not exist (rtype None) or has no `rtype` records."""
        ttl = min(soa.ttl, soa.rdata.times[4], MAX_TTL) if soa.rtype == SOA else 0
        key = (name, ANY_TYPE if rtype is None else rtype)
        self._store(key, Entry(self.clock() + ttl, [copy.copy(soa)], negative=True))

    def get(self, name: NameKey, rtype: int, answer: bool = False) -> Hit | None:
        """What the cache knows of (name, rtype): its records, that it has none, or that the name does not
        exist at all; None when it knows nothing current. With `answer`, only what an authority answered:
        referral data is not given to a client."""
        now = self.clock()
        for key, nx in (((name, ANY_TYPE), True), ((name, rtype), False)):
            entry = self._entries.get(key)
            if entry is None:
                continue
            if entry.expires <= now:
                del self._entries[key]
                continue
            if answer and entry.referral:
                continue
            left = int(entry.expires - now)
            rrs = []
            for rr in entry.rrs:
                aged = copy.copy(rr)
                aged.ttl = left
                rrs.append(aged)
            return Hit(rrs=rrs, negative=entry.negative, nxdomain=nx, ttl=left)
        return None

    def _store(self, key: tuple[NameKey, int], entry: Entry) -> None:
        if entry.expires <= self.clock():
            return  # TTL 0: usable for the answer in hand, never cached (RFC 1035 section 3.2.1)
        if len(self._entries) >= self.max_entries and key not in self._entries:
            self._evict()
        self._entries[key] = entry

    def _evict(self) -> None:
        now = self.clock()
        dead = [k for k, e in self._entries.items() if e.expires <= now]
        for k in dead:
            del self._entries[k]
        while len(self._entries) >= self.max_entries:  # still full: drop the oldest stored
            del self._entries[next(iter(self._entries))]
