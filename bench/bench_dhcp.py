"""DHCP benchmark: complete DORA exchanges per second, wirelab's server against Kea, in one run.

Both servers run on the same node of the same lab and are driven by perfdhcp (Debian kea-admin) from
a second node over the same link, at the same offered rates; each server's figure is the best
completed DORA rate it reached. Leases are durable on disk for wirelab's server (journal synced
before each batch of ACKs); Kea uses its memfile backend with persistence on (appended to a CSV
file, not synced). Both lease files live on the same disk folder.

    .venv/bin/python bench/bench_dhcp.py [--rates 3000,6000,9000,12000] [--period 4] [--rounds 2]

Prints JSON and writes it to bench/results/dhcp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from topology import lab as labs  # noqa: E402
from topology.loader import loads  # noqa: E402

LAB = """
name: dhcp-bench
segments:
  lan: {subnet: 10.62.0.0/16}
nodes:
  server: {interfaces: [{segment: lan, address: 10.62.0.2}]}
  load: {interfaces: [{segment: lan, address: 10.62.0.3}]}
"""
SERVER = "10.62.0.2"
POOL = ("10.62.1.0", "10.62.255.254")


def wirelab_cmd(work: Path) -> tuple[list[str], Path]:
    cfg = work / "wirelab.yaml"
    cfg.write_text(f"lease_time: 3600\npools:\n  - {{subnet: 10.62.0.0/16, range: {POOL[0]}-{POOL[1]}, "
                   f"router: 10.62.0.1}}\n")
    leases = work / "wirelab-leases.jsonl"
    return [sys.executable, "-m", "services.dhcp", "server", "--log-level", "warning", "--config", str(cfg),
            "--leases", str(leases)], leases


def kea_cmd(work: Path) -> tuple[list[str], Path]:
    leases = work / "kea-leases4.csv"
    conf = {"Dhcp4": {
        "interfaces-config": {"interfaces": ["eth0"]},
        "lease-database": {"type": "memfile", "persist": True, "name": str(leases), "lfc-interval": 0},
        "valid-lifetime": 3600,
        "subnet4": [{"id": 1, "subnet": "10.62.0.0/16", "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                     "option-data": [{"name": "routers", "data": "10.62.0.1"}]}],
        "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stdout"}]}],
    }}
    path = work / "kea.json"
    path.write_text(json.dumps(conf))
    run = work / "kea-run"
    run.mkdir(exist_ok=True)
    return ["env", f"KEA_PIDFILE_DIR={run}", f"KEA_LOCKFILE_DIR={run}", "kea-dhcp4", "-c", str(path)], leases


def perfdhcp(running: labs.RunningLab, rate: int, period: float, clients: int = 1_000_000) -> dict:
    out = running.run("load", ["perfdhcp", "-4", "-l", "eth0", "-r", str(rate), "-R", str(clients),
                               "-p", str(period), "-W", "500000", SERVER], timeout=period + 60).stdout
    m = re.search(r"Rate: ([\d.]+) 4-way exchanges/second", out)
    drops = [float(x) for x in re.findall(r"drops ratio: ([\d.]+) ?%", out)]
    return {"offered": rate, "dora_per_s": float(m.group(1)) if m else 0.0,
            "drop_pct_discover": drops[0] if drops else None,
            "drop_pct_request": drops[1] if len(drops) > 1 else None}


def wait_answering(running: labs.RunningLab, proc: subprocess.Popen, timeout: float = 20) -> None:
    """Readiness observed: one complete DORA from the load node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited at start ({proc.returncode})")
        out = running.run("load", ["perfdhcp", "-4", "-l", "eth0", "-n", "1", "-R", "1", "-W", "200000",
                                   SERVER], timeout=20).stdout
        if re.search(r"received packets: [1-9]", out):
            return
        time.sleep(0.2)
    raise RuntimeError("server did not answer a DORA within the timeout")


def count_leases(name: str, path: Path) -> int:
    if not path.exists():
        return 0
    if name == "kea":
        return len({line.split(",")[0] for line in path.read_text().splitlines()[1:] if line})
    from services.dhcp.leases import LeaseJournal

    return sum(1 for x in LeaseJournal(path).load().values() if x.state == "bound")


def measure(running: labs.RunningLab, name: str, work: Path, rates: list[int], period: float) -> dict:
    argv, leases = (wirelab_cmd if name == "wirelab" else kea_cmd)(work)
    for p in leases.parent.glob(leases.name + "*"):
        p.unlink()
    proc = running.popen("server", argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=str(ROOT))
    runs = []
    try:
        wait_answering(running, proc)
        for rate in rates:
            runs.append(perfdhcp(running, rate, period))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return {"runs": runs, "peak": max(r["dora_per_s"] for r in runs), "leases_on_disk": count_leases(name, leases)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="3000,6000,9000,12000")
    ap.add_argument("--period", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="alternate the servers this many times; best kept")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "dhcp.json"))
    a = ap.parse_args()
    missing = [t for t in ("perfdhcp", "kea-dhcp4") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        why = "needs root" if os.geteuid() != 0 else f"missing {', '.join(missing)} (apt-get install kea-admin kea-dhcp4-server)"
        print(json.dumps({"benchmark": "dhcp", "skipped": why}))
        return 0
    rates = [int(r) for r in a.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="wirelab-dhcp-bench-", dir="/var/tmp"))  # on disk, not tmpfs
    labs.down("dhcp-bench")
    running = labs.up(loads(LAB), services=False)
    results: dict[str, list[dict]] = {"wirelab": [], "kea": []}
    try:
        for _ in range(a.rounds):
            for name in ("wirelab", "kea"):
                results[name].append(measure(running, name, work, rates, a.period))
    finally:
        labs.down("dhcp-bench")
        shutil.rmtree(work, ignore_errors=True)
    best = {n: max(rs, key=lambda r: r["peak"]) for n, rs in results.items()}
    ratio = best["wirelab"]["peak"] / best["kea"]["peak"] if best["kea"]["peak"] else None
    report = {
        "benchmark": "dhcp-dora",
        "unit": "complete DORA exchanges per second (perfdhcp, best of the offered rates)",
        "figure": best["wirelab"]["peak"],
        "baseline": best["kea"]["peak"],
        "baseline_name": "Kea kea-dhcp4 (memfile, persist on, lfc off)",
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target_ratio": 0.5,
        "meets_target": ratio is not None and ratio >= 0.5,
        "durability": {"wirelab": "journal fdatasync'ed before each batch of ACKs",
                       "kea": "memfile CSV appended, not fsync'ed"},
        "leases_on_disk": {n: best[n]["leases_on_disk"] for n in best},
        "rates": rates, "period_s": a.period, "rounds": a.rounds,
        "runs": results,
        "host": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
    }
    text = json.dumps(report, indent=1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
