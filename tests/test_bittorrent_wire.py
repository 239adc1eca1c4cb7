"""The peer wire codec: every BEP 3 message both ways, stream splitting, refusals, fuzzing."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bittorrent import wire
from services.bittorrent.wire import Message, WireError, WireParser

IH, PID = bytes(range(20)), b"-WL0001-abcdefabcdef"


def test_handshake_round_trip():
    raw = wire.Handshake(IH, PID).encode()
    assert len(raw) == 68 and raw[:20] == b"\x13BitTorrent protocol"
    assert wire.parse_handshake(raw) == wire.Handshake(IH, PID)


def test_other_protocol_handshake_is_refused():
    with pytest.raises(WireError):
        wire.parse_handshake(b"\x13BitTorrent protocoX" + bytes(48))


@pytest.mark.parametrize("raw, msg", [
    (wire.KEEP_ALIVE, Message(None)),
    (wire.simple(wire.CHOKE), Message(wire.CHOKE)),
    (wire.simple(wire.UNCHOKE), Message(wire.UNCHOKE)),
    (wire.simple(wire.INTERESTED), Message(wire.INTERESTED)),
    (wire.simple(wire.NOT_INTERESTED), Message(wire.NOT_INTERESTED)),
    (wire.have(7), Message(wire.HAVE, index=7)),
    (wire.bitfield(b"\xf0"), Message(wire.BITFIELD, data=b"\xf0")),
    (wire.request(1, 16384, 16384), Message(wire.REQUEST, 1, 16384, 16384)),
    (wire.cancel(1, 0, 16384), Message(wire.CANCEL, 1, 0, 16384)),
    (wire.piece_header(2, 0, 3) + b"abc", Message(wire.PIECE, 2, 0, 3, b"abc")),
    (b"\0\0\0\x03\x09\x1a\xe1", Message(wire.PORT, index=6881)),
])
def test_messages(raw, msg):
    assert WireParser().feed(raw) == [msg]


def test_messages_split_anywhere_come_out_whole():
    stream = wire.simple(wire.UNCHOKE) + wire.have(3) + wire.piece_header(0, 0, 5) + b"hello"
    for cut in range(len(stream)):
        p = WireParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == [
            Message(wire.UNCHOKE), Message(wire.HAVE, index=3), Message(wire.PIECE, 0, 0, 5, b"hello")]


def test_4gb_length_prefix_is_refused_at_once():
    p = WireParser()
    with pytest.raises(WireError, match="exceeds"):
        p.feed(struct.pack(">I", 0xFFFFFFFF) + b"\x07")
    assert len(p.buf) <= 5  # nothing was reserved for the announced size


@pytest.mark.parametrize("raw", [b"\0\0\0\x02\x00\x00", b"\0\0\0\x04\x04\0\0\0", b"\0\0\0\x05\x07\0\0\0\0"])
def test_wrong_sizes_are_refused(raw):
    with pytest.raises(WireError):
        WireParser().feed(raw)


def test_bitfield_limit_grows_with_the_torrent():
    assert wire.max_length_for(10) == wire.MAX_BLOCK + 13
    assert wire.max_length_for(8 * 10**6) == 10**6 + 1


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_parser_never_crashes_and_stays_bounded(chunks):
    p = WireParser(max_length=1024)
    try:
        for c in chunks:
            p.feed(c)
    except WireError:
        return
    assert len(p.buf) <= 1024 + 4
