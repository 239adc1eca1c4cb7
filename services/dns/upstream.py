"""The resolver's side of the wire: send one `Query` to a server and wait for its reply.

Each UDP query leaves from a fresh socket on a random source port, connected to the server, so the kernel
drops datagrams from anyone else and a spoofer must guess both the port and the random query id
(RFC 5452). The reply must carry the query's id and its question; anything else on the socket (a decoy,
a reply to something else) is ignored and the wait goes on until the timeout.
"""

from __future__ import annotations

import asyncio
import socket
from random import Random, SystemRandom

from .message import answers

_rng = SystemRandom()


async def exchange(server: str, wire: bytes, tcp: bool, port: int = 53, timeout: float = 2.0,
                   rng: Random = _rng) -> bytes | None:
    """The server's reply to `wire`, or None after `timeout` or a network error."""
    try:
        if tcp:
            return await asyncio.wait_for(_tcp(server, port, wire), timeout)
        return await asyncio.wait_for(_udp(server, port, wire, rng), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return None


def random_port_socket(server: str, rng: Random = _rng) -> socket.socket:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    for _ in range(16):
        try:
            sock.bind(("", rng.randrange(1024, 65536)))
            return sock
        except OSError:
            continue  # that port is taken: draw again
    sock.bind(("", 0))
    return sock


async def _udp(server: str, port: int, wire: bytes, rng: Random) -> bytes:
    loop = asyncio.get_running_loop()
    sock = random_port_socket(server, rng)
    try:
        sock.connect((server, port))
        await loop.sock_sendall(sock, wire)
        while True:
            data = await loop.sock_recv(sock, 65535)
            if answers(wire, data):
                return data
    finally:
        sock.close()


async def _tcp(server: str, port: int, wire: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server, port)
    try:
        writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        while True:
            size = int.from_bytes(await reader.readexactly(2), "big")
            data = await reader.readexactly(size)
            if answers(wire, data):
                return data
    finally:
        writer.close()
