"""The peer: a thin asyncio shell that joins a swarm, moving bytes between sockets and the cores.

    PiecePicker (picker.py)  which blocks to ask for;   Choker (choker.py)  whom to upload to;
    PieceStore (store.py)    pieces on disk, hash-checked;   wire.py  the messages;   announce.py  the tracker.

One `Client` per torrent. Each connection is a `PeerConn`: a reader loop feeding the wire parser and
an uploader loop serving the peer's requests. A peer whose data fails a hash check alone (or twice) is
banned: its connection is closed and it is never let back in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from . import wire
from .announce import AnnounceReply, TrackerError, announce_url, http_get, parse_reply
from .choker import Choker, PeerView
from .metainfo import Torrent
from .picker import Block, PiecePicker
from .rate import RateMeter, TokenBucket
from .store import PieceStore

log = logging.getLogger("services.bittorrent.peer")

# Requests in flight per peer: about half a second of what it has been sending, within bounds. Too few
# leave a fast link idle between blocks; too many reserve blocks on a slow peer that others could send.
PIPELINE_MIN, PIPELINE_MAX, PIPELINE_SECONDS = 4, 64, 0.5
READ_TIMEOUT = 180.0


@dataclass
class Settings:
    port: int = 6881
    host: str = "0.0.0.0"
    upload_rate: float = 0.0  # bytes/s, 0 = no cap
    download_rate: float = 0.0
    slots: int = 8  # regular upload slots, at least
    rate_based_slots: bool = True  # more while the upload has room (choker.py)
    rechoke_interval: float = 10.0
    status_interval: float = 1.0
    max_peers: int = 50
    peer_id: bytes = b""


def new_peer_id() -> bytes:
    return b"-WL0001-" + os.urandom(6).hex().encode()


class PeerConn:
    def __init__(self, client: Client, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 remote_id: bytes, outbound: bool, addr: tuple[str, int] | None):
        self.client = client
        self.reader, self.writer = reader, writer
        self.remote_id = remote_id
        self.initiator = client.peer_id if outbound else remote_id
        self.addr = addr
        self.ip = writer.get_extra_info("peername")[0]
        self.pieces: set[int] = set()
        self.am_choking, self.am_interested = True, False
        self.peer_choking, self.peer_interested = True, False
        self.down, self.up = RateMeter(), RateMeter()
        self.inflight: set[Block] = set()
        self.requests: deque[Block] = deque()
        self.wake = asyncio.Event()
        self.hash_fails = 0
        self.closed = False
        self.last_sent = self.last_heard = time.monotonic()

    def __repr__(self) -> str:
        return f"<peer {self.ip} {self.remote_id[:8]!r}>"

    def send(self, data: bytes) -> None:
        self.send_all((data,))

    def send_all(self, parts: tuple[bytes, ...] | list[bytes]) -> None:
        """Several messages in one write: one system call and no tiny TCP segment of its own (the streams
        set TCP_NODELAY, so a 13-byte piece header written alone would leave as a packet of its own).
        Nothing goes to a connection being torn down (the peer broke it, or we closed it)."""
        if parts and not self.closed and not self.writer.is_closing():
            self.writer.writelines(parts)
            self.last_sent = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.wake.set()
            self.writer.close()

    def abort(self) -> None:
        """Close at once, dropping what waits to be sent: a peer that reads nothing would otherwise hold the
        connection (and its place among our peers) for as long as TCP keeps probing its zero window."""
        self.close()
        self.writer.transport.abort()

    async def run(self) -> None:
        c = self.client
        if c.picker.have:
            bits = bytearray((c.torrent.num_pieces + 7) // 8)
            for i in c.picker.have:
                bits[i >> 3] |= 0x80 >> (i & 7)
            self.send(wire.bitfield(bytes(bits)))
        uploader = asyncio.create_task(self._upload())
        parser = wire.WireParser(wire.max_length_for(c.torrent.num_pieces))
        try:
            while not self.closed:
                # (no timer per read: the rechoker closes a connection silent for READ_TIMEOUT)
                data = await self.reader.read(256 * 1024)
                if not data:
                    break
                self.last_heard = time.monotonic()
                pause = c.down_cap.delay(len(data), time.monotonic())
                for msg in parser.feed(data):
                    self.handle(msg)
                if pause:
                    await asyncio.sleep(pause)
                    self.last_heard = time.monotonic()  # (a download cap's pause is not the peer's silence)
        except wire.WireError as e:
            log.warning("%r broke the protocol: %s", self, e)
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()
            uploader.cancel()
            c.forget(self)

    # messages from the peer
    def handle(self, m: wire.Message) -> None:
        c = self.client
        n = c.torrent.num_pieces
        k = m.kind
        if k == wire.CHOKE:
            self.peer_choking = True
            c.picker.abort(self)
            self.inflight.clear()
        elif k == wire.UNCHOKE:
            self.peer_choking = False
            self.fill()
        elif k == wire.INTERESTED:
            self.peer_interested = True
            c.interested_now(self)
        elif k == wire.NOT_INTERESTED:
            self.peer_interested = False
        elif k == wire.HAVE:
            if m.index >= n:
                raise wire.WireError(f"have for piece {m.index} of {n}")
            if m.index not in self.pieces:
                self.pieces.add(m.index)
                c.picker.peer_has(m.index)
                if m.index not in c.picker.have:  # a piece we hold already changes nothing for us
                    if not self.am_interested:  # (it has one we lack: no need to compare the sets)
                        self.am_interested = True
                        self.send(wire.simple(wire.INTERESTED))
                    self.fill()
        elif k == wire.BITFIELD:
            # BEP 3 wants it first, but aria2 sends one again after some haves: a later one only adds
            if len(m.data) != (n + 7) // 8:
                raise wire.WireError(f"bitfield of {len(m.data)} bytes for {n} pieces")
            if n % 8 and m.data[-1] & (0xFF >> (n % 8)):
                raise wire.WireError("bitfield has spare bits set")
            for i in range(n):
                if m.data[i >> 3] & (0x80 >> (i & 7)) and i not in self.pieces:
                    self.pieces.add(i)
                    c.picker.peer_has(i)
            self.update_interest()
            self.fill()
        elif k == wire.REQUEST:
            if m.index >= n or m.index not in c.picker.have or m.length > wire.MAX_BLOCK or m.length == 0 \
                    or m.begin + m.length > c.torrent.piece_size(m.index):
                raise wire.WireError(f"bad request {m.index}:{m.begin}+{m.length}")
            if not self.am_choking and len(self.requests) < 512:
                self.requests.append((m.index, m.begin, m.length))
                self.wake.set()
        elif k == wire.CANCEL:
            try:
                self.requests.remove((m.index, m.begin, m.length))
            except ValueError:
                pass
        elif k == wire.PIECE:
            c.block_arrived(self, m)

    def update_interest(self) -> None:
        want = not self.pieces <= self.client.picker.have
        if want != self.am_interested:
            self.am_interested = want
            self.send(wire.simple(wire.INTERESTED if want else wire.NOT_INTERESTED))

    def fill(self) -> None:
        if self.peer_choking or not self.am_interested or self.closed:
            return
        depth = int(self.down.rate(time.monotonic()) * PIPELINE_SECONDS / wire.BLOCK)
        depth = max(PIPELINE_MIN, min(PIPELINE_MAX, depth))
        room = depth - len(self.inflight)
        if room <= 0 or (room < depth // 4 and self.inflight):
            return  # top up in batches: fewer, larger writes
        blocks = self.client.picker.pick(self, self.pieces, room)
        self.inflight.update(blocks)
        self.send_all([wire.request(*b) for b in blocks])

    def choke(self, yes: bool) -> None:
        if yes != self.am_choking:
            self.am_choking = yes
            if yes:
                self.requests.clear()
            self.send(wire.simple(wire.CHOKE if yes else wire.UNCHOKE))

    async def _upload(self) -> None:
        c = self.client
        while not self.closed:
            if not self.requests:
                self.wake.clear()
                await self.wake.wait()
                continue
            index, begin, length = self.requests.popleft()
            data = c.store.read(index, begin, length)
            pause = c.up_cap.delay(length, time.monotonic())
            if pause:
                await asyncio.sleep(pause)
            if self.am_choking or self.closed:
                continue
            self.send_all([wire.piece_header(index, begin, length), data])
            now = time.monotonic()
            self.up.add(length, now)
            c.uploaded.add(length, now)
            c.traded.setdefault(self.remote_id, [0, 0])[1] += length
            try:
                await self.writer.drain()
            except ConnectionError:
                self.close()


class Client:
    """One torrent being downloaded and seeded."""

    def __init__(self, torrent: Torrent, folder: str | Path, settings: Settings | None = None,
                 trackers: list[str] | None = None, peers: list[tuple[str, int]] = ()):
        self.torrent = torrent
        self.s = settings or Settings()
        self.peer_id = self.s.peer_id or new_peer_id()
        self.trackers = trackers if trackers is not None else torrent.trackers()
        self.extra_peers = list(peers)
        self.store = PieceStore(torrent, folder)
        self.picker = PiecePicker([torrent.piece_size(i) for i in range(torrent.num_pieces)])
        self.choker = Choker(self.s.slots, rate_based=self.s.rate_based_slots)
        self.conns: dict[bytes, PeerConn] = {}
        self.connecting: set[tuple[str, int]] = set()
        self.banned_ids: set[bytes] = set()
        self.banned_addrs: set[tuple[str, int]] = set()
        self.up_cap, self.down_cap = TokenBucket(self.s.upload_rate), TokenBucket(self.s.download_rate)
        self.uploaded, self.downloaded = RateMeter(), RateMeter()
        self.wasted = 0
        self.traded: dict[bytes, list[int]] = {}  # peer id -> [bytes from it, bytes to it], for reports
        self.done = asyncio.Event()
        self.stopping = False
        self.tasks: list[asyncio.Task] = []
        self.server: asyncio.Server | None = None
        self.started_at = time.monotonic()
        self.completed_at: float | None = None
        self.had_at_start = 0
        # bound to a listen address, we also speak from it: the tracker then lists us where we listen
        self.source = (self.s.host, 0) if self.s.host not in ("0.0.0.0", "::", "") else None

    # lifecycle
    async def start(self) -> None:
        have = await asyncio.to_thread(self.store.check_all)
        for i in have:
            self.picker.verified(i)
        self.had_at_start = len(have)
        log.info("%s: %d of %d pieces already here%s", self.torrent.name, len(have), self.torrent.num_pieces,
                 " (seeding)" if self.picker.complete else "")
        if self.picker.complete:
            self.completed_at = time.monotonic()
            self.done.set()
        self.server = await asyncio.start_server(self._accept, self.s.host, self.s.port)
        self.s.port = self.server.sockets[0].getsockname()[1]
        for addr in self.extra_peers:
            self.connect(addr)
        self.tasks = [asyncio.create_task(self._announcer()), asyncio.create_task(self._rechoker()),
                      asyncio.create_task(self._status())]

    async def stop(self) -> None:
        self.stopping = True
        for t in self.tasks:
            t.cancel()
        if self.server:
            self.server.close()
        for conn in list(self.conns.values()):
            conn.close()
        try:
            await asyncio.wait_for(self._announce_all("stopped"), 3)
        except (TimeoutError, TrackerError):
            pass
        self.store.close()

    # connections
    def connect(self, addr: tuple[str, int]) -> None:
        if (self.stopping or addr in self.connecting or addr in self.banned_addrs or len(self.conns) >= self.s.max_peers
                or any(c.addr == addr for c in self.conns.values())
                or (addr[1] == self.s.port and addr[0] in ("127.0.0.1", self.s.host))):
            return
        self.connecting.add(addr)
        asyncio.create_task(self._connect(addr))

    async def _connect(self, addr: tuple[str, int]) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*addr, local_addr=self.source), 10)
        except (OSError, TimeoutError):
            self.connecting.discard(addr)
            return
        try:
            writer.write(wire.Handshake(self.torrent.info_hash, self.peer_id).encode())
            hs = wire.parse_handshake(await asyncio.wait_for(reader.readexactly(wire.HANDSHAKE_LEN), 10))
            if hs.info_hash != self.torrent.info_hash:
                raise wire.WireError("handshake for another torrent")
        except (OSError, TimeoutError, asyncio.IncompleteReadError, wire.WireError):
            writer.close()
            self.connecting.discard(addr)
            return
        self.connecting.discard(addr)
        await self._run(PeerConn(self, reader, writer, hs.peer_id, True, addr))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hs = wire.parse_handshake(await asyncio.wait_for(reader.readexactly(wire.HANDSHAKE_LEN), 10))
            if hs.info_hash != self.torrent.info_hash:
                raise wire.WireError("handshake for another torrent")
            writer.write(wire.Handshake(self.torrent.info_hash, self.peer_id).encode())
        except (OSError, TimeoutError, asyncio.IncompleteReadError, wire.WireError):
            writer.close()
            return
        await self._run(PeerConn(self, reader, writer, hs.peer_id, False, None))

    async def _run(self, conn: PeerConn) -> None:
        if conn.remote_id == self.peer_id or conn.remote_id in self.banned_ids or self.stopping:
            conn.close()
            return
        old = self.conns.get(conn.remote_id)
        if old is not None:
            # both sides dialled at once: both keep the connection the lower peer id opened
            keep_new = conn.initiator < old.initiator
            if not keep_new:
                conn.close()
                return
            old.close()
            self.forget(old)
        self.conns[conn.remote_id] = conn
        await conn.run()

    def forget(self, conn: PeerConn) -> None:
        if self.conns.get(conn.remote_id) is conn:
            del self.conns[conn.remote_id]
            self.picker.peer_gone(conn, conn.pieces)
            conn.pieces = set()
            conn.inflight.clear()
            for other in self.conns.values():
                other.fill()

    # data
    def block_arrived(self, conn: PeerConn, m: wire.Message) -> None:
        block = (m.index, m.begin, m.length)
        conn.inflight.discard(block)
        now = time.monotonic()
        conn.down.add(m.length, now)
        self.downloaded.add(m.length, now)
        self.traded.setdefault(conn.remote_id, [0, 0])[0] += m.length
        new, others = self.picker.received(m.index, m.begin, conn)
        if not new:
            self.wasted += m.length
            conn.fill()
            return
        try:
            self.store.add_block(m.index, m.begin, m.data, conn)
        except ValueError as e:
            raise wire.WireError(str(e)) from None
        for other in others:
            if block in other.inflight:
                other.inflight.discard(block)
                other.send(wire.cancel(*block))
                other.fill()
        if self.picker.piece_done(m.index):
            good, senders = self.store.finish(m.index)
            if good:
                self.picker.verified(m.index)
                for other in list(self.conns.values()):
                    other.send(wire.have(m.index))
                    other.update_interest()
                if self.picker.complete:
                    self._completed()
            else:
                self.picker.failed(m.index)
                self._hash_failed(m.index, senders)
        conn.fill()

    def _hash_failed(self, index: int, senders: set) -> None:
        log.warning("piece %d failed its SHA-1 check (sent by %s); fetching it again", index,
                    ", ".join(map(repr, senders)))
        for s in senders:
            s.hash_fails += 1
            if len(senders) == 1 or s.hash_fails >= 2:
                log.warning("banning %r: it sent bad data for piece %d", s, index)
                self.banned_ids.add(s.remote_id)
                if s.addr:
                    self.banned_addrs.add(s.addr)
                s.close()
                self.forget(s)
        for conn in self.conns.values():
            conn.fill()

    def _completed(self) -> None:
        self.completed_at = time.monotonic()
        log.info("download complete: %s, %d bytes in %.2f s, every piece's SHA-1 checked", self.torrent.name,
                 self.torrent.length, self.completed_at - self.started_at)
        self.done.set()
        for conn in list(self.conns.values()):
            if len(conn.pieces) == self.torrent.num_pieces:
                conn.close()  # two seeds have nothing to trade
        self.tasks.append(asyncio.create_task(self._announce_all("completed")))

    def interested_now(self, conn: PeerConn) -> None:
        # a free upload slot is used at once rather than at the next rechoke
        if sum(not c.am_choking for c in self.conns.values()) < self.choker.current + 1:
            conn.choke(False)

    # periodic work
    async def _rechoker(self) -> None:
        while True:
            await asyncio.sleep(self.s.rechoke_interval)
            now = time.monotonic()
            views = [PeerView(c, c.peer_interested, c.down.rate(now), c.up.total, c.up.rate(now))
                     for c in self.conns.values()]
            unchoke = self.choker.rechoke(views, seeding=self.picker.complete)
            for c in list(self.conns.values()):
                c.choke(c not in unchoke)
                if now - c.last_sent > 60:  # BEP 3: peers drop a connection silent for two minutes
                    c.send(wire.KEEP_ALIVE)
                if now - c.last_heard > READ_TIMEOUT:  # (closed or not: a peer reading nothing never lets go)
                    log.info("%r: silent for %d s, closed", c, READ_TIMEOUT)
                    c.abort()

    async def _announce_all(self, event: str) -> AnnounceReply | None:
        left = sum(self.torrent.piece_size(i) for i in range(self.torrent.num_pieces) if i not in self.picker.have)
        reply = None
        for url in self.trackers:
            full = announce_url(url, self.torrent.info_hash, self.peer_id, self.s.port, self.uploaded.total,
                                self.downloaded.total, left, event)
            try:
                reply = parse_reply(await http_get(full, source=self.source))
            except TrackerError as e:
                log.warning("announce to %s failed: %s", url, e)
                continue
            log.info("announced%s to %s: %d peers, next in %d s", f" {event}" if event else "", url,
                     len(reply.peers), reply.interval)
            for addr in reply.peers:
                self.connect(addr)
        return reply

    async def _announcer(self) -> None:
        event = "started"
        while True:
            reply = await self._announce_all(event)
            if reply is not None:
                event = ""
            await asyncio.sleep(reply.interval if reply else 5)

    def status(self) -> str:
        now = time.monotonic()
        have, n = len(self.picker.have), self.torrent.num_pieces
        seeds = sum(len(c.pieces) == n for c in self.conns.values())
        return (f"{self.torrent.name}: pieces {have}/{n} ({100 * have / max(n, 1):.1f}%) | "
                f"down {self.downloaded.rate(now) / 1e6:.2f} MB/s up {self.uploaded.rate(now) / 1e6:.2f} MB/s | "
                f"peers {len(self.conns)} ({seeds} seeds, {sum(not c.am_choking for c in self.conns.values())} "
                f"unchoked) | banned {len(self.banned_ids)}")

    async def _status(self) -> None:
        while True:
            await asyncio.sleep(self.s.status_interval)
            log.info("%s", self.status())
