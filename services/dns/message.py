"""DNS messages on the wire, beyond what dnslib does: safe parsing of untrusted bytes, EDNS payload sizes
(RFC 6891), fitting a reply into a UDP payload (RFC 1035 section 4.2.1, RFC 2181 section 9), and locating
the TTL fields of a packed reply so a cached reply can age without being packed again.
"""

from __future__ import annotations

import struct

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSBuffer, DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from dnslib.buffer import BufferError

HEADER = struct.Struct("!HHHHHH")
OPT = QTYPE.OPT
CLASSIC_UDP = 512  # RFC 1035: the largest UDP reply to a client without EDNS
EDNS_UDP = 1232  # the size the 2020 DNS flag day settled on: fits any path without fragments
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
MAX_LABEL, MAX_NAME = 63, 255  # RFC 1035 section 2.3.4
MAX_POINTERS = 32  # compression jumps in one name: a compressor needs at most one per label, and rarely two
BADVERS = 16  # RFC 6891 section 9: an EDNS version we do not speak


class Malformed(ValueError):
    """Bytes that are not a DNS message we can work with."""


class _Buffer(DNSBuffer):
    """dnslib's buffer with a name decoder whose cost is bounded whatever the bytes.

    dnslib follows a compression pointer by recursion and copies the labels found at each level, so a
    name made of pointers to pointers costs work that grows with the chain, and a message full of such
    names costs the square of its size. Here each pointer must point strictly before the place the name
    was last read from (so jumps only go backwards and cannot loop), a name may take at most
    MAX_POINTERS jumps, and labels over 63 bytes (length bytes 0x40-0xBF, which dnslib reads as lengths)
    and names over 255 bytes are refused (RFC 1035 section 2.3.4): each name costs at most a few hundred
    steps, a message time linear in its size."""

    def decode_name(self, last: int = -1) -> DNSLabel:
        data, i = self.data, self.offset
        floor = i  # every pointer must point below this: the start of the stretch being read
        labels: list[bytes] = []
        size, jumps, resume = 1, 0, -1
        while True:
            if i >= len(data):
                raise BufferError("name runs past the end of the message")
            n = data[i]
            if n >= 0xC0:
                if i + 1 >= len(data):
                    raise BufferError("compression pointer cut short")
                target = ((n & 0x3F) << 8) | data[i + 1]
                if target >= floor:
                    raise BufferError(f"compression pointer at {i} to {target} does not point backwards")
                jumps += 1
                if jumps > MAX_POINTERS:
                    raise BufferError(f"name with more than {MAX_POINTERS} compression pointers")
                if resume < 0:
                    resume = i + 2
                i = floor = target
                continue
            if n > MAX_LABEL:
                raise BufferError(f"label of {n} bytes at {i}: at most {MAX_LABEL} (or an unknown label type)")
            if n == 0:
                break
            size += n + 1
            if size > MAX_NAME:
                raise BufferError(f"name longer than {MAX_NAME} bytes")
            label = bytes(data[i + 1:i + 1 + n])
            if len(label) < n:
                raise BufferError("label runs past the end of the message")
            try:
                label.decode()  # as dnslib: its labels must be text
            except UnicodeDecodeError:
                raise BufferError(f"label at {i} is not UTF-8") from None
            labels.append(label)
            i += n + 1
        self.offset = resume if resume >= 0 else i + 1
        return DNSLabel(labels)


def parse(data: bytes) -> DNSRecord:
    """dnslib's parser behind one exception type (hostile bytes make it raise many kinds), reading names
    with `_Buffer`, so any message costs time linear in its size."""
    buffer = _Buffer(data)
    try:
        header = DNSHeader.parse(buffer)
        sections: list[list] = [[], [], [], []]
        for section, count, kind in zip(sections, (header.q, header.a, header.auth, header.ar),
                                        (DNSQuestion, RR, RR, RR), strict=True):
            for _ in range(count):
                section.append(kind.parse(buffer))
        return DNSRecord(header, sections[0], sections[1], auth=sections[2], ar=sections[3])
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


def answers(query: bytes, reply: bytes) -> bool:
    """Is `reply` a response to `query` (same id, QR set, the same one question)? Anything else arriving
    where a reply is awaited (a decoy with a guessed id, a late reply to another query) is not it, and
    the wait goes on (RFC 5452 section 9.1)."""
    if len(reply) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80 or reply[4:6] != b"\x00\x01":
        return False
    end = _skip_name(query, 12)
    name = end - 12
    return (reply[12:12 + name].lower() == query[12:end].lower()  # names are case-blind (RFC 4343)
            and reply[12 + name:16 + name] == query[end:end + 4])


def edns_error(query: DNSRecord) -> int | None:
    """The rcode a query's EDNS use calls for, or None when it is fine (RFC 6891 section 6.1.1): FORMERR
    for more than one OPT record or one outside the additional section, BADVERS for a version other
    than 0."""
    opts = [rr for rr in query.ar if rr.rtype == OPT]
    if len(opts) > 1 or any(rr.rtype == OPT for rr in query.rr + query.auth):
        return RCODE.FORMERR
    if opts and (opts[0].ttl >> 16) & 0xFF != 0:
        return BADVERS
    return None


def error_to(query: DNSRecord, rcode: int, *, ra: bool = False, ceiling: int = EDNS_UDP) -> DNSRecord:
    """A reply with `rcode` and nothing else; an rcode over 15 puts its upper bits in an OPT record."""
    reply = reply_to(query, ra=ra, ceiling=ceiling)
    reply.ar = []
    if rcode > 15 or edns_error(query) is None and edns(query) is not None:
        reply.add_ar(EDNS0(udp_len=ceiling, ext_rcode=rcode >> 4))
    reply.header.rcode = rcode & 0xF
    return reply


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
