"""`wirelab check` on generated star labs: time per host, a small lab against a large one, in one run.

Checking is linear when a host costs the same in a lab of 10,000 as in one of 1,000; the ratio of the
two per-host times is the figure (target: at most 1.5). Before the fix, 10,000 hosts took 70 s against
3.5 s for 2,000: 4x the time per host. Each size is loaded from its text as `check` does (YAML,
schema, addresses, gateways); the best of --repeat runs counts.

    python -m bench.bench_check [--small 1000] [--large 10000] [--repeat 3] [--out bench/results/check.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from topology.gen import star
from topology.loader import loads

TARGET = 1.5


def per_host(hosts: int, repeat: int) -> float:
    text = star(hosts)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        loads(text, f"star{hosts}.yaml")
        best = min(best, time.perf_counter() - t0)
    return best / hosts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/results/check.json")
    a = ap.parse_args()
    small, large = per_host(a.small, a.repeat), per_host(a.large, a.repeat)
    result = {"bench": "check", "machine": platform.platform(),
              "small_hosts": a.small, "small_us_per_host": round(small * 1e6, 1),
              "large_hosts": a.large, "large_us_per_host": round(large * 1e6, 1),
              "large_seconds": round(large * a.large, 2),
              "ratio": round(large / small, 3), "target": TARGET, "within_target": large / small <= TARGET}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
