"""FTP in the campus lab itself (a copy brought up as ftp-campus): ftp.poly.edu on the servers LAN answers
standard clients on other LANs, by name through the campus DNS, in passive and active mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab
CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"
FILES = CAMPUS.parent / "campus.d" / "ftp" / "files"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: ftp-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def test_curl_fetches_the_anonymous_readme_by_name_passive_and_active(campus):
    want = (FILES / "pub" / "README.txt").read_text()
    assert campus.run("client1", ["curl", "-sS", "ftp://ftp.poly.edu/README.txt"], check=True).stdout == want
    assert campus.run("client3", ["curl", "-sS", "-P", "-", "ftp://ftp.poly.edu/README.txt"],
                      check=True).stdout == want


def test_alice_uploads_with_lftp_and_gets_it_back_with_the_project_client(campus):
    script = "set ftp:passive-mode off; set net:max-retries 1; put /etc/hostname -o from-client2.txt; quit"
    campus.run("client2", ["lftp", "-u", "alice,alice-pw", "-e", script, "ftp.poly.edu"], check=True)
    python = campus.backend.placeholders(campus.state, "client4")["python"]
    out = campus.run("client4", [python, "-m", "services.ftp", "client", "ftp.poly.edu", "--user", "alice",
                                 "--password", "alice-pw", "-q", "get", "from-client2.txt", "-"], check=True)
    assert out.stdout.strip() == "client2"


def test_anonymous_cannot_write_and_wget_reads(campus):
    out = campus.run("client1", ["curl", "-sS", "-T", "/etc/hostname", "ftp://ftp.poly.edu/x.txt"])
    assert out.returncode != 0 and "550" in out.stderr
    got = campus.run("client3", ["wget", "-q", "-O", "-", "ftp://ftp.poly.edu/rfc959-summary.txt"], check=True)
    assert got.stdout == (FILES / "pub" / "rfc959-summary.txt").read_text()
