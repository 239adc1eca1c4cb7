"""The swarm backend on a local swarm of three hosts, against the docker backend on one, in the same run.

  lab     bring-up (with services) and teardown of campus spread over 3 hosts (swarm), against the
          same lab on the docker backend; medians of --repeat rounds, alternating, and the ratios
  class   bring-up of a class of N campus instances (N = 2, 4, 8): seconds per instance, and memory
          per instance (the drop of the machine's MemAvailable, divided by N); an N whose estimated
          memory exceeds what the machine has free is skipped and says so

The local swarm is made here and removed after (one that is already up is used and left up).
JSON to bench/results/swarm.json and stdout.

    python -m bench.bench_swarm [--repeat 2] [--sizes 2,4,8] [--out bench/results/swarm.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from topology import lab as labs
from topology.backends.docker import IMAGE
from topology.backends.swarm_hosts import LOCAL_FILE, local_down, local_up
from topology.loader import load, loads
from topology.progress import Progress

HOSTS = 3


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def campus_copy(name: str):
    campus = load("campus")
    return loads(Path(campus.source).read_text().replace("name: campus", f"name: {name}", 1),
                 f"{name}.yaml", source=Path(campus.source))


def lab_rounds(repeat: int) -> dict:
    samples: dict[str, list[float]] = {f"{k}_{d}": [] for k in ("swarm", "docker") for d in ("up", "down")}
    for _ in range(repeat):
        for kind in ("swarm", "docker"):
            lab = campus_copy(f"bsw-{kind}")
            t0 = time.perf_counter()
            labs.up(lab, backend=kind)
            t1 = time.perf_counter()
            labs.down(lab.name)
            t2 = time.perf_counter()
            samples[f"{kind}_up"].append(t1 - t0)
            samples[f"{kind}_down"].append(t2 - t1)
    med = {k: round(statistics.median(v), 2) for k, v in samples.items()}
    return {"nodes": len(campus_copy("bsw-x").nodes), "seconds": med,
            "ratio_up_swarm_over_docker": round(med["swarm_up"] / med["docker_up"], 2),
            "ratio_down_swarm_over_docker": round(med["swarm_down"] / med["docker_down"], 2), "samples": samples}


def class_round(n: int, per_instance_bytes: float | None) -> dict:
    from topology.backends.swarm_class import class_down, class_up, students_from

    if per_instance_bytes and per_instance_bytes * n > 0.7 * mem_available():
        return {"instances": n, "skipped": f"needs ~{per_instance_bytes * n / 2**30:.1f} GiB, the machine has "
                                          f"{mem_available() / 2**30:.1f} GiB available"}
    before = mem_available()
    t0 = time.perf_counter()
    class_up("campus", students_from(n, None), Progress(quiet=True))
    took = time.perf_counter() - t0
    time.sleep(2)  # services settle (their first allocations) before memory is read
    used = before - mem_available()
    errors = class_down("campus", Progress(quiet=True))
    return {"instances": n, "seconds": round(took, 1), "seconds_per_instance": round(took / n, 2),
            "mib_per_instance": round(used / n / 2**20, 1), "down_errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sizes", default="2,4,8")
    ap.add_argument("--out", type=Path, default=Path("bench/results/swarm.json"))
    a = ap.parse_args()
    made = not LOCAL_FILE.exists()
    if made:
        local_up(HOSTS, IMAGE, Progress(quiet=True))
    os.environ["WIRELAB_SWARM"] = str(LOCAL_FILE)
    try:
        result = {"bench": "swarm", "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
                  "hosts": HOSTS, "lab": lab_rounds(a.repeat), "class": []}
        per = None
        for n in (int(s) for s in a.sizes.split(",")):
            row = class_round(n, per)
            result["class"].append(row)
            if "mib_per_instance" in row:
                per = row["mib_per_instance"] * 2**20
    finally:
        if made:
            local_down(Progress(quiet=True))
    text = json.dumps(result, indent=1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
