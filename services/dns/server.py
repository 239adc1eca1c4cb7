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
from collections.abc import Awaitable, Callable

log = logging.getLogger("services.dns.server")

Handler = Callable[[bytes, str, bool], "bytes | None | Awaitable[bytes | None]"]
TCP_IDLE = 10.0
MAX_TCP_CLIENTS = 512


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
            except Exception:  # a bug must cost one query, never the server
                log.exception("handler failed on a %d-byte datagram from %s", len(data), addr[0])
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
        except Exception:
            log.exception("resolution for %s failed", addr[0])
            return
        if out is not None:
            self.send(out, addr)


class _TCP:
    def __init__(self, handler: Handler):
        self.handler = handler
        self.clients = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.clients += 1
        tasks: set[asyncio.Task] = set()
        try:
            if self.clients > MAX_TCP_CLIENTS:
                return
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE), "big")
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE)
                try:
                    out = self.handler(data, peer[0], True)
                except Exception:
                    log.exception("handler failed on a %d-byte message from %s", size, peer[0])
                    continue
                if isinstance(out, bytes):
                    _send(writer, out)
                elif out is not None:
                    task = asyncio.ensure_future(self._later(out, writer))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            if tasks:
                await asyncio.wait(tasks, timeout=TCP_IDLE)
            self.clients -= 1
            writer.close()

    async def _later(self, pending: Awaitable[bytes | None], writer: asyncio.StreamWriter) -> None:
        try:
            out = await pending
        except Exception:
            log.exception("resolution failed")
            return
        if out is not None and not writer.is_closing():
            _send(writer, out)


def _send(writer: asyncio.StreamWriter, out: bytes) -> None:
    writer.write(len(out).to_bytes(2, "big") + out)


async def serve(handler: Handler, host: str = "0.0.0.0", port: int = 53) -> tuple[socket.socket, asyncio.Server]:
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
    tcp = await asyncio.start_server(_TCP(handler), host, port, reuse_address=True)
    return sock, tcp
