"""Our peers in a swarm on loopback, real sockets, one event loop: a whole download, leecher-to-leecher
trading, resume, rate caps, and the reliability cases (a peer sending bad data, peers leaving and
joining, the tracker going away halfway)."""

import asyncio
import os
import time

from services.bittorrent import metainfo, wire
from services.bittorrent.peer import Client, Settings
from services.bittorrent.tracker import Tracker
from services.bittorrent.tracker_server import start

PIECE = 64 * 1024


def torrent_for(tmp_path, size, tracker_port=1):
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    data = os.urandom(size)
    (seed_dir / "file.bin").write_bytes(data)
    raw = metainfo.make(seed_dir / "file.bin", f"http://127.0.0.1:{tracker_port}/announce", piece_length=PIECE)
    return metainfo.parse(raw), seed_dir, data


async def tracker():
    server = await start(Tracker(interval=1), "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/announce"


def client(t, folder, url=None, **kw):
    kw.setdefault("rechoke_interval", 0.5)
    return Client(t, folder, Settings(port=0, host="127.0.0.1", **kw), trackers=[url] if url else [])


async def finish(clients, timeout=30):
    await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in clients)), timeout)


def test_swarm_downloads_and_leechers_trade(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 2 * 1024 * 1024)

    async def go():
        server, url = await tracker()
        # the seed is slow, so leechers must get much of the file from each other
        seed = client(t, seed_dir, url, upload_rate=400_000)
        await seed.start()
        leechers = [client(t, tmp_path / f"l{i}", url) for i in range(3)]
        for c in leechers:
            await c.start()
        await finish(leechers)
        stats = [(c.uploaded.total, c.downloaded.total) for c in leechers]
        lines = [c.status() for c in leechers]
        for c in [*leechers, seed]:
            await c.stop()
        server.close()
        return stats, lines

    stats, lines = asyncio.run(go())
    for i in range(3):
        assert (tmp_path / f"l{i}" / "file.bin").read_bytes() == data
    assert sum(up for up, _ in stats) > len(data)  # more than a whole copy went leecher to leecher
    assert lines[0].startswith("file.bin: pieces 32/32 (100.0%) | down ")


def test_bad_data_peer_is_banned_and_its_piece_fetched_again(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 512 * 1024)
    liar_served = []

    async def liar(reader, writer):
        # a peer that claims every piece and answers every request with zeros
        hs = wire.parse_handshake(await reader.readexactly(68))
        writer.write(wire.Handshake(hs.info_hash, b"-LIAR00-000000000000").encode())
        writer.write(wire.bitfield(b"\xff"))
        writer.write(wire.simple(wire.UNCHOKE))
        parser = wire.WireParser()
        while data_in := await reader.read(65536):
            for m in parser.feed(data_in):
                if m.kind == wire.REQUEST:
                    liar_served.append(m.index)
                    writer.write(wire.piece_header(m.index, m.begin, m.length) + bytes(m.length))
        writer.close()

    async def go():
        liar_server = await asyncio.start_server(liar, "127.0.0.1", 0)
        seed = client(t, seed_dir)
        await seed.start()
        leecher = Client(t, tmp_path / "dl", Settings(port=0, host="127.0.0.1"), trackers=[],
                         peers=[("127.0.0.1", liar_server.sockets[0].getsockname()[1])])
        await leecher.start()
        while not leecher.banned_ids:
            await asyncio.sleep(0.02)
        leecher.connect(("127.0.0.1", seed.s.port))  # only now is an honest peer known
        await finish([leecher])
        result = (set(leecher.banned_ids), [c.remote_id for c in leecher.conns.values()])
        await leecher.stop()
        await seed.stop()
        liar_server.close()
        return result

    banned, connected = asyncio.run(go())
    assert banned == {b"-LIAR00-000000000000"}
    assert b"-LIAR00-000000000000" not in connected
    assert liar_served
    assert (tmp_path / "dl" / "file.bin").read_bytes() == data


def test_peers_leave_and_join_mid_download(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 2 * 1024 * 1024)

    async def go():
        server, url = await tracker()
        seed = client(t, seed_dir, url, upload_rate=600_000)
        await seed.start()
        early = [client(t, tmp_path / f"e{i}", url) for i in range(2)]
        for c in early:
            await c.start()
        while len(early[0].picker.have) < 8:
            await asyncio.sleep(0.02)
        await early[1].stop()  # one leaves halfway
        late = client(t, tmp_path / "late", url)
        await late.start()  # and one joins
        await finish([early[0], late])
        for c in (early[0], late, seed):
            await c.stop()
        server.close()

    asyncio.run(go())
    assert (tmp_path / "e0" / "file.bin").read_bytes() == data
    assert (tmp_path / "late" / "file.bin").read_bytes() == data


