"""The mail scenarios, each broken on purpose and seen to fail: Bob's server refusing port 25, Bob's POP3
port closed, Alice's server giving up at once instead of keeping its queue, Bob's server refusing a message
as large as one with a picture."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_runs import copy_of, failed, run_scenario

from topology import lab as labs

pytestmark = pytest.mark.lab


def _args(node: str, extra: list[str]):
    def edit(data: dict) -> None:
        smtp = next(s for s in data["nodes"][node]["services"] if s["name"] == "smtp-server")
        smtp["args"] += extra
    return edit


def _reject(port: int):
    """A firewall in front of mail-hamburger rejecting one port."""
    def prepare(running: labs.RunningLab) -> None:
        for cmd in (["nft", "add", "table", "inet", "mailcut"],
                    ["nft", "add", "chain", "inet", "mailcut", "in", "{ type filter hook input priority 0; }"],
                    ["nft", "add", "rule", "inet", "mailcut", "in", "tcp", "dport", str(port), "reject",
                     "with", "tcp", "reset"]):
            running.run("mail-hamburger", cmd, check=True)
    return prepare


def test_smtp_fails_when_bobs_server_refuses_port_25(tmp_path: Path):
    why = failed(run_scenario("smtp", tmp_path, prepare=_reject(25)))
    text = ("the textbook dialogue: 220, EHLO 250, MAIL FROM 250, RCPT TO 250, DATA 354, the message, '.' 250, "
            "QUIT 221")
    assert text in why
    assert "the sending server looks up the MX of hamburger.edu in DNS before it connects to port 25" not in why


def test_mail_relay_and_pop3_fails_when_bob_cannot_read(tmp_path: Path):
    why = failed(run_scenario("mail-relay-and-pop3", tmp_path, prepare=_reject(110)))
    assert set(why) == {
        "Bob reads with POP3: USER, PASS, LIST, RETR, DELE, QUIT, each answered +OK",
        "the message Bob retrieved is byte for byte the one Alice sent, below one Received: line per hop (two)"}


def test_mail_queue_fails_when_alices_server_gives_up_at_once(tmp_path: Path):
    lab = copy_of("campus", "sc-mail-queue", _args("mail-crepes", ["--give-up", "1"]))
    why = failed(run_scenario("mail-queue", tmp_path, lab=lab))
    assert list(why) == ["once it is back, each of the 3 queued messages reaches Bob exactly once, byte for byte"]
    assert why[next(iter(why))].startswith("message 1 submitted ('Subject: queued 1', ")
    assert "retrieved by client3 (10.0.2.13) 0 times" in why[next(iter(why))]


def test_mime_fails_when_bobs_server_refuses_the_picture(tmp_path: Path):
    lab = copy_of("campus", "sc-mime", _args("mail-hamburger", ["--max-size", "2000"]))
    why = failed(run_scenario("mime", tmp_path, lab=lab))
    assert list(why) == ["Bob's copy is Alice's message byte for byte, and its image/jpeg part decodes (base64) to "
                         "the very bytes she attached"]
