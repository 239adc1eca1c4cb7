"""The sockets DHCP needs beyond plain UDP: link-layer frames to hosts that have no address yet.

A client without an address cannot receive a unicast IP packet through the kernel, and a server must
answer it at its MAC (RFC 2131 section 4.1) or by broadcast on the right link. Both use an AF_PACKET
socket and write the IPv4 and UDP headers themselves; a classic BPF filter keeps everything but
DHCP out of a receiving socket.
"""

from __future__ import annotations

import array
import ctypes
import json
import socket
import struct
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
IP_PKTINFO = 8  # <linux/in.h>; not exported by Python's socket module
PACKET_OUTGOING = 4
BROADCAST_MAC = b"\xff" * 6


class LinkError(ValueError):
    """An interface the command line names is missing or unusable."""


@dataclass
class Link:
    name: str
    index: int
    mac: bytes
    address: IPv4Interface | None  # the first IPv4 address, if any


def links() -> dict[int, Link]:
    """This namespace's interfaces by index, with their MAC and first IPv4 address."""
    out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = {}
    for d in json.loads(out):
        v4 = [a for a in d.get("addr_info", []) if a.get("family") == "inet"]
        mac = bytes.fromhex(d.get("address", "00:00:00:00:00:00").replace(":", "")) or b"\0" * 6
        addr = IPv4Interface(f"{v4[0]['local']}/{v4[0]['prefixlen']}") if v4 else None
        found[d["ifindex"]] = Link(d["ifname"], d["ifindex"], mac, addr)
    return found


def link_by_name(name: str) -> Link:
    for link in links().values():
        if link.name == name:
            return link
    raise LinkError(f"no interface {name!r} in this node; its interfaces: "
                    + ", ".join(x.name for x in links().values()))


def checksum(data: bytes) -> bytes:
    """The Internet checksum (RFC 1071), as the two bytes to put in a header."""
    if len(data) % 2:
        data += b"\0"
    s = sum(array.array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("=H", ~s & 0xFFFF)  # summed in native order, so packed in native order


def ipv4_udp(src: IPv4Address, dst: IPv4Address, sport: int, dport: int, payload: bytes, ttl: int = 64) -> bytes:
    """An IPv4 packet carrying one UDP datagram, both checksums filled in."""
    ulen = 8 + len(payload)
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, ulen)
    udp = struct.pack("!HHH", sport, dport, ulen)
    ucsum = checksum(pseudo + udp + b"\0\0" + payload)
    if ucsum == b"\0\0":
        ucsum = b"\xff\xff"  # zero means "no checksum" in UDP over IPv4
    ip = struct.pack("!BBHHHBB", 0x45, 0x10, 20 + ulen, 0, 0, ttl, 17)
    ip += b"\0\0" + src.packed + dst.packed
    ip = ip[:10] + checksum(ip) + ip[12:]
    return ip + udp + ucsum + payload


def parse_ipv4_udp(packet: bytes) -> tuple[IPv4Address, IPv4Address, int, int, bytes] | None:
    """(src, dst, sport, dport, payload) of an unfragmented IPv4/UDP packet, else None."""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 17:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if struct.unpack_from("!H", packet, 6)[0] & 0x3FFF or len(packet) < ihl + 8:
        return None  # a fragment: DHCP messages are never fragmented in a lab
    total = struct.unpack_from("!H", packet, 2)[0]
    sport, dport, ulen = struct.unpack_from("!HHH", packet, ihl)
    end = min(ihl + ulen, total, len(packet))
    return (IPv4Address(packet[12:16]), IPv4Address(packet[16:20]), sport, dport, packet[ihl + 8:end])


def _udp_port_filter(port: int) -> list[tuple[int, int, int, int]]:
    return [
        (0x30, 0, 0, 9),        # ldb [9]            IP protocol
        (0x15, 0, 6, 17),       # jeq #17            UDP, else drop
        (0x28, 0, 0, 6),        # ldh [6]            flags and fragment offset
        (0x45, 4, 0, 0x1FFF),   # jset #0x1fff       a fragment: drop
        (0xB1, 0, 0, 0),        # ldxb 4*([0]&0xf)   IP header length
        (0x48, 0, 0, 2),        # ldh [x+2]          UDP destination port
        (0x15, 0, 1, port),     # jeq #port
        (0x06, 0, 0, 0xFFFF),   # ret: accept
        (0x06, 0, 0, 0),        # ret: drop
    ]


class LinkSocket:
    """IPv4 packets straight onto (and, given `port`, off) one interface, below the kernel's IP layer."""

    def __init__(self, ifname: str, port: int | None = None):
        self.ifname = ifname
        proto = socket.htons(ETH_P_IP) if port is not None else 0  # send-only sockets receive nothing
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, proto)
        if port is not None:
            prog = b"".join(struct.pack("HBBI", *ins) for ins in _udp_port_filter(port))
            self._prog = ctypes.create_string_buffer(prog)
            fprog = struct.pack("HL", len(prog) // 8, ctypes.addressof(self._prog))
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self.sock.bind((ifname, ETH_P_IP if port is not None else 0))  # Python swaps this one itself
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, src: IPv4Address, dst: IPv4Address, dst_mac: bytes, sport: int, dport: int,
             payload: bytes) -> None:
        self.sock.sendto(ipv4_udp(src, dst, sport, dport, payload), (self.ifname, ETH_P_IP, 0, 0, dst_mac))

    def receive(self, limit: int = 64) -> list[tuple[IPv4Address, IPv4Address, int, int, bytes]]:
        """The incoming UDP datagrams waiting (at most `limit`), as (src, dst, sport, dport, payload)."""
        out = []
        for _ in range(limit):
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] != PACKET_OUTGOING and (parsed := parse_ipv4_udp(data)) is not None:
                out.append(parsed)
        return out

    def close(self) -> None:
        self.sock.close()


def udp_socket(port: int, device: str | None = None, pktinfo: bool = False,
               rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    if pktinfo:
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    if rcvbuf:
        try:  # past net.core.rmem_max (root only): a burst must not overflow while a batch is synced
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("0.0.0.0", port))
    s.setblocking(False)
    return s


def recv_with_link(sock: socket.socket) -> tuple[bytes, tuple[str, int], int] | None:
    """(datagram, sender, index of the interface it came in on) from a socket with IP_PKTINFO on."""
    try:
        data, anc, _flags, sender = sock.recvmsg(65535, 64)
    except BlockingIOError:
        return None
    ifindex = 0
    for level, kind, cdata in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            ifindex = struct.unpack_from("I", cdata)[0]
    return data, sender, ifindex
