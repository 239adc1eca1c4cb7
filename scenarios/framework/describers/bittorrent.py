"""BitTorrent's peer wire (BEP 3) for scenarios: a stream split into the handshake and length-prefixed
messages, each labelled as the course names it ("handshake", "bitfield", "have 5", "request 3:0",
"piece 3:0", "unchoke"), and `peer_messages`, the parsed messages of one connection for assertions."""

from __future__ import annotations

import struct
from dataclasses import dataclass

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


def peer_messages(conn) -> list[PeerMessage]:
    """Both directions' messages of one captured connection, in the order they were complete."""
    out = []
    for m in conn.messages(DESCRIBER):
        if not m.complete:
            continue
        if m.data[:20] == b"\x13BitTorrent protocol":
            hs = wire.parse_handshake(m.data)
            out.append(PeerMessage(m.side, "handshake", m.time, data=hs.info_hash))
            continue
        try:
            w = wire.parse_message(m.data[4:])
        except wire.WireError:
            continue
        out.append(PeerMessage(m.side, w.name, m.time, w.index, w.begin, w.data))
    return out


class BitTorrent(Describer):
    name = "bittorrent"
    ports = (PEER_PORT,)
    splits = True

    def recognizes(self, pkt: Packet) -> bool:
        return TCP in pkt and PEER_PORT in (pkt[TCP].sport, pkt[TCP].dport) and len(pkt[TCP].payload) > 0

    def summary(self, pkt: Packet) -> str:
        return "BitTorrent peer wire"

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
