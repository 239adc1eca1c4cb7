"""BitTorrent: swarm distribution time against the textbook's P2P bound and against aria2c, and one
peer's download speed against aria2c's, each pair from the same run.

Swarm: a swarm lab (`wirelab gen swarm`: the server on a 20 Mbit/s link, every peer on its own 10 Mbit/s
access link, one router) with the tracker on its own node. For each N, N leechers start first and find
each other through the tracker (the seed waits until every leecher has a connection to each of the
others, as `ss` shows them); then the seed starts, and the time runs from the seed's start to the
moment the last leecher has the whole file (leechers keep seeding until then). The same lab, rates and
file then carry a swarm of aria2c peers (seed and leechers alike). Figures: seconds, and each against
D_P2P >= max(F/u_s, F/d_min, N F/(u_s + sum u_i)); target at most 1.3x the bound at N = 16 and at most
1x aria2c at every N.

Single: one leecher and one seed on loopback, no rate cap, a file of --single-mib MiB: MB/s for
wirelab's peer (from wirelab's seed) and for aria2c (from an aria2c seed).

    python -m bench.bench_bittorrent [--size-mib 16] [--peers 2,4,8,16] [--single-mib 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_from_bytes

from services.bittorrent import bencode, metainfo
from services.bittorrent.announce import TrackerError, http_get
from topology import lab as labs
from topology.gen import swarm_lab
from topology.loader import loads

SEED_RATE, PEER_RATE = 20e6, 10e6
TRACKER = "10.60.0.20"
ARIA2 = ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
         "--enable-peer-exchange=false", "--file-allocation=none", "--summary-interval=0",
         "--console-log-level=warn", "--seed-ratio=0.0", "--seed-time=60", "--bt-max-peers=55"]
PY = sys.executable


def bound(n: int, size: int) -> float:
    f = 8 * size
    return max(f / SEED_RATE, f / PEER_RATE, n * f / (SEED_RATE + n * PEER_RATE))


def _wait(done: dict[str, callable], timeout: float) -> dict[str, float]:
    """Poll each check until it holds; the moment each first held."""
    at: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(at) < len(done) and time.monotonic() < deadline:
        for name, check in done.items():
            if name not in at and check():
                at[name] = time.monotonic()
        time.sleep(0.02)
    return at


def _seeds(info_hash: bytes) -> int:
    """How many seeds the loopback tracker counts for the torrent (BEP 48 scrape)."""
    url = f"http://127.0.0.1:16969/scrape?info_hash={quote_from_bytes(info_hash)}"
    try:
        reply = bencode.decode(asyncio.run(http_get(url, timeout=2)))
        return reply[b"files"][info_hash][b"complete"]
    except (TrackerError, ValueError, KeyError, TypeError):
        return 0


def _peer_connections(running: labs.RunningLab, node: str) -> int:
    """How many other peers `node` holds an established TCP connection with, to or from a peer port (6881):
    distinct addresses, as two peers dialling each other at once briefly hold two connections."""
    out = running.run(node, ["ss", "-Htn", "state", "established", "( sport = :6881 or dport = :6881 )"],
                      timeout=10).stdout
    return len({line.split()[-1].rpartition(":")[0] for line in out.splitlines() if line.split()})


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def swarm_round(running: labs.RunningLab, work: Path, torrent: Path, seed_file: Path, n: int,
                client: str) -> float | None:
    """Seconds from the seed's start to the last of n leechers having the file, or None (timeout)."""
    folder = work / f"{client}-{n}"
    folder.mkdir()
    procs, checks = [], {}
    for i in range(1, n + 1):
        d = folder / f"p{i}"
        d.mkdir()
        log = open(folder / f"p{i}.log", "w")
        if client == "wirelab":
            argv = [PY, "-m", "services.bittorrent", "peer", str(torrent), "--dir", str(d), "--rechoke", "2"]
            checks[f"p{i}"] = lambda p=folder / f"p{i}.log": "download complete" in p.read_text()
        else:
            flag = folder / f"p{i}.done"
            hook = folder / f"p{i}.hook"
            hook.write_text(f"#!/bin/sh\ntouch {flag}\n")
            hook.chmod(0o755)
            argv = [*ARIA2, f"--on-bt-download-complete={hook}", "--listen-port=6881", "--dir", str(d), str(torrent)]
            checks[f"p{i}"] = lambda f=flag: f.exists()
        procs.append(running.popen(f"p{i}", argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    # leechers start, announce and connect to each other first (both clients alike): the seed starts once
    # every leecher holds a connection to each of the others, as `ss` shows them in its node
    meshed = _wait({"mesh": lambda: all(_peer_connections(running, f"p{i}") >= n - 1 for i in range(1, n + 1))},
                   timeout=30 + n)
    if not meshed:  # the clock still starts with the seed: a slow mesh is then part of what is measured
        print(f"bench_bittorrent: {client}, N={n}: the leechers had not all connected to each other after "
              f"{30 + n} s; the seed starts anyway", file=sys.stderr)
    seed_log = open(folder / "seed.log", "w")
    if client == "wirelab":
        seed_argv = [PY, "-m", "services.bittorrent", "peer", str(torrent), "--dir", str(seed_file.parent),
                     "--rechoke", "2"]
    else:
        seed_argv = [*ARIA2, "--check-integrity=true", "--listen-port=6881", "--dir", str(seed_file.parent),
                     str(torrent)]
    t0 = time.monotonic()
    procs.append(running.popen("server", seed_argv, stdout=seed_log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL))
    try:
        at = _wait(checks, timeout=max(60, 6 * bound(n, seed_file.stat().st_size)))
    finally:
        _stop(procs)
    if len(at) < n:
        return None
    return round(max(at.values()) - t0, 3)


def bench_swarm(size_mib: int, rounds: list[int]) -> list[dict]:
    lab = loads(swarm_lab(max(rounds), "bt-bench"), "bt-bench.yaml")
    labs.down(lab.name)
    running = labs.up(lab)
    work = Path(tempfile.mkdtemp(prefix="bench-bt-"))
    try:
        seed_file = work / "seed" / "file.bin"
        seed_file.parent.mkdir()
        seed_file.write_bytes(os.urandom(size_mib * 1024 * 1024))
        torrent = work / "file.torrent"
        torrent.write_bytes(metainfo.make(seed_file, f"http://{TRACKER}:6969/announce"))
        out = []
        for n in rounds:
            b = bound(n, seed_file.stat().st_size)
            ours = swarm_round(running, work, torrent, seed_file, n, "wirelab")
            aria = swarm_round(running, work, torrent, seed_file, n, "aria2c")
            out.append({"N": n, "bound_s": round(b, 3), "wirelab_s": ours, "aria2c_s": aria,
                        "wirelab_vs_bound": round(ours / b, 2) if ours else None,
                        "aria2c_vs_bound": round(aria / b, 2) if aria else None,
                        "ratio": round(ours / aria, 2) if ours and aria else None})
            print(json.dumps(out[-1]), file=sys.stderr)
        return out
    finally:
        labs.down(lab.name)
        shutil.rmtree(work, ignore_errors=True)


def bench_single(size_mib: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-bt1-"))
    procs: list[subprocess.Popen] = []
    try:
        seed_file = work / "seed" / "file.bin"
        seed_file.parent.mkdir()
        with open(seed_file, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1024 * 1024))
        torrent = work / "file.torrent"
        torrent.write_bytes(metainfo.make(seed_file, "http://127.0.0.1:16969/announce"))
        size = seed_file.stat().st_size
        torrent_info = metainfo.load(torrent)
        tracker = subprocess.Popen([PY, "-m", "services.bittorrent", "tracker", "--listen", "127.0.0.1",
                                    "--port", "16969", "--interval", "5"], stdout=subprocess.DEVNULL)
        procs.append(tracker)

        def run_pair(seed_argv: list[str], leech_argv: list[str], check) -> float:
            seed = subprocess.Popen(seed_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(seed)
            # the seed checks its file, then announces: start the clock once the tracker counts a seed
            _wait({"seeded": lambda: _seeds(torrent_info.info_hash) > 0}, timeout=120)
            t0 = time.monotonic()
            leech = subprocess.Popen(leech_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(leech)
            at = _wait({"done": check}, timeout=300)
            _stop([leech, seed])
            return round(size / 1e6 / (at["done"] - t0), 1) if at else 0.0

        ours = run_pair([PY, "-m", "services.bittorrent", "peer", str(torrent), "--dir", str(seed_file.parent),
                         "--listen", "127.0.0.31", "--port", "16881"],
                        [PY, "-m", "services.bittorrent", "peer", str(torrent), "--dir", str(work / "ours"),
                         "--listen", "127.0.0.32", "--port", "16882", "--exit-when-done"],
                        lambda: procs[-1].poll() is not None)
        flag = work / "aria.done"
        hook = work / "aria.hook"
        hook.write_text(f"#!/bin/sh\ntouch {flag}\n")
        hook.chmod(0o755)
        aria = run_pair([*ARIA2, "--check-integrity=true", "--listen-port=16883", "--dir", str(seed_file.parent),
                         str(torrent)],
                        [*ARIA2, "--seed-time=0", f"--on-bt-download-complete={hook}",
                         "--listen-port=16884", "--dir", str(work / "aria"), str(torrent)],
                        flag.exists)
        return {"size_mb": round(size / 1e6, 1), "wirelab_MBps": ours, "aria2c_MBps": aria,
                "ratio": round(ours / aria, 2) if aria else None, "ratio_is": "wirelab/aria2c speed: higher is better"}
    finally:
        _stop(procs)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=16)
    ap.add_argument("--peers", default="2,4,8,16")
    ap.add_argument("--single-mib", type=int, default=200)
    ap.add_argument("--out")
    args = ap.parse_args()
    for tool in ("aria2c",):
        if not shutil.which(tool):
            sys.exit(f"bench_bittorrent: {tool} is missing; run `make setup`")
    rounds = [int(n) for n in args.peers.split(",")]
    swarm = bench_swarm(args.size_mib, rounds)
    single = bench_single(args.single_mib)
    last = swarm[-1]
    result = {
        "benchmark": "bittorrent",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "swarm": {"file_mib": args.size_mib, "seed_rate_bps": SEED_RATE, "peer_rate_bps": PEER_RATE,
                  "rounds": swarm, "ratio_is": "wirelab/aria2c time: lower is better",
                  "target": "wirelab at most 1.3x the bound at the largest N, at most 1x aria2c at every N",
                  "met": bool(last["wirelab_vs_bound"] and last["wirelab_vs_bound"] <= 1.3
                              and all(r["ratio"] is not None and r["ratio"] <= 1.0 for r in swarm))},
        "single": single,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
