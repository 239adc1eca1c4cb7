"""The tracker's core (BEP 3 announce, BEP 48 scrape, BEP 23 compact peer lists), with no sockets and no
clock: a query string and the asker's address in, a bencoded reply out.

A peer is kept per (info-hash, peer id). It leaves the swarm when it says `stopped` or when it has not
announced for `expire_after` seconds (two intervals and a bit: one lost announce is forgiven).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from . import bencode

EVENTS = ("started", "completed", "stopped", "")


@dataclass
class PeerRecord:
    peer_id: bytes
    ip: str
    port: int
    left: int
    seen: float


@dataclass
class SwarmRecord:
    peers: dict[bytes, PeerRecord] = field(default_factory=dict)
    downloaded: int = 0  # how many `completed` events: scrape's "downloaded"

    def counts(self) -> tuple[int, int]:
        seeds = sum(1 for p in self.peers.values() if p.left == 0)
        return seeds, len(self.peers) - seeds


class AnnounceError(ValueError):
    """A request the tracker refuses; the text goes back as BEP 3's `failure reason`."""


def _failure(reason: str) -> bytes:
    return bencode.encode({"failure reason": reason})


def parse_query(query: bytes) -> dict[str, bytes]:
    # info_hash and peer_id are raw bytes percent-encoded: latin-1 maps each byte to one character
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    out: dict[str, bytes] = {}
    for k, v in pairs:
        out.setdefault(k, v.encode("latin-1"))
    return out


def _int(q: dict[str, bytes], name: str, default: int | None = None) -> int:
    if name not in q:
        if default is None:
            raise AnnounceError(f"missing {name}")
        return default
    try:
        v = int(q[name])
    except ValueError:
        raise AnnounceError(f"{name} is not a number") from None
    if v < 0:
        raise AnnounceError(f"{name} is negative")
    return v


class Tracker:
    def __init__(self, interval: int = 30, numwant_max: int = 200, rng: random.Random | None = None):
        self.interval = interval
        self.expire_after = 2 * interval + 10
        self.numwant_max = numwant_max
        self.swarms: dict[bytes, SwarmRecord] = {}
        self.rng = rng or random.Random()

    def expire(self, now: float) -> None:
        for ih, swarm in list(self.swarms.items()):
            for pid, p in list(swarm.peers.items()):
                if now - p.seen > self.expire_after:
                    del swarm.peers[pid]
            if not swarm.peers and not swarm.downloaded:
                del self.swarms[ih]

    def announce(self, query: bytes, client_ip: str, now: float) -> bytes:
        """The bencoded reply to GET /announce?<query> from client_ip."""
        try:
            return self._announce(parse_query(query), client_ip, now)
        except AnnounceError as e:
            return _failure(str(e))

    def _announce(self, q: dict[str, bytes], client_ip: str, now: float) -> bytes:
        ih, pid = q.get("info_hash", b""), q.get("peer_id", b"")
        if len(ih) != 20:
            raise AnnounceError("info_hash must be 20 bytes")
        if len(pid) != 20:
            raise AnnounceError("peer_id must be 20 bytes")
        port = _int(q, "port")
        if not 0 < port < 65536:
            raise AnnounceError("port out of range")
        left = _int(q, "left")
        event = q.get("event", b"").decode("latin-1")
        if event not in EVENTS:
            raise AnnounceError(f"unknown event {event!r}")
        numwant = min(_int(q, "numwant", 50), self.numwant_max)
        self.expire(now)
        swarm = self.swarms.setdefault(ih, SwarmRecord())
        if event == "stopped":
            swarm.peers.pop(pid, None)
            return bencode.encode({"interval": self.interval, "peers": b""})
        old = swarm.peers.get(pid)
        if event == "completed" and (old is None or old.left > 0):
            swarm.downloaded += 1
        swarm.peers[pid] = PeerRecord(pid, client_ip, port, left, now)
        others = [p for p in swarm.peers.values() if p.peer_id != pid]
        chosen = self.rng.sample(others, min(numwant, len(others)))
        seeds, leechers = swarm.counts()
        reply: dict = {"interval": self.interval, "min interval": max(1, self.interval // 2),
                       "complete": seeds, "incomplete": leechers}
        if q.get("compact", b"1") != b"0":
            v4 = [p for p in chosen if ipaddress.ip_address(p.ip).version == 4]
            reply["peers"] = b"".join(ipaddress.IPv4Address(p.ip).packed + struct.pack(">H", p.port)
                                      for p in v4)
            v6 = [p for p in chosen if ipaddress.ip_address(p.ip).version == 6]
            if v6:
                reply["peers6"] = b"".join(ipaddress.IPv6Address(p.ip).packed + struct.pack(">H", p.port)
                                           for p in v6)
        else:
            no_id = q.get("no_peer_id") == b"1"
            reply["peers"] = [{"ip": p.ip, "port": p.port} if no_id else
                              {"ip": p.ip, "port": p.port, "peer id": p.peer_id} for p in chosen]
        return bencode.encode(reply)

    def scrape(self, query: bytes, now: float) -> bytes:
        """BEP 48: counts for the info-hashes asked for (all when none is named)."""
        self.expire(now)
        pairs = parse_qsl(query.decode("latin-1"), encoding="latin-1")
        wanted = [v.encode("latin-1") for k, v in pairs if k == "info_hash"]
        if any(len(h) != 20 for h in wanted):
            return _failure("info_hash must be 20 bytes")
        files = {}
        for ih in wanted or list(self.swarms):
            swarm = self.swarms.get(ih, SwarmRecord())
            seeds, leechers = swarm.counts()
            files[ih] = {"complete": seeds, "incomplete": leechers, "downloaded": swarm.downloaded}
        return bencode.encode({"files": files})
