"""Mail in the campus lab itself (a copy brought up as mail-campus): standard clients on lab hosts send
through mail.crepes.fr, which finds mail.hamburger.edu by its MX record and relays; Bob reads with curl's
POP3; an outside relay attempt is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab
CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: mail-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def test_swaks_on_client1_relays_through_the_mx_and_bob_reads_with_curl_pop3(campus):
    out = campus.run("client1", ["swaks", "--server", "mail.crepes.fr", "--from", "alice@crepes.fr", "--to",
                                 "bob@hamburger.edu", "--header", "Subject: from the lab", "--body",
                                 "Do you like ketchup?"], timeout=60)
    assert out.returncode == 0 and "<-  250 2.0.0 Message accepted for delivery" in out.stdout, out.stdout
    deadline = time.monotonic() + 30
    listing = ""
    while time.monotonic() < deadline:
        listing = campus.run("client3", ["curl", "-sS", "pop3://mail.hamburger.edu/", "-u", "bob:bob-pw"]).stdout
        if listing.strip():
            break
        time.sleep(0.2)
    assert listing.strip(), "nothing reached bob's mailbox within 30 s"
    msg = campus.run("client3", ["curl", "-sS", "pop3://mail.hamburger.edu/1", "-u", "bob:bob-pw"]).stdout
    assert "Subject: from the lab" in msg and "Do you like ketchup?" in msg
    assert msg.count("Received: from ") == 2
    assert "by hamburger.edu (wirelab)" in msg and "by crepes.fr (wirelab)" in msg


def test_bobs_server_is_no_open_relay(campus):
    out = campus.run("client1", ["swaks", "--server", "mail.hamburger.edu", "--from", "alice@crepes.fr", "--to",
                                 "carol@crepes.fr", "--quit-after", "RCPT"], timeout=60)
    assert "<** 554 5.7.1 <carol@crepes.fr>: Relay access denied" in out.stdout, out.stdout
