"""The proxy's connections toward origin servers: persistent, pooled per (host, port), one request at a
time on each. A pooled connection the origin has meanwhile closed is retried once on a new one when the
request is idempotent and nothing of the response had arrived (RFC 9112 9.3.1)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from .connection import ClientConnection, ResponseError
from .messages import Response

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamError(Exception):
    """The origin could not be reached or did not answer properly (the proxy answers 502 or 504)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Upstream(asyncio.Protocol):
    def __init__(self, key: tuple[str, int]):
        self.key = key
        self.core = ClientConnection()
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.got_bytes = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, method: str, data: bytes) -> asyncio.Future:
        self.core.sending(method)
        self.got_bytes = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            events = self.core.receive(data)
        except ResponseError as e:
            self._fail(e)
            self.transport.close()
            return
        for resp in events:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(resp)

    def connection_lost(self, exc) -> None:
        self.closed = True
        try:
            events = self.core.eof()
        except ResponseError as e:
            self._fail(e)
            return
        for resp in events:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(resp)
        self._fail(ConnectionResetError("the origin closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)


class UpstreamPool:
    def __init__(self, per_origin: int = 64, connect_timeout: float = 5.0, response_timeout: float = 30.0):
        self.idle: dict[tuple[str, int], list[_Upstream]] = defaultdict(list)
        self.per_origin, self.connect_timeout, self.response_timeout = per_origin, connect_timeout, response_timeout
        self.opened = 0   # connections made toward origins, for tests and logs

    async def _connect(self, key: tuple[str, int]) -> _Upstream:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(lambda: _Upstream(key), *key),
                                             self.connect_timeout)
        except TimeoutError:
            raise UpstreamError(504, f"{key[0]}:{key[1]} did not accept a connection in time") from None
        except OSError as e:
            raise UpstreamError(502, f"cannot connect to {key[0]}:{key[1]}: {e.strerror or e}") from None
        self.opened += 1
        return conn

    async def request(self, host: str, port: int, method: str, data: bytes) -> Response:
        """Send one request (its bytes, head and body) and return the whole response."""
        key = (host, port)
        idle = self.idle[key]
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            try:
                return await self._exchange(conn, method, data)
            except (ConnectionError, ResponseError) as e:
                if conn.got_bytes or method not in IDEMPOTENT:
                    raise UpstreamError(502, f"{host}:{port} broke off the response: {e}") from None
        conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, data)
        except (ConnectionError, ResponseError) as e:
            raise UpstreamError(502, f"{host}:{port}: {e}") from None

    async def _exchange(self, conn: _Upstream, method: str, data: bytes) -> Response:
        try:
            resp = await asyncio.wait_for(conn.send(method, data), self.response_timeout)
        except TimeoutError:
            conn.transport.close()
            raise UpstreamError(504, f"{conn.key[0]}:{conn.key[1]} did not answer in time") from None
        if resp.keep_alive and not conn.closed and len(self.idle[conn.key]) < self.per_origin:
            self.idle[conn.key].append(conn)
        else:
            conn.transport.close()
        return resp

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.transport.close()
        self.idle.clear()
