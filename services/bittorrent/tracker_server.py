"""The tracker's HTTP listener: GET /announce and GET /scrape, each answered by the core in tracker.py."""

from __future__ import annotations

import asyncio
import logging
import time

import httptools

from .tracker import Tracker

log = logging.getLogger("services.bittorrent.tracker")

MAX_HEAD = 8192  # a tracker request is one short line and a few headers


def _response(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


class _Request:
    def __init__(self) -> None:
        self.url = b""
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.done = True


def answer(tracker: Tracker, method: bytes, url: bytes, client_ip: str, now: float) -> bytes:
    """The whole HTTP response for one request."""
    parsed = httptools.parse_url(url)
    query = parsed.query or b""
    if method != b"GET":
        return _response("405 Method Not Allowed", b"")
    if parsed.path == b"/announce":
        return _response("200 OK", tracker.announce(query, client_ip, now))
    if parsed.path == b"/scrape":
        return _response("200 OK", tracker.scrape(query, now))
    return _response("404 Not Found", b"")


async def _serve(tracker: Tracker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    req = _Request()
    parser = httptools.HttpRequestParser(req)
    seen = 0
    try:
        while not req.done:
            data = await asyncio.wait_for(reader.read(4096), 10)
            if not data:
                return
            seen += len(data)
            if seen > MAX_HEAD:
                writer.write(_response("431 Request Header Fields Too Large", b""))
                return
            parser.feed_data(data)
        method = parser.get_method()
        writer.write(answer(tracker, method, req.url, peer[0], time.monotonic()))
        log.debug("%s %s %s", peer[0], method.decode(), req.url[:80])
    except (httptools.HttpParserError, httptools.HttpParserInvalidURLError):
        writer.write(_response("400 Bad Request", b""))
    except (TimeoutError, ConnectionError):
        pass
    finally:
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()


async def start(tracker: Tracker, host: str, port: int) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _serve(tracker, r, w), host, port)
