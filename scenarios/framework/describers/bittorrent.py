"""BitTorrent's peer wire (BEP 3) for scenarios: a stream split into the handshake and length-prefixed
messages, each labelled as the course names it ("handshake", "bitfield", "have 5", "request 3:0",
"piece 3:0", "unchoke"), and `peer_messages`, the parsed messages of one connection for assertions."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from scapy.layers.inet import TCP
from scapy.packet import Packet

from services.bittorrent import wire

from . import Describer

PEER_PORT = 6881


def _ends(data: bytes) -> list[int]:
    ends, at = [], 0
    if data[:20] == b"\x13BitTorrent protocol":
        if len(data) < wire.HANDSHAKE_LEN:
            return []
        at = wire.HANDSHAKE_LEN
        ends.append(at)
    while at + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, at)
        if at + 4 + n > len(data):
            break
        at += 4 + n
        ends.append(at)
    return ends


@dataclass(frozen=True)
class PeerMessage:
    """One message as a scenario checks it: `kind` is "handshake" or a wire name ("piece", "have")."""

    side: str
    kind: str
    time: float
    index: int = 0
    begin: int = 0
    data: bytes = b""  # a piece's block, a bitfield's bits, a handshake's info-hash
    frames: tuple = field(default=(), compare=False, repr=False)  # the captured frames that carried it


def peer_messages(conn) -> list[PeerMessage]:
    """Both directions' messages of one captured connection, in the order they were complete."""
    out = []
    for m in conn.messages(DESCRIBER):
        if not m.complete:
            continue
        if m.data[:20] == b"\x13BitTorrent protocol":
            hs = wire.parse_handshake(m.data)
            out.append(PeerMessage(m.side, "handshake", m.time, data=hs.info_hash, frames=tuple(m.frames)))
            continue
        try:
            w = wire.parse_message(m.data[4:])
        except wire.WireError:
            continue
        out.append(PeerMessage(m.side, w.name, m.time, w.index, w.begin, w.data, tuple(m.frames)))
    return out


class BitTorrent(Describer):
    name = "bittorrent"
    ports = (PEER_PORT,)
    splits = True

    def recognizes(self, pkt: Packet) -> bool:
        return TCP in pkt and PEER_PORT in (pkt[TCP].sport, pkt[TCP].dport) and len(pkt[TCP].payload) > 0

    def summary(self, pkt: Packet) -> str:
        """The messages that begin in this segment ("BitTorrent unchoke, request 3:0, request 3:16384"), or
        what it carries of a message begun earlier. A guess from one segment (a block's bytes could look
        like a message's start): assertions work on the reassembled stream, never on this."""
        data = bytes(pkt[TCP].payload)
        names, at = [], 0
        if data[:20] == b"\x13BitTorrent protocol":
            names.append("handshake")
            at = wire.HANDSHAKE_LEN
        while at + 4 <= len(data):
            (n,) = struct.unpack_from(">I", data, at)
            if n == 0:
                names.append("keep-alive")
            elif n > wire.MAX_BLOCK + 13 or at + 4 >= len(data) or data[at + 4] >= len(wire.NAMES):
                break
            else:
                kind = data[at + 4]
                name = wire.NAMES[kind]
                if kind in (wire.REQUEST, wire.PIECE, wire.CANCEL) and at + 13 <= len(data):
                    index, begin = struct.unpack_from(">II", data, at + 5)
                    name = f"{name} {index}:{begin}"
                elif kind == wire.HAVE and at + 9 <= len(data):
                    name = f"have {struct.unpack_from('>I', data, at + 5)[0]}"
                names.append(name)
            at += 4 + n
        if not names:
            return f"BitTorrent: {len(data)} bytes more of a message begun earlier (a piece's block)"
        more = len(names) - 6
        return "BitTorrent " + ", ".join(names[:6]) + (f" and {more} more" if more > 0 else "")

    def split(self, data: bytes, side: str) -> list[int]:
        return _ends(data)

    def label(self, message) -> str:
        data = message.data
        if data[:20] == b"\x13BitTorrent protocol":
            return f"handshake {data[28:32].hex()}…" if len(data) >= 48 else "handshake"
        try:
            m = wire.parse_message(data[4:])
        except wire.WireError:
            return "?"
        if m.kind in (wire.REQUEST, wire.PIECE, wire.CANCEL):
            return f"{m.name} {m.index}:{m.begin}"
        if m.kind == wire.HAVE:
            return f"have {m.index}"
        return m.name


DESCRIBER = BitTorrent()
