"""BitTorrent: four peers and a seed share one file through a tracker, trading pieces with each other.

Kurose & Ross 2.5. The tracker keeps the torrent's peer list; each peer announces itself (event
`started`) and gets the others. Peers shake hands with the torrent's info-hash, say which pieces they
have (bitfield, then have), and send a piece only to a peer they have unchoked, who then requests
blocks of it. Pieces flow from leecher to leecher, not only from the seed. Every peer ends with every
piece, each of which matches its SHA-1 from the .torrent (checked here on the bytes of the capture), and
announces `completed`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from urllib.parse import quote_from_bytes

from scenarios.framework.assertions import SHOWN, Assertion, Outcome
from scenarios.framework.describers.bittorrent import PEER_PORT, peer_messages
from scenarios.framework.frames import Frame, Traffic
from services.bittorrent import bencode, metainfo
from services.bittorrent.metainfo import Torrent

LAB = "swarm"
PEERS = ["p1", "p2", "p3", "p4"]
SEGMENTS = ["core", "acc1", "acc2", "acc3", "acc4"]
SIZE, PIECE = 1024 * 1024, 32 * 1024
TRACKER_PORT = 6969


def capture_of(peer: str) -> str:
    return f"acc{peer[1:]}"


def bt_connections(traffic: Traffic, capture: str, after: str):
    return [c for c in traffic.connections(capture, after=after) if PEER_PORT in (c.server.port, c.client.port)]


def announces(traffic: Traffic, capture: str, ip: str, after: str) -> list[tuple[str, dict | None, list[Frame]]]:
    """(request line, decoded reply, the connection's frames) of each announce `ip` made, from the capture."""
    out = []
    for c in traffic.connections(capture, after=after):
        if c.server.port != TRACKER_PORT or c.client.ip != ip:
            continue
        request = c.up.data.split(b"\r\n", 1)[0].decode(errors="replace")
        head, _, body = c.down.data.partition(b"\r\n\r\n")
        try:
            reply = bencode.decode(body) if head.startswith(b"HTTP/1.1 200") else None
        except ValueError:
            reply = None
        out.append((request, reply, c.frames))
    return out


class PerPeer(Assertion):
    """An assertion checked on each peer's own access link; `check` says what is wrong, or None, and
    `cite`s the frames it rests on (the report keeps those of the first peer, or of the one that failed)."""

    def __init__(self, text: str, peers: dict[str, str], torrent: Torrent, after: str):
        self.text, self.peers, self.torrent, self.after = text, peers, torrent, after
        self.capture = capture_of(next(iter(peers)))
        self.evidence: list[Frame] = []

    def cite(self, *frames: Frame) -> None:
        self.evidence += frames

    def evaluate(self, traffic: Traffic) -> Outcome:
        said, shown = [], []
        for peer, ip in self.peers.items():
            self.evidence = []
            problem = self.check(traffic, peer, ip)
            if problem:
                return Outcome(self.text, False, f"{peer}: {problem}", _shown(self.evidence), capture_of(peer))
            shown = shown or self.evidence
            said.append(peer)
        return Outcome(self.text, True, f"true of {', '.join(said)}", _shown(shown), self.capture)

    def check(self, traffic: Traffic, peer: str, ip: str) -> str | None:
        raise NotImplementedError


def _shown(frames: list[Frame]) -> list[Frame]:
    """Each frame once, in capture order, at most SHOWN of them."""
    return sorted({(f.capture, f.number): f for f in frames}.values(), key=lambda f: f.time)[:SHOWN]


class AnnouncedStarted(PerPeer):
    def check(self, traffic, peer, ip):
        ih = "info_hash=" + quote_from_bytes(self.torrent.info_hash)
        seen = announces(traffic, capture_of(peer), ip, self.after)
        started = [f for q, _, f in seen if "GET /announce?" in q and ih.lower() in q.lower() and "event=started" in q]
        if not started:
            return f"no announce with event=started for this info-hash among {len(seen)} tracker requests"
        self.cite(*started[0])
        listed = [f for _, r, f in seen if r and isinstance(r.get(b"peers"), bytes) and len(r[b"peers"]) >= 6]
        if not listed:
            return "no tracker reply carried a peer list with a peer in it"
        self.cite(*listed[0])
        return None


class AnnouncedCompleted(PerPeer):
    def check(self, traffic, peer, ip):
        done = [f for q, _, f in announces(traffic, capture_of(peer), ip, self.after) if "event=completed" in q]
        if not done:
            return "no announce with event=completed"
        self.cite(*done[0])
        return None


class Handshakes(PerPeer):
    def check(self, traffic, peer, ip):
        # a connection that carried no byte either way said nothing to check (one a peer dialled as it
        # was being stopped, or whose first bytes came after the capture ended); every other one must
        # begin with both handshakes
        conns = [c for c in bt_connections(traffic, capture_of(peer), self.after) if c.up.data or c.down.data]
        if not conns:
            return "no peer-wire connection that carried anything"
        kinds: set[str] = set()
        for c in conns:
            msgs = peer_messages(c)
            hs = [m for m in msgs if m.kind == "handshake"]
            if {m.side for m in hs} != {"client", "server"}:
                self.evidence = list(c.frames)  # the connection at fault, not what was cited before it
                return f"connection {c}: handshakes seen from {sorted(m.side for m in hs)}, not from both ends"
            if any(m.data != self.torrent.info_hash for m in hs):
                self.cite(*(f for m in hs for f in m.frames))
                return f"connection {c}: a handshake names another info-hash"
            for kind in ("handshake", "bitfield", "have") if not self.evidence else ():
                self.cite(*(f for m in msgs if m.kind == kind for f in m.frames[:1]))
            kinds |= {m.kind for m in msgs}
        missing = {"bitfield", "have"} - kinds
        return f"never saw {' or '.join(sorted(missing))}" if missing else None


class UnchokeBeforePieces(PerPeer):
    def check(self, traffic, peer, ip):
        pieces = 0
        for c in bt_connections(traffic, capture_of(peer), self.after):
            msgs = peer_messages(c)
            for sender, asker in (("client", "server"), ("server", "client")):
                unchoke = next((m for m in msgs if m.side == sender and m.kind == "unchoke"), None)
                sent = [m for m in msgs if m.side == sender and m.kind == "piece"]
                asked = [m for m in msgs if m.side == asker and m.kind == "request"]
                pieces += len(sent)
                if (sent or asked) and unchoke is None:
                    self.cite(*(sent or asked)[0].frames)
                    return f"connection {c}: {len(sent)} pieces and {len(asked)} requests without an unchoke"
                if sent and sent[0].time < unchoke.time:
                    self.cite(*unchoke.frames, *sent[0].frames[:1])
                    return f"connection {c}: a piece was sent before the unchoke"
                if asked and asked[0].time < unchoke.time:
                    self.cite(*unchoke.frames, *asked[0].frames)
                    return f"connection {c}: a block was requested before the unchoke"
                if sent and asked and not self.evidence:  # the unchoke, the first request, the first piece
                    self.cite(*unchoke.frames, *asked[0].frames, *sent[0].frames[:1])
        return None if pieces else "no piece at all"


class WholeFile(PerPeer):
    def check(self, traffic, peer, ip):
        t = self.torrent
        got: dict[int, bytearray] = {}
        for c in bt_connections(traffic, capture_of(peer), self.after):
            incoming = "server" if c.client.ip == ip else "client"
            for m in peer_messages(c):
                if m.side == incoming and m.kind == "piece" and m.index < t.num_pieces:
                    if m.index not in got:
                        self.cite(*m.frames[:1])  # where each piece begins to arrive
                    buf = got.setdefault(m.index, bytearray(t.piece_size(m.index)))
                    buf[m.begin:m.begin + len(m.data)] = m.data
        missing = [i for i in range(t.num_pieces) if i not in got]
        if missing:
            return f"pieces {missing[:8]} never arrived"
        bad = [i for i, buf in got.items() if hashlib.sha1(buf).digest() != t.hashes[i]]
        return f"pieces {bad[:8]} fail their SHA-1" if bad else None


class LeechersTrade(Assertion):
    def __init__(self, text: str, peers: dict[str, str], server_ip: str, after: str):
        self.text, self.peers, self.server_ip, self.after, self.capture = text, peers, server_ip, after, "acc1"

    def evaluate(self, traffic: Traffic) -> Outcome:
        seen: dict[tuple, tuple[int, int]] = {}
        first: list[Frame] = []  # the first block seen going leecher to leecher
        for peer in self.peers:
            for c in bt_connections(traffic, capture_of(peer), self.after):
                key = (c.client, c.server)
                if key in seen:
                    continue  # a leecher-leecher connection is on both access links
                from_seed = from_leechers = 0
                for m in peer_messages(c):
                    if m.kind == "piece":
                        sender = c.client.ip if m.side == "client" else c.server.ip
                        if sender == self.server_ip:
                            from_seed += len(m.data)
                        else:
                            from_leechers += len(m.data)
                            first = first or list(m.frames)
                seen[key] = (from_seed, from_leechers)
        seed = sum(s for s, _ in seen.values())
        leech = sum(x for _, x in seen.values())
        why = f"{leech} bytes of pieces went leecher to leecher, {seed} came from the seed"
        return Outcome(self.text, leech > 0, why, _shown(first), self.capture)


def run(ctx) -> None:
    server, tracker = ctx.host("server"), ctx.host("tracker")
    peers = {p: ctx.host(p).ip for p in PEERS}
    # The seed's file and the .torrent in the server's data folder; each peer gets the .torrent in its
    # own (as from a web page) and downloads into it. Data folders are the same path in a node.
    seed_dir = ctx.data("server") / "bittorrent-seed"
    made = [seed_dir, *(ctx.data(p) / "bittorrent" for p in PEERS)]
    try:
        seed_dir.mkdir(parents=True, exist_ok=True)
        (seed_dir / "lecture.mp4").write_bytes(os.urandom(SIZE))
        torrent = ctx.data("server") / "bittorrent-seed.torrent"
        ctx.python("server", ["-m", "services.bittorrent", "make", str(seed_dir / "lecture.mp4"),
                              "--announce", f"http://{tracker.ip}:{TRACKER_PORT}/announce",
                              "--piece-length", str(PIECE), "-o", str(torrent)], check=True)
        t = metainfo.load(torrent)
        for p in PEERS:
            (ctx.data(p) / "bittorrent").mkdir(parents=True, exist_ok=True)
            shutil.copy(torrent, ctx.data(p) / "bittorrent" / "lecture.torrent")
        ctx.mark("swarm")
        recs = [ctx.start_service(p, "bt-peer", [str(ctx.data(p) / "bittorrent" / "lecture.torrent"), "--dir",
                                                 str(ctx.data(p) / "bittorrent"), "--rechoke", "2"])
                for p in PEERS]
        # the log may hold an earlier scenario's lines: only what comes after now counts
        said = [len(ctx.service_log(rec)) for rec in recs]
        ctx.start_service("server", "bt-peer", [str(torrent), "--dir", str(seed_dir), "--rechoke", "2"])
        for rec, since in zip(recs, said, strict=True):
            ctx.wait_log(rec, "announced completed", since=since, timeout=60)
        ctx.mark("done")
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
    ctx.expect(
        AnnouncedStarted("every peer announces itself to the tracker (event=started) and gets a peer list",
                         peers, t, "swarm"),
        Handshakes("peers shake hands with the torrent's info-hash, then say what they have (bitfield, have)",
                   peers, t, "swarm"),
        UnchokeBeforePieces("a peer sends pieces only after it has unchoked the other, who requests them "
                            "only then", peers, t, "swarm"),
        LeechersTrade("pieces flow from leecher to leecher, not only from the seed", peers, server.ip, "swarm"),
        WholeFile("every peer receives every piece, each matching its SHA-1 from the .torrent", peers, t, "swarm"),
        AnnouncedCompleted("every peer tells the tracker it has completed", peers, t, "swarm"),
    )
    ctx.message_ladder("acc1", ctx.host("p1"), tracker, TRACKER_PORT, "p1 and the tracker: announces",
                       after="swarm")
