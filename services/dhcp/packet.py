"""DHCP messages on the wire (RFC 2131 section 2, RFC 2132 options): a BOOTP header plus options.

`DhcpPacket.decode` never raises anything but `MalformedPacket` on hostile input; options the codec
does not know are kept as raw bytes, so a relay or server passes them through untouched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv4Address

MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # 236 bytes, then the magic cookie
ZERO = IPv4Address(0)
BROADCAST_FLAG = 0x8000
SERVER_PORT, CLIENT_PORT = 67, 68


class MalformedPacket(ValueError):
    pass


class Op(IntEnum):
    BOOTREQUEST = 1
    BOOTREPLY = 2


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class Opt(IntEnum):
    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS_SERVERS = 6
    HOSTNAME = 12
    DOMAIN_NAME = 15
    BROADCAST_ADDRESS = 28
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    CLIENT_ID = 61
    END = 255


# How each known option's value is typed: everything else stays bytes.
_ADDRESS = {Opt.SUBNET_MASK, Opt.REQUESTED_IP, Opt.SERVER_ID, Opt.BROADCAST_ADDRESS}
_ADDRESSES = {Opt.ROUTER, Opt.DNS_SERVERS}
_U32 = {Opt.LEASE_TIME, Opt.RENEWAL_TIME, Opt.REBINDING_TIME}
_TEXT = {Opt.HOSTNAME, Opt.DOMAIN_NAME, Opt.MESSAGE}


def _packed(value: object) -> bytes:
    # IPv4Address(IPv4Address) would go through the address's string form: slow on the hot path
    return value.packed if isinstance(value, IPv4Address) else IPv4Address(value).packed  # type: ignore[arg-type]


def encode_option(code: int, value: object) -> bytes:
    """One option as code, length, data; values longer than 255 bytes are split (RFC 3396)."""
    if code in _ADDRESS:
        data = _packed(value)
    elif code in _ADDRESSES:
        data = b"".join(_packed(a) for a in value)  # type: ignore[attr-defined]
    elif code in _U32:
        data = struct.pack("!I", value)
    elif code == Opt.MESSAGE_TYPE:
        data = bytes([int(value)])  # type: ignore[call-overload]
    elif code == Opt.MAX_MESSAGE_SIZE:
        data = struct.pack("!H", value)
    elif code in _TEXT:
        data = str(value).encode()
    elif code == Opt.PARAMETER_LIST:
        data = bytes(value)  # type: ignore[arg-type]
    else:
        data = bytes(value)  # type: ignore[arg-type]
    out = bytearray()
    for i in range(0, max(len(data), 1), 255):
        chunk = data[i:i + 255]
        out += bytes([code, len(chunk)]) + chunk
    return bytes(out)


def decode_option(code: int, data: bytes) -> object:
    try:
        if code in _ADDRESS:
            return IPv4Address(data)
        if code in _ADDRESSES:
            if len(data) % 4:
                raise MalformedPacket(f"option {code}: length {len(data)} is not a multiple of 4")
            return [IPv4Address(data[i:i + 4]) for i in range(0, len(data), 4)]
        if code in _U32:
            return struct.unpack("!I", data)[0]
        if code == Opt.MESSAGE_TYPE:
            return MessageType(data[0])
        if code == Opt.MAX_MESSAGE_SIZE:
            return struct.unpack("!H", data)[0]
        if code in _TEXT:
            return data.decode("utf-8", "replace")
        if code == Opt.PARAMETER_LIST:
            return list(data)
    except (ValueError, IndexError, struct.error) as e:
        raise MalformedPacket(f"option {code}: {e}") from None
    return data


def _parse_options(buf: bytes, into: dict[int, bytes]) -> None:
    i, n = 0, len(buf)
    while i < n:
        code = buf[i]
        if code == Opt.END:
            return
        if code == Opt.PAD:
            i += 1
            continue
        if i + 1 >= n:
            raise MalformedPacket(f"option {code} cut short")
        length = buf[i + 1]
        if i + 2 + length > n:
            raise MalformedPacket(f"option {code} claims {length} bytes, {n - i - 2} remain")
        into[code] = into.get(code, b"") + buf[i + 2:i + 2 + length]  # RFC 3396: concatenate repeats
        i += 2 + length


@dataclass
class DhcpPacket:
    op: Op = Op.BOOTREQUEST
    xid: int = 0
    chaddr: bytes = b"\0" * 6
    ciaddr: IPv4Address = ZERO
    yiaddr: IPv4Address = ZERO
    siaddr: IPv4Address = ZERO
    giaddr: IPv4Address = ZERO
    flags: int = 0
    secs: int = 0
    hops: int = 0
    htype: int = 1
    hlen: int = 6
    sname: bytes = b""
    file: bytes = b""
    options: dict[int, object] = field(default_factory=dict)  # in the order they are sent

    @property
    def message_type(self) -> MessageType | None:
        t = self.options.get(Opt.MESSAGE_TYPE)
        return t if isinstance(t, MessageType) else None

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    @property
    def mac(self) -> str:
        return ":".join(f"{b:02x}" for b in self.chaddr[: self.hlen])

    def get(self, code: int, default: object = None) -> object:
        return self.options.get(code, default)

    def encode(self, min_size: int = 300) -> bytes:
        head = HEADER.pack(self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags,
                           self.ciaddr.packed, self.yiaddr.packed, self.siaddr.packed, self.giaddr.packed,
                           self.chaddr.ljust(16, b"\0")[:16], self.sname[:64].ljust(64, b"\0"),
                           self.file[:128].ljust(128, b"\0"))
        opts = b"".join(encode_option(c, v) for c, v in self.options.items())
        out = head + MAGIC + opts + b"\xff"
        # BOOTP relays and old clients expect at least 300 bytes (RFC 1542 section 2.1)
        return out.ljust(min_size, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> DhcpPacket:
        if len(data) < HEADER.size + 4:
            raise MalformedPacket(f"{len(data)} bytes is shorter than a BOOTP header with magic cookie")
        (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname,
         file) = HEADER.unpack_from(data)
        if op not in (1, 2):
            raise MalformedPacket(f"op {op} is neither BOOTREQUEST nor BOOTREPLY")
        if hlen > 16:
            raise MalformedPacket(f"hlen {hlen} is longer than chaddr")
        if data[HEADER.size:HEADER.size + 4] != MAGIC:
            raise MalformedPacket("no DHCP magic cookie: a plain BOOTP message")
        raw: dict[int, bytes] = {}
        _parse_options(data[HEADER.size + 4:], raw)
        overload = raw.get(Opt.OVERLOAD, b"\0")[:1]
        if overload in (b"\x01", b"\x03"):
            _parse_options(file, raw)
        if overload in (b"\x02", b"\x03"):
            _parse_options(sname, raw)
        options = {code: decode_option(code, value) for code, value in raw.items()}
        return cls(op=Op(op), xid=xid, chaddr=chaddr[:hlen], ciaddr=IPv4Address(ciaddr),
                   yiaddr=IPv4Address(yiaddr), siaddr=IPv4Address(siaddr), giaddr=IPv4Address(giaddr),
                   flags=flags, secs=secs, hops=hops, htype=htype, hlen=hlen,
                   sname=sname.rstrip(b"\0"), file=file.rstrip(b"\0"), options=options)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))
