"""DNS messages on the wire, beyond what dnslib does: safe parsing of untrusted bytes, EDNS payload sizes
(RFC 6891), fitting a reply into a UDP payload (RFC 1035 section 4.2.1, RFC 2181 section 9), and locating
the TTL fields of a packed reply so a cached reply can age without being packed again.
"""

from __future__ import annotations

import struct

from dnslib import EDNS0, QTYPE, RCODE, DNSHeader, DNSRecord

HEADER = struct.Struct("!HHHHHH")
OPT = QTYPE.OPT
CLASSIC_UDP = 512  # RFC 1035: the largest UDP reply to a client without EDNS
EDNS_UDP = 1232  # the size the 2020 DNS flag day settled on: fits any path without fragments
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080


class Malformed(ValueError):
    """Bytes that are not a DNS message we can work with."""


def parse(data: bytes) -> DNSRecord:
    """dnslib's parser behind one exception type: hostile bytes make it raise many kinds."""
    try:
        return DNSRecord.parse(data)
    except Exception as e:
        raise Malformed(f"{e.__class__.__name__}: {e}") from None


def header(data: bytes) -> tuple[int, int, int, int, int, int] | None:
    """(id, flags, qdcount, ancount, nscount, arcount), or None when there is no whole header."""
    return HEADER.unpack_from(data) if len(data) >= 12 else None


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A header-only reply with `rcode` for a query we cannot parse, or None when not even the header
    is readable or it is itself a response (answering responses would let two servers loop)."""
    h = header(data)
    if h is None or h[1] & QR:
        return None
    flags = QR | (h[1] & (0x7800 | RD)) | (rcode & 0xF)
    return HEADER.pack(h[0], flags, 0, 0, 0, 0)


def edns(query: DNSRecord) -> EDNS0 | None:
    for rr in query.ar:
        if rr.rtype == OPT:
            return rr
    return None


def udp_limit(query: DNSRecord, ceiling: int = EDNS_UDP) -> int:
    """The largest UDP reply this client takes: 512 without EDNS, else its advertised size (at least 512,
    at most our own ceiling)."""
    opt = edns(query)
    if opt is None:
        return CLASSIC_UDP
    return max(CLASSIC_UDP, min(opt.rclass, ceiling))


def reply_to(query: DNSRecord, *, ra: bool = False, aa: bool = False, ceiling: int = EDNS_UDP) -> DNSRecord:
    """An empty reply echoing the query's id, question and RD bit, with an OPT record if it had one."""
    reply = DNSRecord(DNSHeader(id=query.header.id, qr=1, rd=query.header.rd, ra=int(ra), aa=int(aa),
                                opcode=query.header.opcode), q=query.q)
    reply.questions = list(query.questions)
    if edns(query) is not None:
        reply.add_ar(EDNS0(udp_len=ceiling))
    return reply


def fit(reply: DNSRecord, limit: int) -> bytes:
    """Pack `reply` into at most `limit` bytes. Additional records are dropped first (they are optional);
    if the answer or authority still does not fit, the reply is sent empty with TC set so the client asks
    again over TCP (RFC 2181 section 9)."""
    wire = bytes(reply.pack())
    if len(wire) <= limit:
        return wire
    opts = [rr for rr in reply.ar if rr.rtype == OPT]
    if len(opts) != len(reply.ar):
        reply.ar = opts
        wire = bytes(reply.pack())
        if len(wire) <= limit:
            return wire
    reply.rr, reply.auth, reply.ar = [], [], opts
    reply.header.tc = 1
    return bytes(reply.pack())


def _skip_name(data: bytes, i: int) -> int:
    while True:
        n = data[i]
        if n & 0xC0 == 0xC0:
            return i + 2
        if n == 0:
            return i + 1
        i += n + 1


def ttl_offsets(wire: bytes) -> list[tuple[int, int]]:
    """(offset, ttl) of every TTL field in a packed message, OPT pseudo-records excepted (their 'TTL'
    holds EDNS flags)."""
    _, _, qd, an, ns, ar = HEADER.unpack_from(wire)
    i = 12
    for _ in range(qd):
        i = _skip_name(wire, i) + 4
    out = []
    for _ in range(an + ns + ar):
        i = _skip_name(wire, i)
        rtype, _, ttl, rdlen = struct.unpack_from("!HHIH", wire, i)
        if rtype != OPT:
            out.append((i + 4, ttl))
        i += 10 + rdlen
    return out


def rcode_name(rcode: int) -> str:
    return RCODE.get(rcode, str(rcode))
