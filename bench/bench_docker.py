"""Bring-up and teardown of labs on the docker backend, against plain Docker and against netns.

For campus and a 50-host star, each round measures, alternately and in the same run:
  docker   `wirelab up --backend docker --no-services`, then `wirelab down`
  plain    the same number of plain `docker run -d` containers (same image, same concurrency) on one
           Docker bridge network, then their removal and the network's: what Docker costs by itself
  netns    the same lab on the netns backend
and reports medians with the ratios docker/plain and docker/netns. JSON to bench/results/docker.json and stdout.

    python -m bench.bench_docker [--repeat 3] [--out bench/results/docker.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from topology import lab as labs
from topology.backends.kernel import parallel
from topology.gen import star
from topology.loader import load, loads
from topology.model import Lab
from topology.progress import Progress

BENCH_LABEL = "wirelab.bench"


def labs_to_measure() -> list[Lab]:
    campus = load("campus")
    text = Path(campus.source).read_text().replace("name: campus", "name: dk-bench-campus", 1)
    return [loads(text), loads(star(50, name="dk-bench-star50"))]


def plain_up(client, image: str, n: int, tag: str) -> None:
    net = client.networks.create(f"{tag}-net", driver="bridge", labels={BENCH_LABEL: tag})

    def run(i: int) -> None:
        host_config = client.api.create_host_config(network_mode=net.name)
        c = client.api.create_container(image, command=["tini", "--", "sleep", "infinity"], name=f"{tag}-{i}",
                                        hostname=f"h{i}", labels={BENCH_LABEL: tag}, host_config=host_config)
        client.api.start(c["Id"])

    parallel(run, list(range(n)), workers=8)


def plain_down(client, tag: str) -> None:
    from docker.errors import APIError

    found = client.api.containers(all=True, filters={"label": f"{BENCH_LABEL}={tag}"})
    parallel(lambda c: client.api.remove_container(c["Id"], force=True), found, workers=8)
    for net in client.networks.list(filters={"label": f"{BENCH_LABEL}={tag}"}):
        try:
            net.remove()
        except APIError as e:
            # dockerd sometimes keeps a stale endpoint after a container's runc clean-up fails; that
            # network is left to dockerd (a restart drops it) and the next round uses a fresh name.
            print(f"bench_docker: left network {net.name}: {e.explanation}", file=sys.stderr)


def measure(client, image: str, lab: Lab, repeat: int) -> dict:
    n = len(lab.nodes)
    base_tag = f"dk-bench-plain{n}"
    samples: dict[str, list[float]] = {f"{k}_{d}": [] for k in ("docker", "plain", "netns") for d in ("up", "down")}
    for round_ in range(repeat):
        tag = f"{base_tag}-{round_}"
        for kind in ("plain", "docker", "netns"):
            time.sleep(1.0)  # the kernel tears the last round's namespaces down asynchronously
            t0 = time.perf_counter()
            if kind == "plain":
                plain_up(client, image, n, tag)
            else:
                labs.up(lab, backend=kind, services=False)
            t1 = time.perf_counter()
            if kind == "plain":
                plain_down(client, tag)
            else:
                labs.down(lab.name)
            t2 = time.perf_counter()
            samples[f"{kind}_up"].append(t1 - t0)
            samples[f"{kind}_down"].append(t2 - t1)
    med = {k: statistics.median(v) for k, v in samples.items()}
    out: dict = {"lab": lab.name, "nodes": n, "segments": len(lab.segments),
                 "links": sum(len(x.interfaces) for x in lab.nodes.values())}
    for d in ("up", "down"):
        out[f"docker_{d}_s"] = round(med[f"docker_{d}"], 3)
        out[f"plain_docker_{d}_s"] = round(med[f"plain_{d}"], 3)
        out[f"netns_{d}_s"] = round(med[f"netns_{d}"], 3)
        out[f"{d}_ratio_vs_plain_docker"] = round(med[f"docker_{d}"] / med[f"plain_{d}"], 2)
        out[f"{d}_ratio_vs_netns"] = round(med[f"docker_{d}"] / med[f"netns_{d}"], 2)
    out["samples_s"] = {k: [round(x, 3) for x in v] for k, v in samples.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="bench/results/docker.json")
    a = ap.parse_args()
    result: dict = {
        "benchmark": "docker-lab-up-down",
        "backend": "docker",
        "baseline": "plain docker run -d of the same image, same count and concurrency, on one bridge network; "
                    "and the same lab on the netns backend",
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": sys.version.split()[0]},
    }
    skipped = _unavailable()
    if skipped:
        result["skipped"] = skipped
        print(json.dumps(result, indent=1))
        return 0
    import docker

    from topology.backends.docker import IMAGE

    client = docker.from_env()
    result["image"] = IMAGE
    result["image_mb"] = round(client.images.get(IMAGE).attrs["Size"] / 1e6)
    result["docker_server"] = client.version().get("Version")
    progress = Progress()
    runs = []
    try:
        for lab in labs_to_measure():
            with progress.step(f"{lab.name}: {len(lab.nodes)} nodes, {a.repeat} rounds of docker, plain docker, netns"):
                runs.append(measure(client, IMAGE, lab, a.repeat))
            r = runs[-1]
            progress.note(f"up {r['docker_up_s']} s (plain docker {r['plain_docker_up_s']}, "
                          f"x{r['up_ratio_vs_plain_docker']}; netns {r['netns_up_s']}), "
                          f"down {r['docker_down_s']} s (plain docker {r['plain_docker_down_s']}, "
                          f"x{r['down_ratio_vs_plain_docker']}; netns {r['netns_down_s']})")
    finally:
        for lab in labs_to_measure():
            labs.down(lab.name)
        for n in {len(x.nodes) for x in labs_to_measure()}:
            plain_down(client, f"dk-bench-plain{n}")
    result["runs"] = runs
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import docker

        from topology.backends.docker import IMAGE

        docker.from_env().images.get(IMAGE)
    except ImportError:
        return "the docker SDK is not installed"
    except Exception as e:  # no daemon, or no image: say which
        return f"no dockerd or no {IMAGE} image (make images): {e.__class__.__name__}"
    return None


if __name__ == "__main__":
    sys.exit(main())
