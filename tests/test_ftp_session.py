"""The FTP control channel core without sockets: the replies RFC 959, 2428, 3659 and 2389 give, the jail,
the bounce protection and the failed-login limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.ftp.accounts import Accounts, load_accounts
from services.ftp.commands import (
    CommandError,
    LineSplitter,
    Reply,
    parse_command,
    parse_eprt,
    parse_epsv_reply,
    parse_pasv_reply,
    parse_port,
    strip_telnet,
)
from services.ftp.session import Abort, Close, ClosePassive, Limits, OpenPassive, Pause, Session, Transfer

PEER, LOCAL = "10.0.1.11", "10.0.3.21"


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    (tmp_path / "ftp.yaml").write_text(
        "anonymous: {home: pub}\nusers:\n  alice: {password: secret, home: alice}\n")
    acc = load_accounts(tmp_path / "ftp.yaml", tmp_path / "root")
    (tmp_path / "root" / "pub" / "readme.txt").write_text("line1\nline2\n")
    (tmp_path / "root" / "alice" / "docs").mkdir()
    (tmp_path / "root" / "alice" / "notes.txt").write_bytes(b"0123456789")
    (tmp_path / "outside.txt").write_text("not yours")
    return acc


def session(accounts: Accounts, login: str | None = "alice", **kw) -> Session:
    s = Session(accounts, PEER, LOCAL, clock=lambda: 1_700_000_000.0, **kw)
    s.start()
    if login == "alice":
        assert codes(s, "USER alice", "PASS secret") == [331, 230]
    elif login == "anonymous":
        assert codes(s, "USER anonymous", "PASS me@poly.edu") == [331, 230]
    return s


def send(s: Session, *lines: str) -> list:
    return s.receive("".join(f"{ln}\r\n" for ln in lines).encode())


def codes(s: Session, *lines: str) -> list[int]:
    return [e.code for e in send(s, *lines) if isinstance(e, Reply)]


def reply(s: Session, line: str) -> Reply:
    replies = [e for e in send(s, line) if isinstance(e, Reply)]
    assert len(replies) == 1, replies
    return replies[0]


# --- wire format ------------------------------------------------------------------------------------------
def test_reply_single_line():
    assert Reply.of(200, "NOOP ok.").encode() == b"200 NOOP ok.\r\n"


def test_reply_multi_line_rfc959_4_2():
    assert Reply(211, ("Features:", "EPSV", "End")).encode() == b"211-Features:\r\n EPSV\r\n211 End\r\n"


def test_reply_cannot_carry_a_forged_line():
    assert Reply.of(550, "a\r\n230 yes").encode() == b"550 a 230 yes\r\n"


def test_commands_are_case_insensitive_and_keep_spaces_in_names():
    assert parse_command(b"retr my file.txt") == parse_command(b"RETR my file.txt")
    assert parse_command(b"RETR my file.txt").arg == "my file.txt"


def test_telnet_ip_and_synch_before_abor_are_dropped():
    assert strip_telnet(b"\xff\xf4\xff\xf2ABOR") == b"ABOR"
    assert parse_command(b"\xff\xf4\xff\xf2ABOR").verb == "ABOR"


def test_line_splitter_takes_crlf_and_bare_lf_across_chunks():
    ls = LineSplitter()
    assert ls.feed(b"NO") == []
    assert ls.feed(b"OP\r\nSYST\nPW") == [b"NOOP", b"SYST"]


def test_line_splitter_skips_an_overlong_line_once():
    ls = LineSplitter()
    assert ls.feed(b"A" * 5000) == [None]
    assert ls.feed(b"B" * 5000) == []
    assert ls.feed(b"C\r\nNOOP\r\n") == [b"NOOP"]


def test_port_argument_rfc959():
    assert parse_port("10,0,1,11,4,1") == ("10.0.1.11", 1025)


@pytest.mark.parametrize("arg", ["10,0,1,11,4", "10,0,1,300,4,1", "a,b,c,d,e,f"])
def test_bad_port_arguments(arg):
    with pytest.raises(CommandError):
        parse_port(arg)


def test_eprt_rfc2428_examples():
    assert parse_eprt("|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert parse_eprt("|2|1080::8:800:200C:417A|5282|") == ("1080::8:800:200c:417a", 5282)


def test_client_side_parses_227_and_229():
    assert parse_pasv_reply("Entering Passive Mode (10,0,3,21,195,80).") == ("10.0.3.21", 50000)
    assert parse_epsv_reply("Entering Extended Passive Mode (|||6446|)") == 6446


# --- access control ---------------------------------------------------------------------------------------
def test_greeting_is_220(accounts):
    assert Session(accounts, PEER, LOCAL).start()[0].code == 220


def test_login_user_pass(accounts):
    s = session(accounts, None)
    assert codes(s, "USER alice") == [331]
    assert codes(s, "PASS secret") == [230]


def test_commands_before_login_get_530(accounts):
    s = session(accounts, None)
    assert codes(s, "PWD", "RETR x", "PASV") == [530, 530, 530]


def test_pass_without_user_is_503(accounts):
    assert codes(session(accounts, None), "PASS x") == [503]


def test_failed_login_is_delayed_then_530(accounts):
    s = session(accounts, None, limits=Limits(login_failures=3, failure_delay=2.5))
    events = send(s, "USER alice", "PASS wrong")
    assert events[1] == Pause(2.5) and events[2].code == 530


def test_unknown_user_answers_like_a_wrong_password(accounts):
    s = session(accounts, None)
    assert codes(s, "USER mallory", "PASS x") == [331, 530]


def test_failed_logins_are_limited_then_421_and_close(accounts):
    s = session(accounts, None, limits=Limits(login_failures=2, failure_delay=0))
    assert codes(s, "USER alice", "PASS a") == [331, 530]
    events = send(s, "USER alice", "PASS b", "NOOP")
    assert [e.code for e in events if isinstance(e, Reply)] == [331, 421]
    assert isinstance(events[-1], Close)


def test_anonymous_login_and_refusal(accounts, tmp_path):
    assert codes(session(accounts, None), "USER anonymous", "PASS guest@") == [331, 230]
    (tmp_path / "n.yaml").write_text("users: {}\n")
    s = session(load_accounts(tmp_path / "n.yaml", tmp_path / "r2"), None)
    assert codes(s, "USER anonymous") == [530]


def test_acct_rein_quit(accounts):
    s = session(accounts)
    assert codes(s, "ACCT x") == [202]
    assert codes(s, "REIN") == [220]
    assert codes(s, "PWD") == [530]
    events = send(s, "QUIT")
    assert events[0].code == 221 and isinstance(events[1], Close)


# --- information and parameters ---------------------------------------------------------------------------
def test_syst_noop_help(accounts):
    s = session(accounts)
    assert reply(s, "SYST").encode() == b"215 UNIX Type: L8\r\n"
    assert codes(s, "NOOP", "HELP") == [200, 214]


def test_feat_rfc2389_lists_the_extensions(accounts):
    r = reply(session(accounts, None), "FEAT")
    assert r.code == 211 and {"EPSV", "EPRT", "SIZE", "MDTM", "REST STREAM", "UTF8", "TVFS"} <= set(r.lines)
    assert any(ln.startswith("MLST type*;size*;modify*;perm*;") for ln in r.lines)


def test_opts_utf8_and_mlst(accounts):
    s = session(accounts)
    assert codes(s, "OPTS UTF8 ON") == [200]
    assert reply(s, "OPTS MLST size;type;").lines == ("MLST OPTS type;size;",)
    assert codes(s, "OPTS BOGUS") == [501]


def test_type_mode_stru(accounts):
    s = session(accounts)
    assert codes(s, "TYPE A", "TYPE I", "TYPE L 8", "TYPE E", "TYPE X") == [200, 200, 200, 504, 501]
    assert codes(s, "MODE S", "MODE B", "MODE Z", "STRU F", "STRU R") == [200, 504, 501, 200, 504]


def test_unknown_not_implemented_and_missing_argument(accounts):
    s = session(accounts)
    assert codes(s, "XYZZY", "AUTH TLS", "RETR", "LPRT 1") == [500, 502, 501, 502]


def test_line_too_long_is_500(accounts):
    s = session(accounts)
    assert [e.code for e in s.receive(b"A" * 5000 + b"\r\nNOOP\r\n")] == [500, 200]


# --- navigation and the jail ------------------------------------------------------------------------------
def test_pwd_cwd_cdup(accounts):
    s = session(accounts)
    assert reply(s, "PWD").lines == ('"/" is the current directory.',)
    assert codes(s, "CWD docs") == [250]
    assert reply(s, "PWD").lines == ('"/docs" is the current directory.',)
    assert codes(s, "CDUP") == [200]
    assert codes(s, "CWD nowhere") == [550]


def test_dotdot_stops_at_the_home(accounts):
    s = session(accounts)
    assert codes(s, "CWD ../../..") == [250]
    assert reply(s, "PWD").lines == ('"/" is the current directory.',)
    assert codes(s, "SIZE ../outside.txt", "SIZE ../../outside.txt") == [550, 550]


def test_a_link_out_of_the_home_leads_nowhere(accounts, tmp_path):
    os.symlink(tmp_path / "outside.txt", tmp_path / "root" / "alice" / "escape.txt")
    os.symlink(tmp_path, tmp_path / "root" / "alice" / "up")
    s = session(accounts)
    assert codes(s, "SIZE escape.txt", "CWD up", "SIZE up/outside.txt", "PORT 10,0,1,11,200,10",
                 "RETR escape.txt") == [550, 550, 550, 200, 550]
    assert codes(s, "PORT 10,0,1,11,200,10", "STOR up/planted.txt", "MKD up/d", "DELE up/outside.txt",
                 "RNFR notes.txt", "RNTO up/stolen.txt") == [200, 553, 550, 550, 350, 550]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ftp.yaml", "outside.txt", "root"]
    assert (tmp_path / "root" / "alice" / "notes.txt").exists()


def test_mkd_rmd_dele_rename(accounts, tmp_path):
    s = session(accounts)
    assert reply(s, "MKD new dir").encode() == b'257 "/new dir" created.\r\n'
    assert codes(s, "RMD new dir") == [250]
    assert codes(s, "RNFR notes.txt", "RNTO renamed.txt") == [350, 250]
    assert (tmp_path / "root" / "alice" / "renamed.txt").exists()
    assert codes(s, "RNTO x") == [503]
    assert codes(s, "DELE renamed.txt", "DELE renamed.txt") == [250, 550]


def test_rnfr_must_be_followed_by_rnto(accounts):
    s = session(accounts)
    assert codes(s, "RNFR notes.txt", "NOOP", "RNTO x") == [350, 200, 503]


def test_anonymous_is_read_only(accounts):
    s = session(accounts, "anonymous")
    assert codes(s, "MKD x", "DELE readme.txt", "RNFR readme.txt", "STOR x", "APPE x") == [550] * 5


def test_size_and_mdtm_rfc3659(accounts, tmp_path):
    s = session(accounts)
    assert reply(s, "SIZE notes.txt").encode() == b"213 10\r\n"
    os.utime(tmp_path / "root" / "alice" / "notes.txt", (0, 1_000_000_000))
    assert reply(s, "MDTM notes.txt").encode() == b"213 20010909014640\r\n"
    assert codes(s, "SIZE docs") == [550]


def test_size_in_ascii_counts_the_crs_added(accounts):
    s = session(accounts, "anonymous")
    assert codes(s, "TYPE A") == [200]
    assert reply(s, "SIZE readme.txt").lines == ("14",)


def test_mlst_rfc3659_7(accounts):
    r = reply(session(accounts), "MLST notes.txt")
    assert r.code == 250 and r.lines[0] == "Listing /notes.txt" and r.lines[-1] == "End."
    facts, name = r.lines[1].split(" ", 1)
    assert name == "/notes.txt" and "type=file;" in facts and "size=10;" in facts and "perm=radfw;" in facts


def test_stat_with_a_path_lists_over_the_control_connection(accounts):
    r = reply(session(accounts), "STAT /")
    assert r.code == 213 and any(ln.endswith(" notes.txt") for ln in r.lines)


# --- data connections -------------------------------------------------------------------------------------
def test_port_to_the_client_is_200(accounts):
    s = session(accounts)
    assert codes(s, "PORT 10,0,1,11,200,10") == [200]


def test_port_to_another_host_is_refused_no_bounce(accounts):
    assert codes(session(accounts), "PORT 10,0,5,80,0,25", "EPRT |1|10.0.5.80|2525|") == [504, 504]


def test_port_to_a_privileged_port_is_refused(accounts):
    assert codes(session(accounts), "PORT 10,0,1,11,0,25") == [504]


def test_eprt_unknown_protocol_is_522(accounts):
    assert codes(session(accounts), "EPRT |3|x|1|") == [522]


def test_pasv_asks_for_a_listener_then_227(accounts):
    s = session(accounts)
    events = send(s, "PASV", "NOOP")
    assert events == [ClosePassive(), OpenPassive(False)]  # NOOP waits for the listener
    events = s.passive_listening(50000)
    assert events[0].encode() == b"227 Entering Passive Mode (10,0,3,21,195,80).\r\n"
    assert events[1].code == 200


def test_epsv_229_and_epsv_all(accounts):
    s = session(accounts)
    send(s, "EPSV")
    assert s.passive_listening(6446)[0].encode() == b"229 Entering Extended Passive Mode (|||6446|)\r\n"
    assert codes(s, "EPSV 2") == [522]
    assert codes(s, "EPSV ALL", "PORT 10,0,1,11,200,10", "PASV") == [200, 503, 503]


def test_no_passive_port_free_is_425(accounts):
    s = session(accounts)
    send(s, "PASV")
    assert s.passive_failed()[0].code == 425


def test_transfer_without_port_or_pasv_is_425(accounts):
    assert codes(session(accounts), "RETR notes.txt", "LIST") == [425, 425]


def test_retr_active_asks_for_a_transfer_with_rest_offset(accounts, tmp_path):
    s = session(accounts)
    events = send(s, "PORT 10,0,1,11,200,10", "REST 4", "RETR notes.txt")
    t = events[-1]
    assert [e.code for e in events[:-1] if isinstance(e, Reply)] == [200, 350]
    assert isinstance(t, Transfer) and t.kind == "retr" and t.active == ("10.0.1.11", 51210)
    assert t.offset == 4 and t.path == tmp_path / "root" / "alice" / "notes.txt"
    assert t.opening.code == 150
    assert s.transfer_done()[0].code == 226


def test_rest_holds_for_the_next_command_only(accounts):
    s = session(accounts)
    t = send(s, "REST 4", "NOOP", "PORT 10,0,1,11,200,10", "RETR notes.txt")[-1]
    assert t.offset == 0


def test_retr_missing_file_is_550(accounts):
    assert codes(session(accounts), "PORT 10,0,1,11,200,10", "RETR nope") == [200, 550]


def test_commands_during_a_transfer_wait_except_abor_and_stat(accounts):
    s = session(accounts)
    send(s, "PORT 10,0,1,11,200,10", "RETR notes.txt")
    assert send(s, "NOOP") == []  # held until the transfer ends
    assert codes(s, "STAT") == [211]
    assert send(s, "ABOR") == [Abort()]
    assert [e.code for e in s.transfer_aborted()] == [426, 226, 200]  # then the held NOOP


def test_abor_after_the_last_byte_gets_226_after_the_transfers_226(accounts):
    s = session(accounts)
    send(s, "PORT 10,0,1,11,200,10", "RETR notes.txt")
    assert send(s, "ABOR") == [Abort()]
    assert [e.code for e in s.transfer_done()] == [226, 226]


def test_abor_without_transfer_is_225(accounts):
    assert codes(session(accounts), "ABOR") == [225]


def test_stou_names_the_file_in_its_150_or_125(accounts):
    s = session(accounts)
    t = send(s, "PORT 10,0,1,11,200,10", "STOU")[-1]
    assert t.kind == "stou" and t.opening.encode() == b"150 FILE: file.0\r\n"
    assert t.already_open.encode() == b"125 FILE: file.0\r\n"


def test_125_when_the_data_connection_is_already_open(accounts):
    t = send(session(accounts), "PORT 10,0,1,11,200,10", "RETR notes.txt")[-1]
    assert t.already_open.encode() == b"125 Data connection already open; transfer starting.\r\n"


def test_a_new_user_drops_the_old_logins_data_connection(accounts):
    s = session(accounts)
    send(s, "PASV")
    s.passive_listening(50000)
    assert send(s, "USER anonymous")[0] == ClosePassive()
    assert codes(s, "PASS x@y", "RETR readme.txt") == [230, 425]


def test_stor_into_a_missing_folder_is_553(accounts):
    assert codes(session(accounts), "PORT 10,0,1,11,200,10", "STOR no/such/x") == [200, 553]


def test_mlsd_lists_facts_and_refuses_a_file(accounts):
    s = session(accounts)
    t = send(s, "PORT 10,0,1,11,200,10", "MLSD")[-1]
    assert b"type=dir;" in t.listing and b" docs\r\n" in t.listing and b"size=10;" in t.listing
    s.transfer_done("list")
    assert codes(s, "PORT 10,0,1,11,200,10", "MLSD notes.txt") == [200, 501]


def test_list_takes_ls_options_and_nlst_bare_names(accounts):
    s = session(accounts)
    t = send(s, "PORT 10,0,1,11,200,10", "LIST -la")[-1]
    assert t.listing.splitlines()[0].startswith(b"drwx") and t.listing.endswith(b" notes.txt\r\n")
    s.transfer_done("list")
    t = send(s, "PORT 10,0,1,11,200,10", "NLST")[-1]
    assert t.listing == b"docs\r\nnotes.txt\r\n"


def test_transfer_failures_carry_their_codes(accounts):
    s = session(accounts)
    send(s, "PORT 10,0,1,11,200,10", "RETR notes.txt")
    assert s.transfer_failed(425, "Can't open data connection.")[0].code == 425
    assert codes(s, "RETR notes.txt") == [425]  # the data connection set-up is used up


def test_idle_timeout_is_421(accounts):
    events = session(accounts).timed_out()
    assert events[0].code == 421 and isinstance(events[1], Close)


# --- digits are ASCII digits: "²" passes str.isdigit() but int() refuses it (found by the fuzzer) ----------
@pytest.mark.parametrize("line", ["REST \u00b2", "REST \u0663", "PORT 127,0,0,1,\u00b2,1", "EPRT |1|127.0.0.1|\u00b2|"])
def test_non_ascii_digits_are_a_501_not_a_crash(accounts, line):
    assert codes(session(accounts), line) == [501]


def test_client_refuses_a_reply_code_in_non_ascii_digits():
    from services.ftp.client import FtpError, ReplyReader
    with pytest.raises(FtpError):
        ReplyReader().feed("\u00b2\u00b2\u00b2 hello\r\n".encode())
