"""The FTP scenarios, each broken on purpose and seen to fail: an active data connection that no longer
leaves from port 20, passive ports the client cannot reach, a control port nobody can log in on."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_runs import copy_of, failed, run_scenario

from topology import lab as labs

pytestmark = pytest.mark.lab


def _ftp_args(extra: list[str]):
    def edit(data: dict) -> None:
        data["nodes"]["ftp"]["services"][0]["args"] += extra
    return edit


def _firewall(rule: str):
    """An nftables rule on the ftp node's input (a firewall in front of the server)."""
    def prepare(running: labs.RunningLab) -> None:
        for cmd in (["nft", "add", "table", "inet", "ftpcut"],
                    ["nft", "add", "chain", "inet", "ftpcut", "in", "{ type filter hook input priority 0; }"],
                    ["nft", "add", "rule", "inet", "ftpcut", "in", *rule.split()]):
            running.run("ftp", cmd, check=True)
    return prepare


def test_ftp_active_fails_when_data_leaves_from_another_port(tmp_path: Path):
    lab = copy_of("campus", "sc-ftp-active", _ftp_args(["--data-port", "2020"]))
    why = failed(run_scenario("ftp-active", tmp_path, lab=lab))
    assert list(why) == ["active mode: the server connects from its port 20 to the port PORT named; the file's "
                         "bytes cross that connection, the server closes it at the end, and 226 follows"]
    assert why[next(iter(why))].startswith("expected a data connection ftp (10.0.3.21):20 > client1 (10.0.1.11):")


def test_ftp_passive_fails_when_the_passive_ports_are_closed(tmp_path: Path):
    why = failed(run_scenario("ftp-passive", tmp_path, prepare=_firewall("tcp dport 50000-50999 reject")))
    assert "passive mode: the client opens the data connection to the port the 227 named; the file crosses it; " \
           "the server never connects out" in why
    assert ("PASV is answered with 227 and the server's address and port; RETR with a preliminary reply "
            "(125 or 150), then 226") in why


def test_ftp_cleartext_fails_when_no_one_can_log_in(tmp_path: Path):
    why = failed(run_scenario("ftp-cleartext", tmp_path, prepare=_firewall("tcp dport 21 reject")))
    assert set(why) == {"the password crosses the control connection as typed (PASS bob-pw) and the server "
                        "accepts it", "client4, another host on the hub, reads bob's password from its own capture"}
