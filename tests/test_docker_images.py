"""The images: a rebuild reuses the base and the dependency layer; the node image holds what a node needs.

Needs root, a running dockerd and a first `make images` (the base takes about a minute: not built here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dockerd import unavailable

docker = pytest.importorskip("docker")
ROOT = Path(__file__).resolve().parents[1]


_reason = unavailable("image tests")
pytestmark = [pytest.mark.docker, pytest.mark.skipif(_reason is not None, reason=_reason or "")]


def test_a_rebuild_keeps_the_base_and_dependency_layers():
    from topology.backends.docker import IMAGE

    client = docker.from_env()
    before = client.images.get(IMAGE).attrs["RootFS"]["Layers"]
    r = subprocess.run([sys.executable, str(ROOT / "images" / "build.py")], capture_output=True, text=True,
                       timeout=300, env=os.environ | {"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stderr and "packages configured" not in r.stderr  # no debootstrap run
    after = client.images.get(IMAGE).attrs
    # three file-system layers: the imported base, the dependencies, the code; only the code may change
    assert len(after["RootFS"]["Layers"]) == 3
    assert after["RootFS"]["Layers"][:2] == before[:2]
    assert after["Config"]["Labels"]["wirelab.code"]


def test_the_node_image_has_the_tools_and_the_project():
    from topology.backends.docker import IMAGE

    tools = ["python3", "ip", "ss", "tcpdump", "ping", "traceroute", "dig", "curl", "lftp", "telnet",
             "dhclient", "busybox", "tini", "ps"]
    script = ("import services, topology, yaml, scapy, dnslib, jsonschema; "
              "import shutil, sys; missing = [t for t in sys.argv[1:] if not shutil.which(t)]; "
              "print('missing', missing) if missing else print('ok')")
    out = docker.from_env().containers.run(IMAGE, ["python3", "-c", script, *tools], network_mode="none",
                                           remove=True).decode()
    assert out.strip() == "ok", out
