"""The peer wire protocol (BEP 3) as bytes in, messages out: the handshake and the length-prefixed
messages, with no sockets.

A length prefix is checked against `max_length` before anything is buffered for it, so a peer that
announces a 4 GB message is refused at once rather than waited for or allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL = b"BitTorrent protocol"
HANDSHAKE_LEN = 1 + len(PROTOCOL) + 8 + 20 + 20
BLOCK = 16 * 1024
MAX_BLOCK = 128 * 1024  # what we agree to serve in one request; BEP 3 clients ask for 16 KiB

CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL, PORT = range(10)
NAMES = ("choke", "unchoke", "interested", "not interested", "have", "bitfield", "request", "piece",
         "cancel", "port")


class WireError(ValueError):
    """The peer broke the protocol; the connection is closed."""


@dataclass(frozen=True)
class Handshake:
    info_hash: bytes
    peer_id: bytes
    reserved: bytes = bytes(8)

    def encode(self) -> bytes:
        return bytes([len(PROTOCOL)]) + PROTOCOL + self.reserved + self.info_hash + self.peer_id


def parse_handshake(data: bytes) -> Handshake:
    if len(data) != HANDSHAKE_LEN or data[0] != len(PROTOCOL) or data[1:20] != PROTOCOL:
        raise WireError("not a BitTorrent handshake")
    return Handshake(info_hash=data[28:48], peer_id=data[48:68], reserved=data[20:28])


@dataclass(frozen=True)
class Message:
    """One message: `kind` is the id (None for keep-alive); the fields used depend on it."""

    kind: int | None
    index: int = 0
    begin: int = 0
    length: int = 0
    data: bytes = b""  # the block of a piece, the bits of a bitfield, the payload of an unknown id

    @property
    def name(self) -> str:
        if self.kind is None:
            return "keep-alive"
        return NAMES[self.kind] if self.kind < len(NAMES) else f"id {self.kind}"


KEEP_ALIVE = b"\0\0\0\0"


def simple(kind: int) -> bytes:
    return struct.pack(">IB", 1, kind)


def have(index: int) -> bytes:
    return struct.pack(">IBI", 5, HAVE, index)


def bitfield(bits: bytes) -> bytes:
    return struct.pack(">IB", 1 + len(bits), BITFIELD) + bits


def request(index: int, begin: int, length: int, kind: int = REQUEST) -> bytes:
    return struct.pack(">IBIII", 13, kind, index, begin, length)


def cancel(index: int, begin: int, length: int) -> bytes:
    return request(index, begin, length, CANCEL)


def piece_header(index: int, begin: int, length: int) -> bytes:
    """The 13 bytes before a block, so the block itself is written without copying it."""
    return struct.pack(">IBII", 9 + length, PIECE, index, begin)


_FIXED = {CHOKE: 0, UNCHOKE: 0, INTERESTED: 0, NOT_INTERESTED: 0, HAVE: 4, REQUEST: 12, CANCEL: 12, PORT: 2}


def parse_message(body: bytes) -> Message:
    """One message from its body (the bytes after the length prefix)."""
    if not body:
        return Message(None)
    kind = body[0]
    size = len(body) - 1
    if kind in _FIXED and size != _FIXED[kind]:
        raise WireError(f"{NAMES[kind]} message of {size} bytes, expected {_FIXED[kind]}")
    if kind == HAVE:
        return Message(kind, index=struct.unpack_from(">I", body, 1)[0])
    if kind in (REQUEST, CANCEL):
        i, b, n = struct.unpack_from(">III", body, 1)
        return Message(kind, index=i, begin=b, length=n)
    if kind == PIECE:
        if size < 8:
            raise WireError("piece message shorter than its header")
        i, b = struct.unpack_from(">II", body, 1)
        return Message(kind, index=i, begin=b, length=size - 8, data=body[9:])
    if kind == PORT:
        return Message(kind, index=struct.unpack_from(">H", body, 1)[0])
    return Message(kind, data=body[1:])


class WireParser:
    """Feed it the bytes as they come; it returns the whole messages they complete."""

    def __init__(self, max_length: int = MAX_BLOCK + 13):
        self.max_length = max_length
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self.buf += data
        out: list[Message] = []
        pos = 0
        buf = self.buf
        while len(buf) - pos >= 4:
            (n,) = struct.unpack_from(">I", buf, pos)
            if n > self.max_length:
                raise WireError(f"message length {n} exceeds the limit of {self.max_length}")
            if len(buf) - pos - 4 < n:
                break
            out.append(parse_message(bytes(buf[pos + 4 : pos + 4 + n])))
            pos += 4 + n
        del buf[:pos]
        return out


def max_length_for(num_pieces: int) -> int:
    """The largest message a torrent needs: a block, or its bitfield."""
    return max(MAX_BLOCK + 13, 1 + (num_pieces + 7) // 8)
