"""The tracker: its core (announce, compact lists, events, interval, expiry, scrape) and its HTTP
listener on a real socket, asked by our own announce client."""

import asyncio
import random
from urllib.parse import quote_from_bytes

import pytest

from services.bittorrent import bencode
from services.bittorrent.announce import TrackerError, announce_url, http_get, parse_reply
from services.bittorrent.tracker import Tracker
from services.bittorrent.tracker_server import start

IH = b"\x12" * 20


def q(pid: bytes, port: int, left: int = 100, event: str = "", **extra) -> bytes:
    s = f"info_hash={quote_from_bytes(IH)}&peer_id={quote_from_bytes(pid)}&port={port}&uploaded=0&downloaded=0&left={left}"
    if event:
        s += f"&event={event}"
    for k, v in extra.items():
        s += f"&{k}={v}"
    return s.encode()


def pid(n: int) -> bytes:
    return b"-XX0001-" + b"%012d" % n


def test_compact_peer_list_excludes_the_asker():
    t = Tracker(interval=30, rng=random.Random(1))
    t.announce(q(pid(1), 6881, event="started"), "10.0.0.1", 0)
    r = bencode.decode(t.announce(q(pid(2), 6882, event="started"), "10.0.0.2", 1))
    assert r[b"peers"] == bytes([10, 0, 0, 1]) + (6881).to_bytes(2, "big")
    assert (r[b"interval"], r[b"complete"], r[b"incomplete"]) == (30, 0, 2)


def test_dictionary_peer_list_when_not_compact():
    t = Tracker()
    t.announce(q(pid(1), 6881), "10.0.0.1", 0)
    r = bencode.decode(t.announce(q(pid(2), 6882, compact=0), "10.0.0.2", 0))
    assert r[b"peers"] == [{b"ip": b"10.0.0.1", b"port": 6881, b"peer id": pid(1)}]


def test_completed_counts_and_stopped_leaves():
    t = Tracker()
    t.announce(q(pid(1), 6881, left=0, event="started"), "10.0.0.1", 0)
    t.announce(q(pid(2), 6882, event="started"), "10.0.0.2", 0)
    t.announce(q(pid(2), 6882, left=0, event="completed"), "10.0.0.2", 5)
    t.announce(q(pid(2), 6882, left=0, event="completed"), "10.0.0.2", 6)  # a repeat counts once
    scrape = bencode.decode(t.scrape(b"info_hash=" + quote_from_bytes(IH).encode(), 6))
    assert scrape[b"files"][IH] == {b"complete": 2, b"incomplete": 0, b"downloaded": 1}
    t.announce(q(pid(1), 6881, left=0, event="stopped"), "10.0.0.1", 7)
    r = bencode.decode(t.announce(q(pid(3), 6883), "10.0.0.3", 8))
    assert r[b"peers"] == bytes([10, 0, 0, 2]) + (6882).to_bytes(2, "big")


def test_silent_peers_expire():
    t = Tracker(interval=10)
    t.announce(q(pid(1), 6881), "10.0.0.1", 0)
    assert bencode.decode(t.announce(q(pid(2), 6882), "10.0.0.2", 29))[b"peers"] != b""
    assert bencode.decode(t.announce(q(pid(2), 6882), "10.0.0.2", 31))[b"peers"] == b""


def test_scrape_of_everything():
    t = Tracker()
    t.announce(q(pid(1), 6881), "10.0.0.1", 0)
    assert list(bencode.decode(t.scrape(b"", 0))[b"files"]) == [IH]


@pytest.mark.parametrize("query, reason", [
    (b"peer_id=" + b"a" * 20 + b"&port=1&left=0", b"info_hash must be 20 bytes"),
    (q(b"short", 6881), b"peer_id must be 20 bytes"),
    (q(pid(1), 0), b"port out of range"),
    (q(pid(1), 6881, event="paused"), b"unknown event 'paused'"),
    (q(pid(1), 6881).replace(b"left=100", b"left=x"), b"left is not a number"),
])
def test_bad_announces_get_a_failure_reason(query, reason):
    assert bencode.decode(Tracker().announce(query, "10.0.0.1", 0)) == {b"failure reason": reason}


def test_reply_parsing():
    r = parse_reply(bencode.encode({"interval": 7, "peers": bytes([1, 2, 3, 4, 0x1a, 0xe1])}))
    assert (r.interval, r.peers) == (7, [("1.2.3.4", 6881)])
    with pytest.raises(TrackerError, match="refused: go away"):
        parse_reply(bencode.encode({"failure reason": "go away"}))


def test_over_http():
    async def go():
        server = await start(Tracker(interval=9), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}/announce"
        await http_get(announce_url(base, IH, pid(1), 7001, 0, 0, 5, "started"))
        r = parse_reply(await http_get(announce_url(base, IH, pid(2), 7002, 0, 0, 5, "started")))
        scrape = bencode.decode(await http_get(f"http://127.0.0.1:{port}/scrape"))
        with pytest.raises(TrackerError, match="HTTP 404"):
            await http_get(f"http://127.0.0.1:{port}/nope")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00garbage\r\n\r\n")
        bad = await reader.read()
        server.close()
        return r, scrape, bad

    r, scrape, bad = asyncio.run(go())
    assert (r.interval, r.peers) == (9, [("127.0.0.1", 7001)])
    assert scrape[b"files"][IH][b"incomplete"] == 2
    assert bad.startswith(b"HTTP/1.1 400")
