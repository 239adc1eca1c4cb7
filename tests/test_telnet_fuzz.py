"""Hostile bytes for the Telnet core: IAC sequences cut anywhere, subnegotiations never closed, floods of
negotiations. No exception, no loop, memory bounded, and never more answer than question."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_telnet_core import _merge

from scenarios.framework.describers.telnet import pieces
from services.telnet.codes import DO, DONT, ECHO, IAC, NAWS, SB, SE, SGA, TTYPE, VERBS, WILL, WONT
from services.telnet.connection import TelnetConnection
from services.telnet.parser import MAX_SUBNEGOTIATION, TelnetParser
from services.telnet.session import ServerSession

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# bytes rich in protocol: IAC, the verbs, SB/SE, the options we know, CR and NUL
telnetish = st.lists(st.one_of(st.sampled_from([IAC, SB, SE, *VERBS, ECHO, SGA, TTYPE, NAWS, 0, 1, 13, 10, 240]),
                               st.integers(0, 255)), max_size=400).map(bytes)


@FAST
@given(telnetish, st.lists(st.integers(0, 400), max_size=10))
def test_cut_anywhere_the_parser_gives_the_same_events(data, cuts):
    whole = TelnetParser().feed(data)
    p = TelnetParser()
    pieces, last = [], 0
    for cut in sorted(set(c for c in cuts if c <= len(data))) + [len(data)]:
        pieces += p.feed(data[last:cut])
        last = cut
    assert _merge(pieces) == _merge(whole)


@FAST
@given(telnetish)
def test_the_parser_holds_no_more_than_one_subnegotiation(data):
    p = TelnetParser()
    p.feed(data)
    assert p.buffered <= MAX_SUBNEGOTIATION


def test_a_subnegotiation_never_closed_stays_bounded():
    p = TelnetParser()
    p.feed(bytes([IAC, SB, TTYPE]))
    for _ in range(200):
        p.feed(b"\x00" * 5000)
        assert p.buffered <= MAX_SUBNEGOTIATION


@FAST
@given(telnetish)
def test_a_connection_never_answers_more_than_it_is_told(data):
    for conn in (TelnetConnection(local={ECHO, SGA}, remote={TTYPE, NAWS, SGA}, ask_terminal_type=True),
                 TelnetConnection(local={TTYPE, NAWS, SGA}, remote={ECHO, SGA}, terminal_type="vt220",
                                  window=(80, 24))):
        conn.receive(data)
        # each command answered at most once, plus one terminal type or window size per subnegotiation
        assert len(conn.data_to_send()) <= 3 * len(data) + 2 * 50


@FAST
@given(telnetish, telnetish)
def test_the_server_session_survives_anything_before_and_after_login(before, after):
    s = ServerSession("node1", fail_delay=0)
    s.start()
    s.receive(before)
    s.receive(b"\r\nalice\r\nwonderland\r\n")
    s.password_checked(True)
    s.give_up_waiting()
    s.receive(after)
    assert len(s.data_to_send()) < 4096 + 4 * (len(before) + len(after))


def test_a_flood_of_contradicting_negotiations_gets_one_answer_per_change_at_most():
    conn = TelnetConnection(local={ECHO}, remote={SGA})
    flood = bytes([IAC, DO, ECHO, IAC, DONT, ECHO, IAC, WILL, SGA, IAC, WONT, SGA, IAC, DO, 200, IAC, WILL, 201]) * 20_000
    conn.receive(flood)
    out = conn.data_to_send()
    assert len(out) <= len(flood)
    assert conn.parser.buffered == 0


@FAST
@given(st.lists(st.tuples(st.booleans(), st.sampled_from([ECHO, SGA, TTYPE, NAWS, 99]), st.booleans(),
                          st.booleans()), max_size=30))
def test_two_ends_asking_anything_in_any_order_always_settle(requests):
    a = TelnetConnection(local={ECHO, SGA}, remote={TTYPE, NAWS, SGA}, ask_terminal_type=True)
    b = TelnetConnection(local={TTYPE, NAWS, SGA}, remote={ECHO, SGA}, terminal_type="xterm", window=(80, 24))
    for who_a, option, us, enable in requests:
        end = a if who_a else b
        (end.ask_us if us else end.ask_him)(option, enable)
        if who_a == enable:  # some requests cross on the wire, some are answered in between
            b.receive(a.data_to_send())
            a.receive(b.data_to_send())
    for _ in range(10):
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            break
        b.receive(ab)
        a.receive(ba)
    else:
        raise AssertionError("still negotiating after 10 rounds")
    for option in (ECHO, SGA, TTYPE, NAWS, 99):  # and both ends agree on what is in force
        assert a.options.enabled_us(option) == b.options.enabled_him(option)
        assert a.options.enabled_him(option) == b.options.enabled_us(option)


@FAST
@given(telnetish)
def test_the_describer_cuts_any_bytes_into_increasing_pieces(data):
    ends = pieces(data)
    assert ends == sorted(set(ends)) and all(0 < e <= len(data) for e in ends)
