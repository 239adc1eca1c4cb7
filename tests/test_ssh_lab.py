"""Remote login in the campus lab itself (brought up under the name login-campus): standard clients on
lab nodes reach login.poly.edu by name through the lab's DNS, over SSH (ssh, scp) and Telnet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab
CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: login-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def ssh_opts(known: Path) -> list[str]:
    return ["-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known}", "-o", "LogLevel=ERROR",
            "-F", "/dev/null"]


def test_ssh_between_nodes_by_name_and_the_host_key_stays(campus, tmp_path):
    known = tmp_path / "known_hosts"
    for node in ("client1", "client3"):  # two nodes, one host key: the second login checks the first's record
        out = campus.run(node, ["sshpass", "-p", "alice-pw", "ssh", *ssh_opts(known), "alice@login",
                                "echo $USER@$(hostname)"])
        assert out.stdout == "alice@login\n", out.stderr
    assert known.read_text().startswith("login ssh-ed25519 ")  # recorded under the name the user typed
    wrong = campus.run("client2", ["sshpass", "-p", "not-her-password", "ssh", *ssh_opts(known), "-o",
                                   "NumberOfPasswordPrompts=1", "alice@login.poly.edu", "true"])
    assert wrong.returncode == 255 and "Permission denied" in wrong.stderr


def test_scp_to_the_login_node_and_back(campus, tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("lab notes\n" * 100)
    known = tmp_path / "known_hosts"
    up = campus.run("client4", ["sshpass", "-p", "bob-pw", "scp", *ssh_opts(known), str(src), "bob@login:notes.txt"])
    assert up.returncode == 0, up.stderr
    back = campus.run("client2", ["sshpass", "-p", "bob-pw", "scp", *ssh_opts(known), "bob@login.poly.edu:notes.txt",
                                  str(tmp_path / "back.txt")])
    assert back.returncode == 0 and (tmp_path / "back.txt").read_text() == src.read_text(), back.stderr


def test_telnet_between_nodes_by_name(campus):
    python = campus.backend.placeholders(campus.state, "client3")["python"]
    out = campus.run("client3", [python, "-m", "services.telnet", "client", "login", "--term", "vt100",
                                 "--send", "bob", "--send", "bob-pw", "--send", "echo I am $USER on $(hostname) $TERM",
                                 "--send", "exit"], timeout=60)
    assert "I am bob on login vt100" in out.stdout, out.stdout + out.stderr
    assert "RCVD DO TERMINAL-TYPE" in out.stderr.splitlines()
