"""The peer's side of the tracker protocol: the announce URL it builds and the reply it reads
(compact or dictionary peer lists), plus the one HTTP GET that carries them."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, urlsplit

import httptools

from . import bencode


class TrackerError(Exception):
    """The tracker could not be reached or refused us (its `failure reason`)."""


@dataclass(frozen=True)
class AnnounceReply:
    interval: int
    peers: list[tuple[str, int]]
    complete: int | None = None
    incomplete: int | None = None


def announce_url(base: str, info_hash: bytes, peer_id: bytes, port: int, uploaded: int, downloaded: int,
                 left: int, event: str = "", numwant: int = 50) -> str:
    q = (f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}&port={port}"
         f"&uploaded={uploaded}&downloaded={downloaded}&left={left}&compact=1&numwant={numwant}")
    if event:
        q += f"&event={event}"
    return base + ("&" if "?" in base else "?") + q


def parse_reply(body: bytes) -> AnnounceReply:
    try:
        d = bencode.decode(body)
    except ValueError as e:
        raise TrackerError(f"tracker reply is not bencoded: {e}") from None
    if not isinstance(d, dict):
        raise TrackerError("tracker reply is not a dictionary")
    if b"failure reason" in d:
        raise TrackerError(f"tracker refused: {d[b'failure reason'].decode(errors='replace')}")
    peers: list[tuple[str, int]] = []
    raw = d.get(b"peers", b"")
    if isinstance(raw, bytes):
        for i in range(0, len(raw) - len(raw) % 6, 6):
            peers.append((str(ipaddress.IPv4Address(raw[i : i + 4])), struct.unpack(">H", raw[i + 4 : i + 6])[0]))
    elif isinstance(raw, list):
        for p in raw:
            if isinstance(p, dict) and isinstance(p.get(b"ip"), bytes) and isinstance(p.get(b"port"), int):
                peers.append((p[b"ip"].decode(errors="replace"), p[b"port"]))
    raw6 = d.get(b"peers6", b"")
    if isinstance(raw6, bytes):
        for i in range(0, len(raw6) - len(raw6) % 18, 18):
            peers.append((str(ipaddress.IPv6Address(raw6[i : i + 16])), struct.unpack(">H", raw6[i + 16 : i + 18])[0]))
    interval = d.get(b"interval", 1800)
    c, n = d.get(b"complete"), d.get(b"incomplete")
    return AnnounceReply(interval if isinstance(interval, int) and interval > 0 else 1800, peers,
                         c if isinstance(c, int) else None, n if isinstance(n, int) else None)


class _Response:
    def __init__(self) -> None:
        self.body = bytearray()
        self.done = False

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.done = True


async def http_get(url: str, timeout: float = 10.0, limit: int = 1 << 20,
                   source: tuple[str, int] | None = None) -> bytes:
    """The body of a 200 reply to GET url (http only: trackers in labs speak plain HTTP)."""
    u = urlsplit(url)
    if u.scheme != "http":
        raise TrackerError(f"{url}: only http:// trackers are supported")
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port or 80, local_addr=source),
                                                timeout)
    except (OSError, TimeoutError) as e:
        raise TrackerError(f"cannot reach tracker {u.netloc}: {e}") from None
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n"
                     f"User-Agent: wirelab\r\n\r\n".encode())
        resp = _Response()
        parser = httptools.HttpResponseParser(resp)
        got = 0
        while not resp.done:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                parser.feed_data(b"")  # EOF ends a body without a length
                break
            got += len(data)
            if got > limit:
                raise TrackerError("tracker reply too large")
            parser.feed_data(data)
        if parser.get_status_code() != 200:
            raise TrackerError(f"tracker answered HTTP {parser.get_status_code()}")
        return bytes(resp.body)
    except (OSError, TimeoutError, httptools.HttpParserError) as e:
        raise TrackerError(f"tracker {u.netloc}: {e or type(e).__name__}") from None
    finally:
        writer.close()
