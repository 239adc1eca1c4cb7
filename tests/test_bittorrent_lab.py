"""BitTorrent in a small swarm lab (`wirelab gen swarm --peers 3`, brought up as bt-lab): the lab's
tracker service, our seed on the server, and on the access links our peer, aria2c and ctorrent, each
in its own node, all ending with the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from services.bittorrent import metainfo
from topology import lab as labs
from topology.gen import swarm_lab
from topology.loader import loads

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def swarm() -> Iterator[labs.RunningLab]:
    lab = loads(swarm_lab(3, "bt-lab"), "bt-lab.yaml")
    labs.down(lab.name)  # a copy left by a killed run
    try:
        yield labs.up(lab)
    finally:
        labs.down(lab.name)


def test_the_lab_rates_are_the_textbooks(swarm):
    assert str(swarm.segments["core"].rate) == "20mbit"
    assert {str(swarm.segments[f"acc{i}"].rate) for i in (1, 2, 3)} == {"10mbit"}


@pytest.mark.skipif(not (shutil.which("aria2c") and shutil.which("ctorrent")),
                    reason="aria2c and ctorrent come from `make setup`")
def test_our_seed_our_peer_aria2c_and_ctorrent_in_one_swarm(swarm, tmp_path):
    tmp_path.chmod(0o755)
    (tmp_path / "seed").mkdir()
    data = os.urandom(1024 * 1024)
    (tmp_path / "seed" / "file.bin").write_bytes(data)
    torrent = tmp_path / "file.torrent"
    torrent.write_bytes(metainfo.make(tmp_path / "seed" / "file.bin", "http://10.60.0.20:6969/announce",
                                      piece_length=32 * 1024))
    for d in ("ours", "aria", "ct"):
        (tmp_path / d).mkdir()
    flag = tmp_path / "aria.done"
    hook = tmp_path / "aria.hook"
    hook.write_text(f"#!/bin/sh\ntouch {flag}\n")
    hook.chmod(0o755)
    procs = []
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        procs.append(swarm.popen("p1", [sys.executable, "-m", "services.bittorrent", "peer", str(torrent),
                                        "--dir", str(tmp_path / "ours"), "--rechoke", "2"], **quiet))
        procs.append(swarm.popen("p2", ["aria2c", "--enable-dht=false", "--bt-enable-lpd=false",
                                        "--enable-peer-exchange=false", "--seed-ratio=0.0", "--seed-time=1",
                                        f"--on-bt-download-complete={hook}", "--dir", str(tmp_path / "aria"),
                                        str(torrent)], **quiet))
        procs.append(swarm.popen("p3", ["ctorrent", "-e", "1", "-s", str(tmp_path / "ct" / "file.bin"),
                                        str(torrent)], cwd=tmp_path / "ct", **quiet))
        procs.append(swarm.popen("server", [sys.executable, "-m", "services.bittorrent", "peer", str(torrent),
                                            "--dir", str(tmp_path / "seed"), "--rechoke", "2"], **quiet))
        want = {"ours": tmp_path / "ours" / "file.bin", "aria": tmp_path / "aria" / "file.bin",
                "ct": tmp_path / "ct" / "file.bin"}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if flag.exists() and all(p.exists() and p.read_bytes() == data for p in want.values()):
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    for name, path in want.items():
        assert path.exists() and path.read_bytes() == data, f"{name} did not get the file"
