"""The remote-login scenarios, each broken on purpose and seen to fail: the server's request for the
terminal type lost on the way, the uppercase server unreachable, a Telnet server answering on SSH's port,
and a login node without its Telnet server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scenario_runs import copy_of, failed, run_scenario

from topology import lab as labs

pytestmark = pytest.mark.lab

RFC_ORDER = ("RFC 1091's order: the server sends IAC DO 24, the client IAC WILL 24, the server IAC SB 24 1 IAC SE "
             "(SEND), the client IAC SB 24 0 'VT220' IAC SE (IS)")
ECHO_AND_TERM = ("the server echoes (IAC WILL ECHO, IAC DO ECHO) before the password is typed, and the shell gets "
                 "the negotiated terminal type (TERM=vt220)")
SSH_CLAIM = ("SSH: the same login, and 'bob-pw' is nowhere in the connection's bytes: after the banners and the "
             "key exchange everything is encrypted")


def _nft(node: str, chain: str, rule: str):
    def prepare(running: labs.RunningLab) -> None:
        for cmd in (["nft", "add", "table", "inet", "cut"],
                    ["nft", "add", "chain", "inet", "cut", "c", f"{{ type filter hook {chain} priority 0; }}"],
                    ["nft", "add", "rule", "inet", "cut", "c", *rule.split()]):
            running.run(node, cmd, check=True)
    return prepare


def test_telnet_options_fails_when_the_server_never_asks_for_the_terminal_type(tmp_path: Path):
    def edit(data: dict) -> None:
        telnet = next(s for s in data["nodes"]["login"]["services"] if s["name"] == "telnet-server")
        telnet["args"] += ["--no-terminal-type"]
    why = failed(run_scenario("telnet-options", tmp_path, lab=copy_of("campus", "sc-telnet-opt", edit)))
    assert set(why) == {RFC_ORDER, ECHO_AND_TERM}
    assert why[RFC_ORDER].startswith("expected the server to say")


def test_smtp_by_telnet_fails_when_the_server_refuses_the_connection(tmp_path: Path):
    why = failed(run_scenario("smtp-by-telnet", tmp_path,
                              prepare=_nft("mail-crepes", "input", "tcp dport 25 reject with tcp reset")))
    assert ("the SMTP dialogue as typed at the Telnet client: 220, HELO 250, MAIL 250, RCPT 250, DATA 354, "
            ". 250, QUIT 221") in why
    assert "the client sends no Telnet command (no IAC byte) to a port that is not Telnet's" not in why


def _telnet_on_port_22(running: labs.RunningLab) -> None:
    """Stop the SSH server and put a Telnet server on its port: ssh now meets a clear-text protocol."""
    running.stop_service(running.service("login", "ssh-server"))
    python = running.backend.placeholders(running.state, "login")["python"]
    accounts = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.d" / "login" / "accounts"
    running.run("login", ["sh", "-c", f"{python} -m services.telnet server --accounts {accounts} --homes "
                          "/tmp/wl-login-22 --port 22 >/dev/null 2>&1 &"], check=True)
    deadline = time.monotonic() + 20
    while ":22 " not in running.run("login", ["ss", "-Hltn"]).stdout:  # listening: observed
        assert time.monotonic() < deadline, "the stand-in server never listened on port 22"
        time.sleep(0.1)


def test_cleartext_fails_when_port_22_speaks_telnet(tmp_path: Path):
    why = failed(run_scenario("cleartext", tmp_path, prepare=_telnet_on_port_22))
    assert list(why) == [SSH_CLAIM]
    assert why[SSH_CLAIM].startswith("no SSH login on 10.0.2.13:")


def test_cleartext_fails_without_a_telnet_server(tmp_path: Path):
    def edit(data: dict) -> None:
        data["nodes"]["login"]["services"] = [s for s in data["nodes"]["login"]["services"]
                                              if s["name"] != "telnet-server"]
    why = failed(run_scenario("cleartext", tmp_path, lab=copy_of("campus", "sc-cleartext", edit)))
    assert list(why) == ["Telnet: the password crosses as typed (bob-pw)"]
    # the SYN is answered with a reset: a connection with nothing said on it
    assert why["Telnet: the password crosses as typed (bob-pw)"].startswith(
        "expected the server to say 'Password: '; it said nothing more")
