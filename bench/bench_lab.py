"""Bring-up and teardown of star labs on the netns backend, against the raw kernel baseline.

The baseline makes the same namespaces, veths, bridge and addresses with plain `ip -batch`
(one batch for the namespaces and links, one for the bridge, one per node for its addresses, run
with the same concurrency wirelab uses), and deletes them with one `ip -batch`. Both are measured
in the same run, alternately, and reported per node with the ratio.

    python -m bench.bench_lab [--hosts 50 200 500] [--repeat 3] [--out bench/results/lab.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from topology import lab as labs
from topology.backends.kernel import parallel, run_batch
from topology.gen import star
from topology.loader import loads
from topology.model import Lab
from topology.progress import Progress

TARGET_UP, TARGET_DOWN = 1.5, 2.0


def raw_up(lab: Lab, prefix: str) -> None:
    fabric = f"{prefix}f"
    names = {n: f"{prefix}{i}" for i, n in enumerate(lab.nodes)}
    run_batch("ip", [f"netns add {ns}" for ns in [fabric, *names.values()]])
    run_batch("ip", [f"link add name eth0 netns {names[n.name]} type veth peer name p{i} netns {fabric}"
                     for i, n in enumerate(lab.nodes.values())])
    run_batch("ip", ["link add lan type bridge", "link set lan up"]
              + [line for i in range(len(names)) for line in (f"link set p{i} master lan", f"link set p{i} up")],
              netns=fabric)

    def address(node) -> None:
        run_batch("ip", ["link set lo up", f"addr add {node.interfaces[0].address} dev eth0", "link set eth0 up"],
                  netns=names[node.name])

    parallel(address, list(lab.nodes.values()), workers=4)


def raw_down(lab: Lab, prefix: str) -> None:
    run_batch("ip", [f"netns del {prefix}f"] + [f"netns del {prefix}{i}" for i in range(len(lab.nodes))])


def measure(hosts: int, repeat: int) -> dict:
    lab = loads(star(hosts, name=f"bench-star{hosts}"))
    prefix = f"wlraw{hosts}-"
    samples: dict[str, list[float]] = {"up": [], "down": [], "raw_up": [], "raw_down": []}
    for _ in range(repeat):
        for kind in ("raw", "wirelab"):
            settle()
            t0 = time.perf_counter()
            if kind == "raw":
                raw_up(lab, prefix)
            else:
                labs.up(lab, backend="netns")
            t1 = time.perf_counter()
            if kind == "raw":
                raw_down(lab, prefix)
            else:
                labs.down(lab.name)
            t2 = time.perf_counter()
            key = "raw_" if kind == "raw" else ""
            samples[key + "up"].append((t1 - t0) * 1000 / hosts)
            samples[key + "down"].append((t2 - t1) * 1000 / hosts)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "hosts": hosts,
        "up_ms_per_node": round(med["up"], 3),
        "raw_up_ms_per_node": round(med["raw_up"], 3),
        "up_ratio": round(med["up"] / med["raw_up"], 2),
        "down_ms_per_node": round(med["down"], 3),
        "raw_down_ms_per_node": round(med["raw_down"], 3),
        "down_ratio": round(med["down"] / med["raw_down"], 2),
        "samples_ms_per_node": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }


def settle() -> None:
    """Let the kernel finish tearing down the last run's namespaces (cleanup_net runs asynchronously)."""
    time.sleep(1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/results/lab.json")
    a = ap.parse_args()
    progress = Progress()
    runs = []
    for n in a.hosts:
        with progress.step(f"star of {n} hosts, {a.repeat} rounds of wirelab and raw ip -batch"):
            runs.append(measure(n, a.repeat))
        r = runs[-1]
        progress.note(f"up {r['up_ms_per_node']} ms/node (raw {r['raw_up_ms_per_node']}, x{r['up_ratio']}), "
                      f"down {r['down_ms_per_node']} ms/node (raw {r['raw_down_ms_per_node']}, x{r['down_ratio']})")
    result = {
        "benchmark": "lab-up-down",
        "backend": "netns",
        "baseline": "plain ip -batch: same namespaces, veths, bridge and addresses",
        "targets": {"up_ratio": TARGET_UP, "down_ratio": TARGET_DOWN},
        "machine": {"cpus": __import__("os").cpu_count(), "kernel": platform.release(), "python": sys.version.split()[0]},
        "runs": runs,
        "within_target": all(r["up_ratio"] <= TARGET_UP and r["down_ratio"] <= TARGET_DOWN for r in runs),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    try:
        main()
    finally:
        subprocess.run(["sh", "-c", "for n in $(ip netns list | grep -o '^wlraw[0-9]*-[0-9f]*'); do ip netns del $n; done"])
