"""Hostile bytes on the control channel: the parsers and the session may not raise, loop or grow without
bound, every reply they send is a well-formed RFC 959 reply, and no command touches a file outside the
user's home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ftp.accounts import load_accounts
from services.ftp.client import FtpError, ReplyReader
from services.ftp.commands import (
    MAX_LINE,
    CommandError,
    LineSplitter,
    Reply,
    parse_command,
    parse_eprt,
    parse_epsv_reply,
    parse_pasv_reply,
    parse_port,
)
from services.ftp.datachannel import CrlfDecoder
from services.ftp.session import Limits, OpenPassive, Session, Transfer

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {110, 120, 125, 150, 200, 202, 211, 212, 213, 214, 215, 220, 221, 225, 226, 227, 229, 230, 250, 257, 331,
         332, 350, 421, 425, 426, 450, 451, 452, 500, 501, 502, 503, 504, 522, 530, 532, 550, 551, 552, 553}

BASE = Path(tempfile.mkdtemp(prefix="wirelab-ftp-fuzz-"))
(BASE / "ftp.yaml").write_text("anonymous: {home: pub}\nusers:\n  alice: {password: pw, home: alice}\n")
ACCOUNTS = load_accounts(BASE / "ftp.yaml", BASE / "root")
(BASE / "root" / "alice" / "a.txt").write_text("a\n")
(BASE / "keep.txt").write_text("outside the jail\n")

VERBS = ["USER", "PASS", "CWD", "CDUP", "PWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "LIST", "NLST", "MLSD", "MLST",
         "SIZE", "MDTM", "STAT", "SYST", "FEAT", "OPTS", "NOOP", "HELP", "SITE", "RETR", "STOR", "STOU", "APPE",
         "REST", "ABOR", "TYPE", "MODE", "STRU", "PORT", "EPRT", "PASV", "EPSV", "REIN", "ACCT", "ALLO", "XPWD"]
ARGS = st.one_of(st.sampled_from(["", "..", "../..", "/", "a.txt", "../keep.txt", "../../keep.txt", "x/../../y",
                                  "alice", "pw", "A", "I", "ALL", "1", "|1|10.0.1.11|2000|", "10,0,1,11,7,208",
                                  "-la", "new", "MLST size;", "UTF8 ON"]),
                 st.text(max_size=40))
LINES = st.lists(st.tuples(st.sampled_from(VERBS), ARGS), max_size=30).map(
    lambda cmds: b"".join(f"{v} {a}".encode("utf-8", "surrogateescape") + b"\r\n" for v, a in cmds))


def check_replies(events: list) -> None:
    for e in events:
        if isinstance(e, Reply):
            assert e.code in CODES
            wire = e.encode()
            lines = wire.split(b"\r\n")
            assert lines.pop() == b"" and all(b"\r" not in ln and b"\n" not in ln for ln in lines)
            assert lines[-1].startswith(f"{e.code} ".encode())  # the last line ends the reply (RFC 959 4.2)
            assert len(lines) == 1 or lines[0].startswith(f"{e.code}-".encode())


def drive(data: bytes, chunks: list[int]) -> None:
    s = Session(ACCOUNTS, "10.0.1.11", "10.0.3.21", Limits(login_failures=1000, failure_delay=0))
    check_replies(s.start())
    check_replies(s.receive(b"USER alice\r\nPASS pw\r\n"))
    pos = 0
    for size in [*chunks, len(data)]:
        events = s.receive(data[pos:pos + size])
        pos += size
        check_replies(events)
        for e in events:  # the shell's side, so the session goes on past data commands
            if isinstance(e, OpenPassive):
                check_replies(s.passive_listening(50000))
            elif isinstance(e, Transfer):
                assert e.path is None or str(e.path).startswith(str(BASE / "root" / "alice"))
                check_replies(s.transfer_done(e.kind))
        assert len(s._lines._buf) <= MAX_LINE + size


@FAST
@given(st.binary(max_size=400))
def test_parse_command_raises_only_command_error(data):
    try:
        cmd = parse_command(data)
    except CommandError:
        return
    assert cmd.verb.isalpha() and cmd.verb.isupper() and len(cmd.verb) <= 4


@FAST
@given(st.text(max_size=80))
def test_address_parsers_raise_only_command_error(text):
    for parse in (parse_port, parse_eprt, parse_pasv_reply, parse_epsv_reply):
        try:
            parse(text)
        except CommandError:
            pass


@FAST
@given(st.lists(st.binary(max_size=3000), max_size=10))
def test_line_splitter_memory_is_bounded(chunks):
    ls = LineSplitter()
    for c in chunks:
        for line in ls.feed(c):
            assert line is None or len(line) <= MAX_LINE
        assert len(ls._buf) <= MAX_LINE + len(c)


@FAST
@given(st.binary(max_size=2000))
def test_reply_reader_raises_only_ftp_error(data):
    try:
        ReplyReader().feed(data)
    except FtpError:
        pass


@FAST
@given(st.binary(max_size=600), st.lists(st.integers(1, 50), max_size=10))
def test_session_survives_any_bytes(data, chunks):
    drive(data, chunks)


@FAST
@given(LINES, st.lists(st.integers(1, 80), max_size=10))
def test_session_survives_command_sequences_and_stays_in_the_jail(data, chunks):
    drive(data, chunks)
    assert (BASE / "keep.txt").read_text() == "outside the jail\n"
    assert sorted(os.listdir(BASE)) == ["ftp.yaml", "keep.txt", "root"]
    assert sorted(os.listdir(BASE / "root")) == ["alice", "pub"]


@FAST
@given(st.binary(max_size=300), st.lists(st.integers(1, 20), max_size=20))
def test_type_a_round_trip_whatever_the_chunks(data, cuts):
    """What RETR sends in TYPE A (each LF as CRLF), STOR stores back as it was, however TCP cut it."""
    wire = data.replace(b"\n", b"\r\n")
    decoder, out, pos = CrlfDecoder(), [], 0
    for size in [*cuts, len(wire)]:
        out.append(decoder.feed(wire[pos:pos + size]))
        pos += size
    out.append(decoder.end())
    assert b"".join(out) == data
