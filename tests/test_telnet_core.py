"""The Telnet core without sockets: the NVT parser (RFC 854/855), the Q method (RFC 1143), TERMINAL-TYPE
(RFC 1091) and NAWS (RFC 1073), the server's login dialogue, and the accounts file."""

from __future__ import annotations

import pytest

from scenarios.framework.describers.telnet import describe_command, pieces
from services.telnet.accounts import Accounts, AccountsError, hash_password
from services.telnet.codes import (
    AO,
    AYT,
    BRK,
    DM,
    DO,
    DONT,
    EC,
    ECHO,
    EL,
    GA,
    IAC,
    IP,
    NAWS,
    NOP,
    SB,
    SE,
    SGA,
    TTYPE,
    WILL,
    WONT,
)
from services.telnet.connection import TelnetConnection, TerminalType, Trace, WindowSize, escape
from services.telnet.options import EMPTY, NO, OPPOSITE, WANTNO, WANTYES, YES, Changed, OptionTable
from services.telnet.parser import Command, Data, Malformed, Negotiation, Subnegotiation, TelnetParser
from services.telnet.session import CheckPassword, Close, Delay, Resize, ServerSession, ShellInput, StartShell

I = bytes([IAC])  # noqa: E741


def feed(data: bytes) -> list:
    return TelnetParser().feed(data)


# -- the NVT parser

def test_iac_iac_is_one_data_byte_255():
    assert feed(b"a" + I + I + b"b") == [Data(b"a\xffb")]


def test_cr_nul_is_a_bare_carriage_return_and_cr_lf_stays():
    assert feed(b"x\r\x00y\r\nz") == [Data(b"x\ry\r\nz")]


def test_a_nul_not_after_cr_is_data():
    assert feed(b"a\x00b") == [Data(b"a\x00b")]


@pytest.mark.parametrize("code", [NOP, DM, BRK, IP, AO, AYT, EC, EL, GA])
def test_every_command_of_the_table_is_recognised(code):
    assert feed(b"ab" + bytes([IAC, code]) + b"cd") == [Data(b"ab"), Command(code), Data(b"cd")]


@pytest.mark.parametrize("verb", [WILL, WONT, DO, DONT])
def test_negotiations(verb):
    assert feed(bytes([IAC, verb, 24])) == [Negotiation(verb, 24)]


def test_subnegotiation_with_a_doubled_iac_inside():
    assert feed(bytes([IAC, SB, NAWS, 0, 255, 255, 0, 24, IAC, SE])) == [Subnegotiation(NAWS, b"\x00\xff\x00\x18")]


def test_a_stream_cut_anywhere_parses_the_same():
    stream = b"hi" + bytes([IAC, DO, 24, IAC, SB, 24, 1, IAC, SE, IAC, IAC, 13, 0, IAC, AYT]) + b"end"
    whole = feed(stream)
    p = TelnetParser()
    pieces = [ev for b in stream for ev in p.feed(bytes([b]))]
    assert _merge(pieces) == _merge(whole)


