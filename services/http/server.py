"""The thin asyncio shell of an HTTP/1.x server, shared by the origin and the proxy.

A handler takes (request, client address) and returns a Reply, a Tunnel (CONNECT granted) or an
awaitable of one. Pipelined requests are answered in order even when a later one is ready first.
HTTP/1.0 connections close after each reply unless the client asked keep-alive; HTTP/1.1 ones persist
unless either side says close. A connection idle longer than `idle_timeout`, or whose request takes
longer than `request_timeout` to arrive (a slow client), is closed (408 when a request was under way).
A client that does not read its replies stops being read from, so it cannot make the server hold more
than a bounded amount for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .connection import EXPECT_CONTINUE, Limits, RequestError, ServerConnection
from .messages import DateHeader, Request
from .reply import Reply, Tunnel, error_reply

log = logging.getLogger("services.http.server")

Handler = Callable[[Request, str], "Reply | Tunnel | Awaitable[Reply | Tunnel]"]
AccessLog = Callable[[str, Request, Reply], None]
KEEP_ALIVE = b"Connection: keep-alive\r\n\r\n"
CLOSE = b"Connection: close\r\n\r\n"
END = b"\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_PIPELINE = 64   # replies pending on one connection before it stops being read


@dataclass
class ServerOptions:
    limits: Limits = Limits()
    idle_timeout: float = 15.0
    request_timeout: float = 10.0
    backlog: int = 2048
    max_requests: int = 0   # close a connection after this many replies (nginx's keepalive_requests); 0: never


class HttpServer:
    """Serves a handler on a listening socket; `connections` are the open ones."""

    def __init__(self, handler: Handler, options: ServerOptions | None = None,
                 access_log: AccessLog | None = None):
        self.handler, self.options, self.access_log = handler, options or ServerOptions(), access_log
        self.date = DateHeader()
        self.connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self, host: str, port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port,
                                                backlog=self.options.backlog, reuse_address=True)
        self._sweep()
        return self._server

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            conn.check_timeout(now)
        self._sweeper = asyncio.get_running_loop().call_later(1.0, self._sweep)

    async def close(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        if self._server:
            self._server.close()
        for conn in list(self.connections):
            conn.transport.close()
        if self._server:
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    __slots__ = ("server", "core", "transport", "peer", "pending", "closing", "last", "paused", "tunnel",
                 "blocked", "served")

    def __init__(self, server: HttpServer):
        self.server = server
        self.core = ServerConnection(server.options.limits)
        self.pending: deque = deque()   # (request, Reply | Future) in arrival order
        self.closing = False            # a reply said close: read nothing more
        self.paused = False             # too many pipelined requests waiting for replies
        self.blocked = False            # the client does not read what we write
        self.tunnel: asyncio.Transport | None = None
        self.served = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        self.last = time.monotonic()
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.server.connections.discard(self)
        self.closing = True
        for _, item in self.pending:
            if isinstance(item, asyncio.Future):
                item.cancel()
        self.pending.clear()
        if self.tunnel is not None:
            self.tunnel.close()

    def pause_writing(self) -> None:
        self.blocked = True
        if not self.paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.blocked = False
        if not self.paused and not self.closing:
            self.transport.resume_reading()

    def check_timeout(self, now: float) -> None:
        if self.tunnel is not None or self.pending:
            return  # a tunnel, or the server itself working on a reply: not the client's slowness
        opts = self.server.options
        if self.core.idle:
            if now - self.last > opts.idle_timeout:
                self.transport.close()
        elif now - self.last > opts.request_timeout:
            self._send_error(RequestError(408, "the request did not arrive in time"))

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.closing:
            return
        self.last = time.monotonic()
        for event in self.core.receive(data):
            if isinstance(event, Request):
                self._handle(event)
            elif event is EXPECT_CONTINUE:
                if not self.pending:
                    self.transport.write(CONTINUE)
            else:
                self._send_error(event)
            if self.closing:
                return
        if len(self.pending) >= MAX_PIPELINE and not self.paused:
            self.paused = True
            if not self.blocked:
                self.transport.pause_reading()

    def _handle(self, req: Request) -> None:
        try:
            out = self.server.handler(req, self.peer)
        except Exception:
            log.exception("handler failed on %s %s", req.method, req.target)
            out = error_reply(500, "the server failed on this request", date=self.server.date())
        if isinstance(out, Reply) and not self.pending:
            self._write(req, out)
            return
        if not isinstance(out, Reply | Tunnel):
            fut = asyncio.ensure_future(out)
            fut.add_done_callback(self._ready)
            out = fut
        self.pending.append((req, out))
        self._flush()

    def _ready(self, fut: asyncio.Future) -> None:
        if not fut.cancelled():
            self._flush()

    def _flush(self) -> None:
        pending = self.pending
        while pending and not self.closing:
            req, item = pending[0]
            if isinstance(item, asyncio.Future):
                if not item.done():
                    break
                try:
                    item = item.result()
                except Exception:
                    log.exception("handler failed on %s %s", req.method, req.target)
                    item = error_reply(502, "the proxy failed on this request", date=self.server.date())
            pending.popleft()
            if isinstance(item, Tunnel):
                asyncio.ensure_future(self._open_tunnel(item))
                return
            self._write(req, item)
        if self.paused and len(pending) < MAX_PIPELINE // 2 and not self.closing:
            self.paused = False
            if not self.blocked:
                self.transport.resume_reading()

    def _write(self, req: Request, reply: Reply) -> None:
        # after a CONNECT the parser has handed the connection over: a refused one ends it
        self.served += 1
        limit = self.server.options.max_requests
        close = reply.close or not req.keep_alive or req.method == "CONNECT" or (limit and self.served >= limit)
        if close:
            end = CLOSE
        elif req.version == "1.0":
            end = KEEP_ALIVE
        else:
            end = END
        if self.server.access_log is not None:  # before the reply leaves: the log never lags the wire
            self.server.access_log(self.peer, req, reply)
        if len(reply.body) < 65536:
            self.transport.write(reply.head + end + reply.body)
        else:  # a large body is not copied into the head's buffer
            self.transport.write(reply.head + end)
            self.transport.write(reply.body)
        self.last = time.monotonic()
        if close:
            self.closing = True
            self.transport.close()

    def _send_error(self, err: RequestError) -> None:
        self.closing = True
        log.info("%s: %d %s", self.peer, err.status, err.message)
        reply = error_reply(err.status, err.message, date=self.server.date(), close=True)
        self.transport.write(reply.head + CLOSE + reply.body)
        self.transport.close()

    async def _open_tunnel(self, target: Tunnel) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await asyncio.wait_for(loop.create_connection(
                lambda: _TunnelEnd(self.transport), target.host, target.port), 10)
        except (TimeoutError, OSError) as e:
            self._send_error(RequestError(502, f"cannot reach {target.host}:{target.port}: {e}"))
            return
        self.tunnel = transport
        self.transport.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        if self.paused or self.blocked:
            self.paused = self.blocked = False
            self.transport.resume_reading()


class _TunnelEnd(asyncio.Protocol):
    """The target's side of a CONNECT tunnel: what the target sends goes to the client as it is."""

    def __init__(self, client: asyncio.Transport):
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc) -> None:
        self.client.close()