def test_tracker_stopping_halfway(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 2 * 1024 * 1024)

    async def go():
        server, url = await tracker()
        seed = client(t, seed_dir, url, upload_rate=800_000)
        await seed.start()
        leechers = [client(t, tmp_path / f"l{i}", url) for i in range(2)]
        for c in leechers:
            await c.start()
        while len(leechers[0].picker.have) < 4:
            await asyncio.sleep(0.02)
        server.close()
        await server.wait_closed()
        await finish(leechers)
        for c in [*leechers, seed]:
            await c.stop()

    asyncio.run(go())
    for i in range(2):
        assert (tmp_path / f"l{i}" / "file.bin").read_bytes() == data


def test_resume_fetches_only_what_is_missing(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 1024 * 1024)
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "file.bin").write_bytes(data[: 10 * PIECE])

    async def go():
        seed = client(t, seed_dir)
        await seed.start()
        c = Client(t, tmp_path / "dl", Settings(port=0, host="127.0.0.1"), trackers=[],
                   peers=[("127.0.0.1", seed.s.port)])
        await c.start()
        await finish([c])
        got = (c.had_at_start, c.downloaded.total)
        await c.stop()
        await seed.stop()
        return got

    had, downloaded = asyncio.run(go())
    assert had == 10
    assert downloaded == len(data) - 10 * PIECE
    assert (tmp_path / "dl" / "file.bin").read_bytes() == data


def test_upload_cap_holds_the_seed_back(tmp_path):
    t, seed_dir, data = torrent_for(tmp_path, 1024 * 1024)

    async def go():
        seed = client(t, seed_dir, upload_rate=400_000)
        await seed.start()
        c = Client(t, tmp_path / "dl", Settings(port=0, host="127.0.0.1"), trackers=[],
                   peers=[("127.0.0.1", seed.s.port)])
        t0 = time.monotonic()
        await c.start()
        await finish([c])
        took = time.monotonic() - t0
        await c.stop()
        await seed.stop()
        return took

    # 1 MiB at 400 kB/s with a burst of 100 kB cannot take less than about 2.3 s
    assert asyncio.run(go()) > 2.0


def test_a_silent_peer_is_dropped_and_a_talking_one_kept(tmp_path, monkeypatch):
    from services.bittorrent import peer
    monkeypatch.setattr(peer, "READ_TIMEOUT", 1.5)
    t, seed_dir, _ = torrent_for(tmp_path, 256 * 1024)

    async def go():
        seed = client(t, seed_dir)
        await seed.start()
        socks = []
        for name in (b"-XX0001-silentsilent", b"-XX0001-talkingtalki"):
            r, w = await asyncio.open_connection("127.0.0.1", seed.s.port)
            w.write(wire.Handshake(t.info_hash, name).encode())
            await r.readexactly(wire.HANDSHAKE_LEN)
            socks.append((r, w))
        (silent_r, _), (talking_r, talking_w) = socks
        t0 = time.monotonic()
        ends = {}
        while time.monotonic() - t0 < 4 and len(ends) < 1:
            talking_w.write(wire.KEEP_ALIVE)
            try:
                await asyncio.wait_for(silent_r.read(1 << 16), 0.3)  # its bitfield, then the end
            except TimeoutError:
                continue
            if silent_r.at_eof():
                ends["silent"] = time.monotonic() - t0
        alive = not talking_r.at_eof()
        await seed.stop()
        return ends, alive

    ends, alive = asyncio.run(go())
    assert 1.5 <= ends["silent"] < 3.5  # closed after READ_TIMEOUT, at the next rechoke round
    assert alive


def test_a_peer_that_asks_and_never_reads_is_dropped_too(tmp_path, monkeypatch):
    # it requests every block and reads none: our send buffer fills, and a plain close would wait for it
    # forever; after the read timeout the connection is aborted and the peer forgotten
    import socket

    from services.bittorrent import peer
    monkeypatch.setattr(peer, "READ_TIMEOUT", 1.5)
    t, seed_dir, _ = torrent_for(tmp_path, 8 * 1024 * 1024)

    async def go():
        seed = client(t, seed_dir)
        await seed.start()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, filled at once
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, ("127.0.0.1", seed.s.port))
        asks = [wire.simple(wire.INTERESTED)]
        asks += [wire.request(i, off, wire.BLOCK) for i in range(t.num_pieces) for off in range(0, PIECE, wire.BLOCK)]
        await asyncio.get_running_loop().sock_sendall(
            s, wire.Handshake(t.info_hash, b"-XX0001-neverreads00").encode() + b"".join(asks))
        await asyncio.sleep(0.5)
        held = len(seed.conns)
        t0 = time.monotonic()
        while seed.conns and time.monotonic() - t0 < 5:
            await asyncio.sleep(0.1)
        gone_after = time.monotonic() - t0
        await seed.stop()
        s.close()
        return held, gone_after, len(seed.conns)

    held, gone_after, left = asyncio.run(go())
    assert held == 1 and left == 0
    assert gone_after < 4.5
