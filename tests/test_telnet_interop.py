"""Standard peers: Debian's telnet client (inetutils) against our server, on a terminal; our client
against Debian's telnetd (inetutils), started per connection by a small inetd-like launcher on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from test_telnet_server import children, free_port, telnet_server  # noqa: F401 (a fixture)

pexpect = pytest.importorskip("pexpect", reason="pexpect comes with the dev extra (make setup)")


@pytest.mark.skipif(shutil.which("telnet") is None, reason="needs telnet (apt package telnet)")
def test_debian_telnet_logs_in_and_its_terminal_reaches_the_shell(telnet_server):  # noqa: F811
    port, _ = telnet_server
    env = dict(os.environ, TERM="vt220")
    child = pexpect.spawn("telnet", ["127.0.0.1", str(port)], env=env, dimensions=(30, 100), timeout=10)
    try:
        child.expect("login: ")
        child.send("alice\r")
        child.expect("Password: ")
        child.send("wonderland\r")
        child.expect("alice@node1:")
        child.send("echo T=$TERM; stty size\r")
        child.expect(r"T=vt220\r\n30 100\r\n")
        child.setwinsize(40, 120)  # telnet sends a new NAWS on SIGWINCH
        child.send("stty size\r")
        child.expect(r"40 120\r\n")
        child.sendcontrol("]")  # telnet's own prompt: send the AYT and IP commands
        child.expect("telnet> ")
        child.send("send ayt\r")
        child.expect(r"\[node1: yes\]")
        child.send("echo pid=$$\r")
        child.expect(r"pid=(\d+)\r\n")
        shell = int(child.match.group(1))
        child.send("sleep 30\r")
        deadline = time.monotonic() + 10
        while not children(shell, "sleep"):  # running: observed in /proc
            assert time.monotonic() < deadline, "sleep never started"
            time.sleep(0.02)
        child.sendcontrol("]")
        child.expect("telnet> ")
        child.send("send ip\r")
        child.send("echo after-$?\r")
        child.expect(r"after-130")
        child.send("exit\r")
        child.expect("Connection closed by foreign host.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


@pytest.fixture
def telnetd() -> Iterator[int]:
    """inetutils telnetd, one per connection as inetd would start it, with a shell instead of login(1)."""
    if shutil.which("telnetd") is None:
        pytest.skip("needs telnetd (apt package inetutils-telnetd)")
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    procs: list[subprocess.Popen] = []

    def launch() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                procs.append(subprocess.Popen(["telnetd", "-h", "-E", "/bin/sh"], stdin=conn, stdout=conn,
                                              stderr=subprocess.DEVNULL))

    thread = threading.Thread(target=launch, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
        for p in procs:
            p.terminate()
            p.wait(10)


def test_our_client_against_debian_telnetd(telnetd):
    out = subprocess.run([sys.executable, "-m", "services.telnet", "client", "127.0.0.1", str(telnetd),
                          "--term", "vt220", "--pace", "2"],
                         input=b"echo T=$TERM; stty size\nexit\n", capture_output=True, timeout=60)
    err = out.stderr.decode().splitlines()
    # telnetd asks; our client agrees to what it knows and refuses the rest, each printed as it happens
    for asked, answer in [("RCVD DO TERMINAL-TYPE", "SENT WILL TERMINAL-TYPE"),
                          ("RCVD SB TERMINAL-TYPE SEND", "SENT SB TERMINAL-TYPE IS 'VT220'"),
                          ("RCVD DO NAWS", "SENT WILL NAWS"), ("RCVD WILL ECHO", "SENT DO ECHO"),
                          ("RCVD WILL AUTHENTICATION", "SENT DONT AUTHENTICATION"),
                          ("RCVD DO LINEMODE", "SENT WONT LINEMODE"), ("RCVD DO NEW-ENVIRON", "SENT WONT NEW-ENVIRON")]:
        assert err.index(asked) + 1 == err.index(answer), err
    assert "SENT SB NAWS 80 24" in err
    # the type and the size reached telnetd's shell (a pty left alone would say 0 0)
    assert b"\nT=vt220\r\n" in out.stdout and b"\n24 80\r\n" in out.stdout, out.stdout
