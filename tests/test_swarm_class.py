"""A class of 6 campus instances on a local swarm of three hosts (made by the fixture, removed after):
each placed whole on a host, two per host; identical addresses, yet sealed from each other; each
instance's scenarios run in parallel with a JUnit file and a summary row per student; `class down`
leaves nothing.

Needs root, dockerd and the node image (`make images`); skipped, saying which is missing, otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import wirelab_exe
from dockerd import unavailable

from topology import lab as labs
from topology.progress import Progress

docker = pytest.importorskip("docker")

_reason = unavailable("swarm class tests")
pytestmark = [pytest.mark.docker, pytest.mark.lab, pytest.mark.skipif(_reason is not None, reason=_reason or "")]


def test_students_from_a_roster_or_a_count(tmp_path: Path):
    from topology.backends.swarm_class import students_from
    from topology.errors import WirelabError

    roster = tmp_path / "roster.txt"
    roster.write_text("alice\n# a comment\nbob  # the second\n\n")
    assert students_from(None, roster) == ["alice", "bob"]
    assert students_from(3, None) == ["s01", "s02", "s03"]
    roster.write_text("Alice Smith\n")
    with pytest.raises(WirelabError, match="student names are lowercase"):
        students_from(None, roster)


@pytest.fixture(scope="module")
def klass():
    from topology.backends.docker import IMAGE
    from topology.backends.swarm_class import class_down, class_up, students_from
    from topology.backends.swarm_hosts import LOCAL_FILE, local_down, local_up

    if LOCAL_FILE.exists():
        pytest.skip(f"a local swarm is already up ({LOCAL_FILE}); these tests make their own")
    os.environ["WIRELAB_SWARM"] = str(LOCAL_FILE)
    swarm = local_up(3, IMAGE, Progress(quiet=True))
    try:
        record = class_up("campus", students_from(6, None), Progress(quiet=True))
        yield swarm, record
        assert class_down("campus", Progress(quiet=True)) == []
        for h in swarm.hosts:
            api = docker.APIClient(base_url=h.url)
            assert api.containers(all=True, filters={"label": "wirelab.lab"}) == []
        assert docker.APIClient(base_url=swarm.hosts[0].url).networks(filters={"label": "wirelab.lab"}) == []
    finally:
        class_down_quiet()
        local_down(Progress(quiet=True))
        os.environ.pop("WIRELAB_SWARM", None)


def class_down_quiet() -> None:
    from topology.backends.swarm_class import CLASSES, class_down

    if (CLASSES / "campus" / "class.json").exists():
        class_down("campus", Progress(quiet=True))


def test_each_instance_is_whole_on_one_host_two_per_host(klass):
    swarm, record = klass
    from topology.backends.swarm_class import class_ps

    rows = class_ps("campus")
    assert [r["student"] for r in rows] == [f"s{i:02d}" for i in range(1, 7)]
    assert all(r["status"] == "up" and r["services"].split("/")[0] == r["services"].split("/")[1].split()[0]
               for r in rows), rows
    by_host: dict[str, int] = {}
    for inst in record["instances"].values():
        state = labs.attach(inst["lab"]).state
        assert set(state.objects["placement"].values()) == {inst["host"]}
        by_host[inst["host"]] = by_host.get(inst["host"], 0) + 1
    assert sorted(by_host.values()) == [2, 2, 2]
    shown = subprocess.run([wirelab_exe(), "class", "ps", "campus"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[1] for line in shown.stdout.splitlines() if "campus-s" in line] == \
        [f"s{i:02d}" for i in range(1, 7)]


def test_instances_share_addresses_but_not_segments(klass, tmp_path: Path):
    a, b = labs.attach("campus-s01"), labs.attach("campus-s02")
    assert a.address("client2") == b.address("client2") == "10.0.1.12"
    with b.capture("lan1", tmp_path / "b.pcap", filter="icmp") as cap_b, \
            a.capture("lan1", tmp_path / "a.pcap", filter="icmp") as cap_a:
        a.run("client1", ["ping", "-c2", "-i0.2", "10.0.1.12"], check=True)
    assert len(cap_a.packets()) == 4
    assert len(cap_b.packets()) == 0


def test_class_scenarios_give_a_junit_file_and_a_row_per_student(klass, tmp_path: Path):
    from topology.backends.swarm_class import class_scenarios

    rows = class_scenarios("campus", tmp_path, ("dhcp", "broadcast-domain"))
    assert [(r["student"], r["passed"], r["total"], r["error"]) for r in rows] == \
        [(f"s{i:02d}", 2, 2, None) for i in range(1, 7)]
    for r in rows:
        root = ET.parse(r["junit"]).getroot()
        assert [s.get("name") for s in root.iter("testsuite")] == [f"lab {r['lab']}"]
        cases = list(root.iter("testcase"))
        assert {c.get("classname") for c in cases} == {"scenarios.dhcp", "scenarios.broadcast-domain"}
        assert [c for c in cases if c.find("failure") is not None or c.find("error") is not None] == []
    assert json.loads((tmp_path / "class.json").read_text()) == rows
