"""The client's reply parser (sans-I/O) on RFC 959's own examples, and the client command's errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.ftp.client import FtpError, ReplyReader
from services.ftp.commands import Reply


def test_rfc959_4_2_multi_line_example():
    data = b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n"
    # one leading space of a middle line is the padding servers add so it cannot pass for a code (4.2)
    assert ReplyReader().feed(data) == [
        Reply(123, ("First line", "Second line", " 234 A line beginning with numbers", "The last line"))]


def test_replies_split_anywhere_come_out_whole_and_in_order():
    reader = ReplyReader()
    wire = b"220 ready\r\n211-Features:\r\n EPSV\r\n211 End\r\n"
    got = [r for i in range(len(wire)) for r in reader.feed(wire[i:i + 1])]
    assert got == [Reply(220, ("ready",)), Reply(211, ("Features:", "EPSV", "End"))]


def test_what_the_server_encodes_the_client_reads_back():
    r = Reply(214, ("Commands:", "USER PASS", "Help OK."))
    assert ReplyReader().feed(r.encode()) == [r]


def test_a_line_that_is_no_reply_is_an_error():
    with pytest.raises(FtpError, match="not an FTP reply"):
        ReplyReader().feed(b"HTTP/1.1 200 OK\r\n")


def test_client_command_errors_are_one_line():
    out = subprocess.run([sys.executable, "-m", "services.ftp", "client", "127.0.21.30", "--port", "2199", "ls"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr == "ftp client: cannot connect to 127.0.21.30 port 2199: Connection refused\n"
    out = subprocess.run([sys.executable, "-m", "services.ftp", "client", "127.0.21.30", "fetch", "x"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
