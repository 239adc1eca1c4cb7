"""The stream layer on crafted packets: TCP reassembled whatever the segmentation, order, resends and
sequence wrap-around; connections told apart on one 4-tuple; UDP exchanges as datagram dialogues."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from scenarios.framework.frames import Frame
from scenarios.framework.stream import CLIENT, SERVER, End, tcp_connections, udp_exchanges

C, S = "10.0.1.11", "10.0.3.10"
CPORT, SPORT = 40312, 25
MOD = 2**32


def pkt(src: str, flags: str, seq: int, data: bytes = b"", ack: int = 0, sport: int = CPORT, dport: int = SPORT):
    if src == S:
        sport, dport = dport, sport
    p = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=S if src == C else C)
         / TCP(sport=sport, dport=dport, flags=flags, seq=seq % MOD, ack=ack % MOD))
    return Ether(bytes(p / Raw(data) if data else p))


def frames(*pkts, t0: float = 100.0, step: float = 0.01) -> list[Frame]:
    return [Frame("lan", i + 1, t0 + i * step, p) for i, p in enumerate(pkts)]


def handshake(cisn: int = 1000, sisn: int = 5000, **kw) -> list:
    return [pkt(C, "S", cisn, **kw), pkt(S, "SA", sisn, ack=cisn + 1, **kw), pkt(C, "A", cisn + 1, ack=sisn + 1, **kw)]


def teardown(cseq: int, sseq: int, **kw) -> list:
    return [pkt(C, "FA", cseq, ack=sseq, **kw), pkt(S, "FA", sseq, ack=cseq + 1, **kw),
            pkt(C, "A", cseq + 1, ack=sseq + 1, **kw)]


def test_a_whole_connection_is_a_two_way_dialogue_with_its_handshake_and_teardown():
    cmd, reply = b"MAIL FROM:<alice@crepes.fr>\r\n", b"250 OK\r\n"
    pkts = handshake() + [pkt(C, "PA", 1001, cmd, 5001), pkt(S, "PA", 5001, reply, 1001 + len(cmd))]
    pkts += teardown(1001 + len(cmd), 5001 + len(reply))
    [conn] = tcp_connections(frames(*pkts))
    assert (conn.client, conn.server) == (End(C, CPORT), End(S, SPORT))
    assert conn.handshake and conn.syn.number == 1 and conn.syn_ack.number == 2 and conn.established.number == 3
    assert conn.up.data == cmd and conn.down.data == reply
    assert conn.up.fin.number == 6 and conn.down.fin.number == 7 and conn.closed.number == 8
    assert conn.reset is None and conn.up.gaps == [] and [f.number for f in conn.up.frames_for(0, 4)] == [4]
    msgs = conn.messages()
    assert [(m.side, m.data) for m in msgs] == [(CLIENT, cmd), (SERVER, reply)]
    assert msgs[0].time == 100.03 and [f.number for f in msgs[1].frames] == [5]


def test_one_byte_segments_make_the_same_bytes_and_each_byte_has_its_frame():
    cmd = b"USER alice\r\n"
    pkts = handshake() + [pkt(C, "PA", 1001 + i, cmd[i:i + 1], 5001) for i in range(len(cmd))]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == cmd
    assert [s.data for s in conn.up.sends] == [bytes([b]) for b in cmd]
    assert [f.number for f in conn.up.frames_for(5, 7)] == [9, 10]  # bytes 5 and 6: the 6th and 7th data frames
    assert conn.up.sends[3].time == 100.0 + 6 * 0.01


def test_out_of_order_segments_land_in_place_and_the_bytes_are_ready_when_the_hole_fills():
    pkts = handshake() + [pkt(C, "PA", 1006, b"world", 5001), pkt(C, "PA", 1001, b"hello", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == b"helloworld"
    assert [s.frame.number for s in conn.up.sends] == [5, 4]
    assert conn.up.ready_at(9) == conn.up.ready_at(0) == 100.04  # byte 9 came first, but was readable only then


def test_a_resend_with_other_bytes_keeps_the_first_and_both_frames_carry_the_range():
    pkts = handshake() + [pkt(C, "PA", 1001, b"abcdef", 5001), pkt(C, "PA", 1004, b"XYZghi", 5001),
                          pkt(C, "PA", 1001, b"abcdef", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == b"abcdefghi"  # "XYZ" overlapped "def": the first bytes captured win
    assert [f.number for f in conn.up.frames_for(3, 6)] == [4, 5, 6]
    assert [f.number for f in conn.up.frames_for(6, 9)] == [5]


def test_an_overlap_that_covers_several_earlier_pieces_fills_only_their_gaps():
    pkts = handshake() + [pkt(C, "PA", 1002, b"B", 5001), pkt(C, "PA", 1004, b"D", 5001),
                          pkt(C, "PA", 1001, b"abcdef", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == b"aBcDef"
    assert [s.offset for s in conn.up.sends] == [0, 1, 2, 3, 4]


def test_a_hole_stops_the_bytes_delivered_and_is_reported():
    pkts = handshake() + [pkt(C, "PA", 1001, b"abc", 5001), pkt(C, "PA", 1010, b"later", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == b"abc" and conn.up.gaps == [(3, 9)]


def test_sequence_numbers_wrap_around():
    isn = MOD - 4  # the data's first byte is at MOD - 3; the sixth wraps to 2
    pkts = handshake(cisn=isn) + [pkt(C, "PA", isn + 1, b"abcdef", 5001), pkt(C, "PA", isn + 7, b"ghij", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.isn == isn and pkts[4][TCP].seq == 3  # the second segment's number did wrap
    assert conn.up.data == b"abcdefghij"
    teardown_pkts = teardown(isn + 11, 5001)
    [conn] = tcp_connections(frames(*(pkts + teardown_pkts)))
    assert conn.closed is not None and conn.closed.number == 8


def test_wrap_around_with_the_handshake_lost_and_segments_reordered():
    base = MOD - 2
    pkts = [pkt(C, "PA", base + 4, b"efgh", 5001), pkt(C, "PA", base, b"abcd", 5001)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.up.data == b"abcdefgh"


def test_a_connection_whose_handshake_was_not_captured_is_still_read():
    pkts = [pkt(S, "PA", 7000, b"220 mail.crepes.fr ESMTP\r\n", 1001), pkt(C, "PA", 1001, b"EHLO a\r\n", 7026)]
    [conn] = tcp_connections(frames(*pkts))
    assert not conn.handshake and conn.syn is None
    assert conn.client == End(C, CPORT)  # the higher, ephemeral port is the client's
    assert conn.down.data.startswith(b"220") and conn.up.data == b"EHLO a\r\n"


def test_a_lost_syn_leaves_the_syn_ack_to_say_who_is_the_client():
    # the server here listens on a port above the client's: only the SYN-ACK can tell them apart
    pkts = [pkt(S, "SA", 5000, ack=1001, sport=60000, dport=50000), pkt(C, "A", 1001, ack=5001, sport=60000,
                                                                       dport=50000)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.client == End(C, 60000) and conn.server == End(S, 50000)
    assert conn.syn is None and conn.established is not None and not conn.handshake


def test_a_reset_closes_the_connection_and_says_who_sent_it():
    pkts = handshake() + [pkt(C, "PA", 1001, b"GET / HTTP/1.1\r\n\r\n", 5001), pkt(S, "RA", 5001, ack=1019)]
    [conn] = tcp_connections(frames(*pkts))
    assert conn.reset.number == 5 and conn.reset_by == SERVER and conn.closed.number == 5


def test_a_retransmitted_syn_is_the_same_connection():
    pkts = [pkt(C, "S", 1000)] + handshake()
    assert len(tcp_connections(frames(*pkts))) == 1


def test_connections_one_after_another_on_one_4_tuple_are_told_apart():
    first = handshake(1000, 5000) + [pkt(C, "PA", 1001, b"one", 5001)] + teardown(1004, 5001)
    second = handshake(90000, 70000) + [pkt(C, "PA", 90001, b"two", 70001)]
    aborted = [pkt(C, "R", 90004)]
    third = handshake(123456, 8000) + [pkt(C, "PA", 123457, b"three", 8001)]
    conns = tcp_connections(frames(*(first + second + aborted + third)))
    assert [c.up.data for c in conns] == [b"one", b"two", b"three"]
    assert [c.handshake for c in conns] == [True, True, True]
    assert conns[1].reset_by == CLIENT and conns[2].reset is None
    # a new SYN with a new ISN begins a new connection even when the old one never closed
    unclosed = handshake(1000, 5000) + [pkt(C, "PA", 1001, b"old", 5001)] + handshake(2000, 6000)
    assert len(tcp_connections(frames(*unclosed))) == 2


def test_segments_of_other_connections_do_not_mix():
    a = handshake(sport=40001) + [pkt(C, "PA", 1001, b"aaa", 5001, sport=40001)]
    b = handshake(sport=40002) + [pkt(C, "PA", 1001, b"bbb", 5001, sport=40002)]
    mixed = [p for pair in zip(a, b, strict=True) for p in pair]
    conns = tcp_connections(frames(*mixed))
    assert [(c.client.port, c.up.data) for c in conns] == [(40001, b"aaa"), (40002, b"bbb")]


def test_without_a_describer_a_message_is_a_turn_of_talk():
    pkts = handshake() + [pkt(C, "PA", 1001, b"hello ", 5001), pkt(C, "PA", 1007, b"over tcp", 5001),
                          pkt(S, "PA", 5001, b"HELLO OVER TCP", 1015)]
    [conn] = tcp_connections(frames(*pkts))
    msgs = conn.messages()
    assert [(m.side, m.data) for m in msgs] == [(CLIENT, b"hello over tcp"), (SERVER, b"HELLO OVER TCP")]
    assert [f.number for f in msgs[0].frames] == [4, 5]


def test_udp_datagrams_between_two_ends_are_one_exchange_opened_by_the_first_speaker():
    def dgram(src: str, data: bytes, sport: int = 41000, dport: int = 12000):
        if src == S:
            sport, dport = dport, sport
        return Ether(bytes(Ether() / IP(src=src, dst=S if src == C else C) / UDP(sport=sport, dport=dport) / Raw(data)))

    fs = frames(dgram(C, b"hello over udp"), dgram(S, b"HELLO OVER UDP"), dgram(C, b"other", sport=41001))
    first, other = udp_exchanges(fs)
    assert (first.client, first.server) == (End(C, 41000), End(S, 12000))
    assert [(m.side, m.data) for m in first.messages()] == [(CLIENT, b"hello over udp"), (SERVER, b"HELLO OVER UDP")]
    assert other.client == End(C, 41001) and len(other.datagrams) == 1


@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), cuts=st.lists(st.integers(1, 299), max_size=30),
       isn=st.integers(0, MOD - 1), seed=st.integers(0, 2**16), resends=st.integers(0, 5))
def test_any_segmentation_order_and_resends_give_back_the_bytes_sent(data, cuts, isn, seed, resends):
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    segs = [pkt(C, "PA", isn + 1 + a, data[a:b], 5001) for a, b in zip(bounds, bounds[1:], strict=False)]
    rng = random.Random(seed)
    segs += [rng.choice(segs) for _ in range(resends)]
    rng.shuffle(segs)
    [conn] = tcp_connections(frames(*handshake(cisn=isn), *segs))
    assert conn.up.data == data and conn.up.gaps == []
    assert conn.messages()[0].data == data


segments = st.lists(st.tuples(st.sampled_from([C, S]), st.sampled_from(["S", "SA", "A", "PA", "FA", "R", "RA"]),
                              st.integers(0, MOD - 1), st.binary(max_size=40), st.sampled_from([CPORT, CPORT + 1])),
                    max_size=25)


@settings(max_examples=200, deadline=None)
@given(segs=segments)
def test_any_mix_of_flags_numbers_and_ports_reads_without_error_and_keeps_every_frame(segs):
    fs = frames(*[pkt(src, flags, seq, data, sport=port) for src, flags, seq, data, port in segs])
    conns = tcp_connections(fs)
    assert sorted(f.number for c in conns for f in c.frames) == [f.number for f in fs]  # each frame in one connection
    for c in conns:
        for flow in (c.up, c.down):
            assert sum(len(s.data) for s in flow.sends) == len(flow.data)
            assert all(a < b for (a, _), (b, _) in zip(flow.gaps, flow.gaps[1:], strict=False))
        msgs = c.messages()
        assert b"".join(m.data for m in msgs if m.side == CLIENT) == c.up.data
        assert b"".join(m.data for m in msgs if m.side == SERVER) == c.down.data
