"""Bring-up and teardown through the whole CLI: wirelab on netns, wirelab on mininet, and plain Mininet
building the same star (`SingleSwitchTopo` on LinuxBridge, no controller), in the same run.

Star labs of 50, 200 and 500 hosts, and campus (wirelab only: plain Mininet has no campus). Each round
times `wirelab up` and `wirelab down` as commands, and a plain Mininet script (`net.start()` then
`net.stop()`, timed inside the script so Python's start-up is left out). Medians of the rounds; the
ratios are wirelab's time over plain Mininet's.

    python -m bench.bench_mininet [--hosts 50 200 500] [--repeat 3] [--out bench/results/mininet.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from topology.gen import star

PLAIN_MININET = r"""
import json, sys, time
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import SingleSwitchTopo
setLogLevel("error")
t0 = time.perf_counter()
net = Mininet(topo=SingleSwitchTopo(int(sys.argv[1])), switch=LinuxBridge, controller=None, waitConnected=False)
net.start()
t1 = time.perf_counter()
net.stop()
t2 = time.perf_counter()
print(json.dumps({"up": t1 - t0, "down": t2 - t1}))
"""


def wirelab(*args: str) -> float:
    exe = Path(sys.executable).with_name("wirelab")
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"wirelab {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return time.perf_counter() - t0


def plain_mininet(hosts: int) -> tuple[float, float]:
    proc = subprocess.run(["/usr/bin/python3", "-c", PLAIN_MININET, str(hosts)], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"plain Mininet failed: {proc.stderr.strip()[-400:]}")
    t = json.loads(proc.stdout.strip().splitlines()[-1])
    return t["up"], t["down"]


def measure(lab_file: Path, name: str, hosts: int | None, repeat: int) -> dict:
    samples: dict[str, list[float]] = {k: [] for k in ("netns_up", "netns_down", "mininet_up", "mininet_down",
                                                        "plain_up", "plain_down")}
    for _ in range(repeat):
        for backend in ("netns", "mininet"):
            time.sleep(1.0)  # the kernel tears the last round's namespaces down asynchronously
            samples[f"{backend}_up"].append(wirelab("up", "-q", "-b", backend, str(lab_file)))
            samples[f"{backend}_down"].append(wirelab("down", "-q", name))
        if hosts is not None:
            time.sleep(1.0)
            up, down = plain_mininet(hosts)
            samples["plain_up"].append(up)
            samples["plain_down"].append(down)
    med = {k: round(statistics.median(v), 3) for k, v in samples.items() if v}
    out: dict = {"lab": name, "hosts": hosts, "seconds": med,
                 "samples": {k: [round(x, 3) for x in v] for k, v in samples.items() if v}}
    if hosts is not None:
        out["ratios"] = {f"{b}_{d}_over_plain_mininet": round(med[f"{b}_{d}"] / med[f"plain_{d}"], 2)
                         for b in ("netns", "mininet") for d in ("up", "down")}
    out["ratios_mininet_over_netns"] = {d: round(med[f"mininet_{d}"] / med[f"netns_{d}"], 2) for d in ("up", "down")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/results/mininet.json")
    ap.add_argument("--no-campus", action="store_true", help="star labs only")
    a = ap.parse_args()
    if not Path("/usr/lib/python3/dist-packages/mininet").is_dir():
        raise SystemExit("bench_mininet needs Debian's mininet package (make setup installs it)")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.hosts:
            lab_file = Path(tmp) / f"star{n}.yaml"
            lab_file.write_text(star(n, name=f"bench-mn{n}"))
            print(f"star of {n} hosts, {a.repeat} rounds ...", file=sys.stderr, flush=True)
            runs.append(measure(lab_file, f"bench-mn{n}", n, a.repeat))
            print(json.dumps(runs[-1]["seconds"]), file=sys.stderr)
        if not a.no_campus:
            campus = Path(__file__).resolve().parents[1] / "topology" / "labs" / "campus.yaml"
            print(f"campus, {a.repeat} rounds ...", file=sys.stderr, flush=True)
            runs.append(measure(campus, "campus", None, a.repeat))
    result = {
        "benchmark": "lab-up-down-through-the-cli",
        "baseline": "plain Mininet: SingleSwitchTopo(N) on LinuxBridge, no controller, start() and stop()",
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": sys.version.split()[0]},
        "runs": runs,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
