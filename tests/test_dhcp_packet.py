"""The DHCP codec: round trips, cross-checks against scapy's independent encoder, hostile input."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dhcp.net import checksum, ipv4_udp, parse_ipv4_udp
from services.dhcp.packet import (
    BROADCAST_FLAG,
    HEADER,
    MAGIC,
    DhcpPacket,
    MalformedPacket,
    MessageType,
    Op,
    Opt,
    encode_option,
)

MAC = bytes.fromhex("02aabbccddee")


def offer() -> DhcpPacket:
    return DhcpPacket(op=Op.BOOTREPLY, xid=0x3903F326, chaddr=MAC, yiaddr=IPv4Address("10.0.1.100"),
                      giaddr=IPv4Address("10.0.1.1"), flags=BROADCAST_FLAG, hops=1,
                      options={Opt.MESSAGE_TYPE: MessageType.OFFER, Opt.SERVER_ID: IPv4Address("10.0.3.60"),
                               Opt.LEASE_TIME: 3600, Opt.RENEWAL_TIME: 1800, Opt.REBINDING_TIME: 3150,
                               Opt.SUBNET_MASK: IPv4Address("255.255.255.0"),
                               Opt.ROUTER: [IPv4Address("10.0.1.1")],
                               Opt.DNS_SERVERS: [IPv4Address("10.0.3.53"), IPv4Address("10.0.3.54")],
                               Opt.DOMAIN_NAME: "campus.lab"})


def test_round_trip_keeps_every_field_and_option():
    pkt = offer()
    data = pkt.encode()
    assert len(data) >= 300 and data[HEADER.size:HEADER.size + 4] == MAGIC
    back = DhcpPacket.decode(data)
    assert back == pkt
    assert back.message_type == MessageType.OFFER and back.broadcast and back.mac == "02:aa:bb:cc:dd:ee"


def test_options_are_encoded_as_rfc_2132_says():
    assert encode_option(Opt.MESSAGE_TYPE, MessageType.DISCOVER) == bytes([53, 1, 1])
    assert encode_option(Opt.SUBNET_MASK, IPv4Address("255.255.255.0")) == bytes([1, 4, 255, 255, 255, 0])
    assert encode_option(Opt.ROUTER, [IPv4Address("10.0.1.1"), IPv4Address("10.0.1.2")]) == \
        bytes([3, 8, 10, 0, 1, 1, 10, 0, 1, 2])
    assert encode_option(Opt.LEASE_TIME, 3600) == bytes([51, 4, 0, 0, 0x0E, 0x10])
    assert encode_option(Opt.DOMAIN_NAME, "lab") == bytes([15, 3]) + b"lab"


def test_long_option_is_split_and_joined_again():
    """RFC 3396: a value over 255 bytes goes out as several options with one code, concatenated on input."""
    long_name = "x" * 300
    pkt = DhcpPacket(options={Opt.MESSAGE_TYPE: MessageType.INFORM, Opt.DOMAIN_NAME: long_name})
    data = pkt.encode()
    assert data.count(bytes([15, 255])) == 1 and bytes([15, 45]) in data
    assert DhcpPacket.decode(data).options[Opt.DOMAIN_NAME] == long_name


def test_overloaded_file_field_carries_options():
    pkt = DhcpPacket(options={Opt.MESSAGE_TYPE: MessageType.ACK, Opt.OVERLOAD: b"\x01"})
    data = bytearray(pkt.encode())
    file_at = 44 + 64  # chaddr ends at 44, sname is 64 bytes
    data[file_at:file_at + 7] = bytes([15, 4]) + b"file" + b"\xff"
    assert DhcpPacket.decode(bytes(data)).options[Opt.DOMAIN_NAME] == "file"


def test_agrees_with_scapy_both_ways():
    from scapy.layers.dhcp import BOOTP, DHCP

    ours = offer()
    theirs = BOOTP(bytes(ours.encode()))
    opts = {o[0]: o[1:] for o in theirs[DHCP].options if isinstance(o, tuple)}
    assert theirs.xid == ours.xid and theirs.yiaddr == "10.0.1.100" and theirs.giaddr == "10.0.1.1"
    assert opts["message-type"] == (2,) and opts["server_id"] == ("10.0.3.60",)
    assert opts["lease_time"] == (3600,) and opts["renewal_time"] == (1800,)
    assert opts["domain"] == (b"campus.lab",) and opts["name_server"] == ("10.0.3.53", "10.0.3.54")
    built = BOOTP(op=1, xid=77, chaddr=MAC + b"\0" * 10, ciaddr="10.0.2.5", flags=0x8000) / DHCP(
        options=[("message-type", "request"), ("requested_addr", "10.0.2.5"), ("server_id", "10.0.3.60"),
                 ("param_req_list", [1, 3, 6]), "end"])
    pkt = DhcpPacket.decode(bytes(built))
    assert pkt.message_type == MessageType.REQUEST and pkt.xid == 77 and pkt.broadcast
    assert pkt.ciaddr == IPv4Address("10.0.2.5") and pkt.mac == "02:aa:bb:cc:dd:ee"
    assert pkt.options[Opt.REQUESTED_IP] == IPv4Address("10.0.2.5")
    assert pkt.options[Opt.PARAMETER_LIST] == [1, 3, 6]


@pytest.mark.parametrize("data, why", [
    (b"\x01" * 100, "shorter"),
    (offer().encode()[:236] + b"\0\0\0\0" + b"\xff", "magic"),
    (offer().encode()[:240] + bytes([53, 10, 1]), "claims"),
    (offer().encode()[:240] + bytes([53]), "cut short"),
    (b"\x07" + offer().encode()[1:], "op 7"),
    (offer().encode()[:240] + bytes([3, 3, 1, 2, 3, 255]), "multiple of 4"),
])
def test_malformed_input_is_refused_with_a_reason(data, why):
    with pytest.raises(MalformedPacket, match=why):
        DhcpPacket.decode(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=600))
def test_random_bytes_never_raise_anything_else(data):
    try:
        DhcpPacket.decode(data)
    except MalformedPacket:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_random_options_after_a_valid_header(tail):
    try:
        DhcpPacket.decode(offer().encode()[:240] + tail)
    except MalformedPacket:
        pass


def test_ipv4_udp_frame_checksums_verify():
    pkt = ipv4_udp(IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255"), 68, 67, b"hello dhcp")
    assert checksum(pkt[:20]) == b"\0\0"  # a correct header sums to zero
    pseudo = pkt[12:20] + bytes([0, 17]) + pkt[24:26]
    assert checksum(pseudo + pkt[20:]) == b"\0\0"
    assert parse_ipv4_udp(pkt) == (IPv4Address("0.0.0.0"), IPv4Address("255.255.255.255"), 68, 67,
                                   b"hello dhcp")
    from scapy.layers.inet import IP, UDP

    again = IP(pkt)
    del again.chksum, again[UDP].chksum  # scapy computes both afresh
    rebuilt = IP(bytes(again))
    assert rebuilt.chksum == IP(pkt).chksum and rebuilt[UDP].chksum == IP(pkt)[UDP].chksum
