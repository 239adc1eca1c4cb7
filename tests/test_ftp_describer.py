"""The FTP describer without a lab: how the control connection's bytes split into commands and replies,
and which data port a PORT command or a 227/229 reply arranged."""

from __future__ import annotations

from scenarios.framework.describers.ftp import DESCRIBER, data_port
from scenarios.framework.stream import CLIENT, SERVER, Message


def cut(data: bytes, side: str) -> list[bytes]:
    ends, start, out = DESCRIBER.split(data, side), 0, []
    for end in ends:
        out.append(data[start:end])
        start = end
    return out


def test_commands_are_lines():
    assert cut(b"USER alice\r\nPASS alice-pw\r\nPA", CLIENT) == [b"USER alice\r\n", b"PASS alice-pw\r\n"]


def test_a_multi_line_reply_is_one_message_whatever_its_middle_lines_say():
    data = b"211-Features:\r\n EPSV\r\n 226 looks like an end\r\n211 End\r\n230 Login successful.\r\n"
    assert cut(data, SERVER) == [b"211-Features:\r\n EPSV\r\n 226 looks like an end\r\n211 End\r\n",
                                 b"230 Login successful.\r\n"]


def test_an_unfinished_multi_line_reply_is_not_a_message_yet():
    assert cut(b"214-The following commands\r\n USER PASS\r\n", SERVER) == []


def msg(side: str, text: str) -> Message:
    return Message(side, text.encode() + b"\r\n", 0, 0.0, [])


def test_data_port_from_port_and_eprt():
    msgs = [msg(CLIENT, "PORT 10,0,1,11,181,9"), msg(SERVER, "200 PORT command successful.")]
    assert data_port(msgs, "active")[0] == 181 * 256 + 9
    assert data_port([msg(CLIENT, "EPRT |1|10.0.1.11|6275|")], "active")[0] == 6275


def test_data_port_from_227_and_229():
    assert data_port([msg(SERVER, "227 Entering Passive Mode (10,0,3,21,195,80).")], "passive")[0] == 50000
    assert data_port([msg(SERVER, "229 Entering Extended Passive Mode (|||50001|)")], "passive")[0] == 50001


def test_no_data_port_when_none_was_arranged_or_it_does_not_parse():
    assert data_port([msg(CLIENT, "PORT 10,0,1,11"), msg(SERVER, "227 nothing here")], "active") is None
    assert data_port([msg(CLIENT, "PASV"), msg(SERVER, "500 no")], "passive") is None