def _merge(events: list) -> list:
    out: list = []
    for ev in events:
        if isinstance(ev, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


def test_subnegotiation_without_se_is_bounded_and_dropped():
    p = TelnetParser(max_subnegotiation=16)
    events = p.feed(bytes([IAC, SB, TTYPE]) + b"A" * 10_000)
    assert [type(e) for e in events] == [Malformed] and p.buffered <= 16
    assert p.feed(bytes([IAC, SE]) + b"ok") == [Data(b"ok")]  # the oversized one is not delivered


def test_a_command_inside_a_subnegotiation_ends_it():
    events = feed(bytes([IAC, SB, TTYPE, 1, IAC, DO, ECHO]))
    assert isinstance(events[0], Malformed) and events[1:] == [Negotiation(DO, ECHO)]


def test_iac_se_outside_a_subnegotiation_is_reported_not_data():
    assert [type(e) for e in feed(bytes([IAC, SE]) + b"x")] == [Malformed, Data]


# -- RFC 1143: the Q method

def test_an_unknown_option_is_refused_both_ways():
    t = OptionTable()
    assert t.receive(WILL, 99) == ([(DONT, 99)], [])
    assert t.receive(DO, 99) == ([(WONT, 99)], [])
    assert t.receive(WONT, 99) == ([], []) and t.receive(DONT, 99) == ([], [])  # no answer: no loop


def test_an_agreed_option_is_acknowledged_once():
    t = OptionTable(remote={TTYPE})
    assert t.receive(WILL, TTYPE) == ([(DO, TTYPE)], [Changed(TTYPE, "him", True)])
    assert t.receive(WILL, TTYPE) == ([], [])  # already YES: silence
    assert t.receive(WONT, TTYPE) == ([(DONT, TTYPE)], [Changed(TTYPE, "him", False)])


def test_our_request_answered_is_not_answered_again():
    t = OptionTable(local={ECHO})
    assert t.ask_us(ECHO, True) == [(WILL, ECHO)] and t.us(ECHO).state == WANTYES
    assert t.receive(DO, ECHO) == ([], [Changed(ECHO, "us", True)]) and t.us(ECHO).state == YES


def test_our_request_refused():
    t = OptionTable(local={ECHO})
    t.ask_us(ECHO, True)
    assert t.receive(DONT, ECHO) == ([], []) and t.us(ECHO).state == NO


def test_change_of_mind_while_waiting_is_queued():
    t = OptionTable(remote={SGA})
    t.ask_him(SGA, True)
    assert t.ask_him(SGA, False) == [] and (t.him(SGA).state, t.him(SGA).queue) == (WANTYES, OPPOSITE)
    # the WILL arrives: the queued opposite goes out as DONT
    assert t.receive(WILL, SGA) == ([(DONT, SGA)], []) and t.him(SGA).state == WANTNO
    assert t.receive(WONT, SGA) == ([], [Changed(SGA, "him", False)]) and t.him(SGA).state == NO


def test_wantno_answered_by_will_counts_as_no():
    t = OptionTable(remote={SGA})
    t.receive(WILL, SGA)
    assert t.ask_him(SGA, False) == [(DONT, SGA)] and t.him(SGA).state == WANTNO
    assert t.receive(WILL, SGA) == ([], [Changed(SGA, "him", False)]) and t.him(SGA).state == NO


def test_wantno_opposite_then_wont_asks_again():
    t = OptionTable(remote={SGA})
    t.receive(WILL, SGA)
    t.ask_him(SGA, False)
    t.ask_him(SGA, True)
    assert t.him(SGA).queue == OPPOSITE
    assert t.receive(WONT, SGA) == ([(DO, SGA)], []) and (t.him(SGA).state, t.him(SGA).queue) == (WANTYES, EMPTY)


def pair(a: TelnetConnection, b: TelnetConnection, rounds: int = 20) -> int:
    """Shuttle bytes between two ends until both are quiet; returns the rounds it took."""
    for n in range(rounds):
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            return n
        b.receive(ab)
        a.receive(ba)
    raise AssertionError("the two ends are still negotiating: a loop")


def test_both_sides_asking_at_once_settle_without_a_loop():
    a = TelnetConnection(local={ECHO, SGA}, remote={SGA})
    b = TelnetConnection(local={SGA}, remote={ECHO, SGA})
    a.ask_us(ECHO), a.ask_us(SGA), a.ask_him(SGA), b.ask_us(SGA), b.ask_him(SGA), b.ask_him(ECHO)
    assert pair(a, b) <= 2
    assert a.options.enabled_us(ECHO) and b.options.enabled_him(ECHO)
    assert a.options.enabled_us(SGA) and a.options.enabled_him(SGA) and b.options.enabled_us(SGA)


# -- TERMINAL-TYPE (RFC 1091), as the course's example, and NAWS

def test_the_terminal_type_exchange_byte_for_byte():
    server = TelnetConnection(remote={TTYPE}, ask_terminal_type=True)
    client = TelnetConnection(local={TTYPE}, terminal_type="vt220")
    server.ask_him(TTYPE)
    assert server.data_to_send() == bytes([IAC, DO, 24])
    client.receive(bytes([IAC, DO, 24]))
    assert client.data_to_send() == bytes([IAC, WILL, 24])
    server.receive(bytes([IAC, WILL, 24]))
    assert server.data_to_send() == bytes([IAC, SB, 24, 1, IAC, SE])
    traces = client.receive(bytes([IAC, SB, 24, 1, IAC, SE]))
    assert client.data_to_send() == bytes([IAC, SB, 24, 0]) + b"VT220" + bytes([IAC, SE])
    assert [str(t) for t in traces] == ["RCVD SB TERMINAL-TYPE SEND", "SENT SB TERMINAL-TYPE IS 'VT220'"]
    assert TerminalType("VT220") in server.receive(bytes([IAC, SB, 24, 0]) + b"VT220" + bytes([IAC, SE]))


def test_terminal_type_is_ignored_before_the_option_is_agreed():
    server = TelnetConnection(remote={TTYPE}, ask_terminal_type=True)
    events = server.receive(bytes([IAC, SB, 24, 0]) + b"VT220" + bytes([IAC, SE]))
    assert not [e for e in events if isinstance(e, TerminalType)]


def test_naws_sends_the_size_with_a_255_doubled():
    client = TelnetConnection(local={NAWS}, window=(255, 24))
    client.receive(bytes([IAC, DO, NAWS]))
    assert client.data_to_send() == bytes([IAC, WILL, NAWS, IAC, SB, NAWS, 0, 255, 255, 0, 24, IAC, SE])
    server = TelnetConnection(remote={NAWS})
    server.ask_him(NAWS)
    server.receive(bytes([IAC, WILL, NAWS]))
    assert WindowSize(255, 24) in server.receive(bytes([IAC, SB, NAWS, 0, 255, 255, 0, 24, IAC, SE]))
    assert WindowSize(100, 40) in server.receive(bytes([IAC, SB, NAWS, 0, 100, 0, 40, IAC, SE]))


def test_every_negotiation_is_traced_with_its_direction():
    c = TelnetConnection(local={TTYPE})
    traces = [str(e) for e in c.receive(bytes([IAC, DO, TTYPE, IAC, DO, 77])) if isinstance(e, Trace)]
    assert traces == ["RCVD DO TERMINAL-TYPE", "SENT WILL TERMINAL-TYPE", "RCVD DO 77", "SENT WONT 77"]


def test_output_escaping():
    assert escape(b"a\xffb") == b"a\xff\xffb"
    assert escape(b"one\r\ntwo\rthree\r") == b"one\r\ntwo\r\x00three\r\x00"


# -- the server's login dialogue

ACCOUNTS = Accounts.parse(f"alice:{hash_password('wonderland', iterations=1000)}\n")


def acts(actions: list) -> list:
    return [a for a in actions if not isinstance(a, Trace)]


def logged_in(term: bool = True) -> tuple[ServerSession, list]:
    s = ServerSession("node1", fail_delay=0.5)
    s.start()
    s.data_to_send()
    if term:
        s.receive(bytes([IAC, WILL, TTYPE, IAC, WILL, NAWS, IAC, SB, NAWS, 0, 100, 0, 30, IAC, SE]))
        s.receive(bytes([IAC, SB, TTYPE, 0]) + b"VT220" + bytes([IAC, SE]))
    s.receive(b"alice\r\n")
    actions = s.receive(b"wonderland\r\n")
    assert actions == [CheckPassword("alice", "wonderland")]
    return s, s.password_checked(ACCOUNTS.verify("alice", "wonderland"))


def test_the_server_opens_with_its_offers_and_the_login_prompt():
    s = ServerSession("node1")
    s.start()
    out = s.data_to_send()
    assert out.startswith(bytes([IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, SGA, IAC, DO, TTYPE, IAC, DO, NAWS]))
    assert out.endswith(b"node1 login: ")


def test_login_starts_a_shell_with_the_negotiated_terminal():
    _, actions = logged_in()
    assert actions == [StartShell("alice", "VT220", (100, 30))]


def test_the_user_name_is_echoed_and_the_password_is_not():
    s = ServerSession("node1")
    s.start()
    s.receive(bytes([IAC, DO, ECHO]))
    s.data_to_send()
    s.receive(b"alice\r\n")
    assert s.data_to_send() == b"alice\r\nPassword: "
    s.receive(b"secret")
    assert s.data_to_send() == b""


def test_a_wrong_password_is_refused_after_a_delay_and_the_third_closes():
    s = ServerSession("node1", fail_delay=0.5)
    s.start()
    for attempt in range(3):
        s.receive(b"alice\r\n")
        (check,) = s.receive(b"nope\r\n")
        assert not ACCOUNTS.verify(check.user, check.password)
        actions = s.password_checked(False)
        assert b"Login incorrect" in s.data_to_send()
        if attempt < 2:
            assert actions == [Delay(0.5)]
            s.retry()
            assert s.data_to_send().endswith(b"login: ")
    assert actions == [Close("3 wrong passwords")]


def test_typeahead_after_the_password_reaches_the_shell():
    s = ServerSession("node1")
    s.start()
    s.receive(bytes([IAC, WONT, TTYPE]))
    s.receive(b"alice\r\n")
    assert s.receive(b"wonderland\r\necho hi\r\n") == [CheckPassword("alice", "wonderland")]
    assert s.password_checked(True) == [StartShell("alice", "network", None), ShellInput(b"echo hi\r")]


def test_in_the_shell_ip_ec_el_become_the_terminal_characters_and_lines_end_in_cr():
    s, _ = logged_in()
    assert acts(s.receive(bytes([IAC, IP]))) == [ShellInput(b"\x03")]
    assert acts(s.receive(bytes([IAC, BRK]))) == [ShellInput(b"\x03")]
    assert acts(s.receive(bytes([IAC, EC]))) == [ShellInput(b"\x7f")]
    assert acts(s.receive(bytes([IAC, EL]))) == [ShellInput(b"\x15")]
    assert s.receive(b"ls\r") + s.receive(b"\n") == [ShellInput(b"ls\r"), ShellInput(b"")]
    assert s.receive(b"ls\r\x00") == [ShellInput(b"ls\r")]


def test_are_you_there_is_answered_in_any_state():
    s = ServerSession("node1")
    s.start()
    s.data_to_send()
    s.receive(bytes([IAC, AYT]))
    assert s.data_to_send() == b"\r\n[node1: yes]\r\n"
    s, _ = logged_in()
    s.data_to_send()
    s.receive(bytes([IAC, AYT]))
    assert s.data_to_send() == b"\r\n[node1: yes]\r\n"


def test_abort_output_is_answered_with_a_data_mark():
    s, _ = logged_in()
    s.data_to_send()
    s.receive(bytes([IAC, AO]))
    assert s.data_to_send() == bytes([IAC, DM])


def test_a_window_change_in_the_shell_resizes():
    s, _ = logged_in()
    assert acts(s.receive(bytes([IAC, SB, NAWS, 0, 120, 0, 50, IAC, SE]))) == [Resize(120, 50)]


def test_the_shell_waits_for_a_terminal_type_promised_but_not_yet_sent():
    s = ServerSession("node1")
    s.start()
    s.receive(bytes([IAC, WILL, TTYPE]))
    s.receive(b"alice\r\n")
    s.receive(b"wonderland\r\n")
    assert s.password_checked(True) == []
    assert acts(s.receive(bytes([IAC, SB, TTYPE, 0]) + b"XTERM" + bytes([IAC, SE]))) == [StartShell("alice", "XTERM", None)]


def test_a_server_told_not_to_ask_refuses_the_terminal_type():
    s = ServerSession("node1", terminal_type=False)
    s.start()
    assert bytes([IAC, DO, TTYPE]) not in s.data_to_send()
    s.receive(bytes([IAC, WILL, TTYPE]))
    assert s.data_to_send() == bytes([IAC, DONT, TTYPE])
    s.receive(b"alice\r\nwonderland\r\n")
    assert s.password_checked(True) == [StartShell("alice", "network", None)]


def test_give_up_waiting_starts_the_shell_without_a_type():
    s = ServerSession("node1")
    s.start()
    s.receive(bytes([IAC, WILL, TTYPE]))
    s.receive(b"alice\r\nwonderland\r\n")
    s.password_checked(True)
    assert s.give_up_waiting() == [StartShell("alice", "network", None)]


# -- the scenarios' describer: each command a message, then lines and prompts

def test_the_describer_cuts_each_command_line_and_prompt():
    data = bytes([IAC, WILL, ECHO, IAC, SB, TTYPE, 1, IAC, SE]) + b"\r\nnode1 login: " + bytes([IAC, IAC]) + b"x\r\n"
    assert pieces(data) == [3, 9, 11, 24, 29]
    assert describe_command(data[:3]) == "IAC WILL 1 (ECHO)"
    assert describe_command(data[3:9]) == "IAC SB 24 1 IAC SE (TERMINAL-TYPE SEND)"
    assert describe_command(bytes([IAC, SB, TTYPE, 0]) + b"VT220" + bytes([IAC, SE])) == \
        "IAC SB 24 0 'VT220' IAC SE (TERMINAL-TYPE IS)"
    assert describe_command(bytes([IAC, AYT])) == "IAC AYT"


def test_the_describer_leaves_a_cut_command_or_line_incomplete():
    assert pieces(bytes([IAC, SB, TTYPE, 0]) + b"VT2") == []
    assert pieces(b"ls -l") == [] and pieces(bytes([IAC])) == []


# -- accounts

def test_accounts_verify():
    assert ACCOUNTS.verify("alice", "wonderland")
    assert not ACCOUNTS.verify("alice", "Wonderland") and not ACCOUNTS.verify("mallory", "wonderland")


@pytest.mark.parametrize("line,error", [
    ("Alice:x", "is not a user name"),
    ("alice:plaintext", "is not a $pbkdf2-sha256$ hash"),
    ("alice:$pbkdf2-sha256$abc$AAAA$AAAA", "damaged"),
])
def test_a_bad_accounts_file_names_its_line(line, error):
    with pytest.raises(AccountsError, match=r"accounts:2: .*" + error.replace("$", r"\$")):
        Accounts.parse("# lab accounts\n" + line + "\n", "accounts")
