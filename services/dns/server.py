"""The thin asyncio shell around a DNS core: one UDP socket and one TCP listener on port 53.

A handler takes (query bytes, client address, over TCP?) and returns reply bytes, None (send nothing), or
an awaitable of either (a resolver that must ask other servers first). Over TCP each message carries a
two-byte length (RFC 1035 section 4.2.2); a connection may carry many queries, answered as they finish
(RFC 7766 section 6.2.1.1), and is closed after a while without one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

from .badpackets import OneLineLog

log = logging.getLogger("services.dns.server")

Handler = Callable[[bytes, str, bool], "bytes | None | Awaitable[bytes | None]"]
TCP_IDLE = 10.0  # seconds a connection may wait for a message, or for its client to read a reply
MAX_TCP_CLIENTS = 512
MAX_TCP_PER_CLIENT = 16  # connections one address may hold at once
WRITE_LIMIT = 1 << 18  # bytes of replies a client may leave unread before it is dropped
_LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset and drops what is queued
handler_failed = OneLineLog(log, "handler failed on a query", logging.ERROR)  # a bug costs one query and one line, never the server


class _UDP:
    """The UDP side. Reading is done here rather than by a DatagramProtocol: on each readiness event it
    drains every datagram already queued (up to a batch), where asyncio's datagram transport reads one per
    turn of the event loop; under load that is most of the cost of a cached answer."""

    BATCH = 256

    def __init__(self, sock: socket.socket, handler: Handler):
        self.sock, self.handler = sock, handler
        self.tasks: set[asyncio.Task] = set()

    def readable(self) -> None:
        sock, handler = self.sock, self.handler
        for _ in range(self.BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error from a client gone away, queued on the socket
                continue
            try:
                out = handler(data, addr[0], False)
            except Exception as e:
                handler_failed(addr[0], f"{len(data)}-byte datagram: {e.__class__.__name__}: {e}")
                continue
            if out is None:
                continue
            if isinstance(out, bytes):
                self.send(out, addr)
                continue
            task = asyncio.ensure_future(self._later(out, addr))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def send(self, out: bytes, addr: tuple) -> None:
        try:
            self.sock.sendto(out, addr)
        except OSError:
            pass  # a full socket buffer drops this reply, as the network might have: the client asks again

    async def _later(self, pending: Awaitable[bytes | None], addr: tuple) -> None:
        try:
            out = await pending
        except Exception as e:
            handler_failed(addr[0], f"resolution: {e.__class__.__name__}: {e}")
            return
        if out is not None:
            self.send(out, addr)


class _TCP:
    """The TCP side. A client may keep MAX_TCP_PER_CLIENT connections of the MAX_TCP_CLIENTS there are, so
    one client cannot take them all; a client that stops reading is dropped once its replies have waited
    `idle` seconds or fill WRITE_LIMIT bytes (a close that waited for it to read would keep its slot)."""

    def __init__(self, handler: Handler, idle: float = TCP_IDLE):
        self.handler, self.idle = handler, idle
        self.clients = 0
        self.per_client: dict[str, int] = {}

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = (writer.get_extra_info("peername") or ("?", 0))[0]
        if self.clients >= MAX_TCP_CLIENTS or self.per_client.get(ip, 0) >= MAX_TCP_PER_CLIENT:
            _reset(writer)
            return
        self.clients += 1
        self.per_client[ip] = self.per_client.get(ip, 0) + 1
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), self.idle), "big")
                data = await asyncio.wait_for(reader.readexactly(size), self.idle)
                try:
                    out = self.handler(data, ip, True)
                except Exception as e:
                    handler_failed(ip, f"{size}-byte message: {e.__class__.__name__}: {e}")
                    continue
                if isinstance(out, bytes):
                    _send(writer, out)
                elif out is not None:
                    task = asyncio.ensure_future(self._later(out, writer, ip))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.wait_for(writer.drain(), self.idle)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            if tasks and not writer.is_closing():
                await asyncio.wait(tasks, timeout=self.idle)
            self.clients -= 1
            left = self.per_client.pop(ip) - 1
            if left:
                self.per_client[ip] = left
            if writer.transport.get_write_buffer_size():
                _reset(writer)  # replies it never read: do not wait for it to read them
            else:
                writer.close()

    async def _later(self, pending: Awaitable[bytes | None], writer: asyncio.StreamWriter, ip: str) -> None:
        try:
            out = await pending
        except Exception as e:
            handler_failed(ip, f"resolution: {e.__class__.__name__}: {e}")
            return
        if out is None or writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > WRITE_LIMIT:
            _reset(writer)  # it asks and does not read: this connection ends here
            return
        _send(writer, out)


def _reset(writer: asyncio.StreamWriter) -> None:
    """End a connection at once with a reset: a plain close would leave the replies queued in the kernel
    for a client that does not read them, and the connection alive until it does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
        except OSError:
            pass
    writer.transport.abort()


def _send(writer: asyncio.StreamWriter, out: bytes) -> None:
    writer.write(len(out).to_bytes(2, "big") + out)


async def serve(handler: Handler, host: str = "0.0.0.0", port: int = 53,
                tcp_idle: float = TCP_IDLE) -> tuple[socket.socket, asyncio.Server]:
    """Open the UDP socket and the TCP listener; the caller keeps the loop running, and closes both."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    udp = _UDP(sock, handler)
    loop.add_reader(sock.fileno(), udp.readable)
    tcp = await asyncio.start_server(_TCP(handler, tcp_idle), host, port, reuse_address=True)
    return sock, tcp
