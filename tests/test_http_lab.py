"""The Web in the campus lab itself (a copy brought up as http-campus): standard clients on the lab's
nodes reach gaia.cs.umass.edu by name, directly and through the campus's proxy (proxy.poly.edu:3128)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from topology import lab as labs
from topology.loader import loads

pytestmark = pytest.mark.lab
CAMPUS = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.yaml"
PROXY = "http://proxy.poly.edu:3128"


@pytest.fixture(scope="module")
def campus() -> Iterator[labs.RunningLab]:
    lab = loads(CAMPUS.read_text().replace("name: campus", "name: http-campus", 1), str(CAMPUS), source=CAMPUS)
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def proxy_notes(campus: labs.RunningLab, url: str) -> list[str]:
    log = campus.service_log(campus.service("proxy", "http-proxy"))
    return [line.split()[-2] for line in log.splitlines() if f" GET {url} " in line]


def test_wget_reaches_gaia_by_name(campus):
    out = campus.run("client2", ["wget", "-q", "-O", "-", "http://gaia.cs.umass.edu/wireshark-labs/HTTP-wireshark-file1.html"])
    assert out.returncode == 0 and "Congratulations" in out.stdout


def test_curl_through_the_campus_proxy_miss_then_hit(campus):
    url = "http://gaia.cs.umass.edu/objects/image7.svg"
    for _ in range(2):   # http_proxy: clients use the proxy by configuration
        out = campus.run("client1", ["env", f"http_proxy={PROXY}", "curl", "-sS", "-D", "-", "-o", "/dev/null", url])
        assert out.returncode == 0 and "Via: 1.1 proxy.poly.edu (wirelab)" in out.stdout, out.stderr
    assert proxy_notes(campus, url) == ["MISS", "HIT"]
    code = campus.run("client1", ["curl", "-sS", "-x", PROXY, "-o", "/dev/null", "-w", "%{http_code}", "-z",
                                  "Jan 1 2099", url])
    assert code.stdout == "304"


def test_the_browser_through_the_proxy_from_the_hub_lan(campus):
    python = campus.backend.placeholders(campus.state, "client4")["python"]
    out = campus.run("client4", [python, "-m", "services.http", "get", "http://gaia.cs.umass.edu/", "--proxy", PROXY])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(line.startswith("200 ") for line in lines) == 11 and "11 objects, 1 TCP connections" in lines[-1]


def test_the_proxy_refuses_hosts_outside_the_client_lans(campus):
    out = campus.run("server1", ["curl", "-sS", "-x", PROXY, "-o", "/dev/null", "-w", "%{http_code}",
                                 "http://gaia.cs.umass.edu/"])
    assert out.stdout == "403"
