"""What a segment's `rate` gives a host, measured with iperf3 inside a lab, against what it promises.

A lab of two hosts on rated segments (10mbit and 100mbit by default). For each, iperf3 sends TCP and
then UDP (1472-byte datagrams, offered above the rate) from one host to the other. The promise: each
host has its own link at the rate in each direction, counted in Ethernet frame bytes, so the data a
transfer carries is rate x payload / frame (TCP: 1448 of 1514 bytes with timestamps; UDP: 1472 of
1514). Reported per rate and protocol: the measured goodput, the promised one, and their ratio
(target: within 0.5%, in both directions).

    python -m bench.bench_rate [--rates 10mbit 100mbit] [--seconds 6] [--out bench/results/rate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

from topology import lab as labs
from topology.linksettings import Rate
from topology.loader import loads

TOLERANCE = 0.005
ETHERNET, IP, TCP_WITH_TIMESTAMPS, UDP = 14, 20, 32, 8


def lab_text(rates: list[str]) -> str:
    segs = "".join(f"  s{i}: {{subnet: 10.66.{i}.0/24, rate: {r}}}\n" for i, r in enumerate(rates))
    ifaces = ", ".join(f"s{i}" for i in range(len(rates)))
    return f"name: bench-rate\nsegments:\n{segs}nodes:\n  a: {{interfaces: [{ifaces}]}}\n  b: {{interfaces: [{ifaces}]}}\n"


def iperf(running: labs.RunningLab, dst: str, seconds: float, udp_rate: Rate | None) -> float:
    """Goodput in bits per second as iperf3's receiver counts it."""
    server = running.popen("b", ["iperf3", "-s", "-1", "-B", dst], stdout=sys.stderr, stderr=sys.stderr)
    try:
        for _ in range(100):  # readiness: the server listens (a probe connection would be its one client)
            if running.run("b", ["ss", "-Hltn", "sport", "=", ":5201"]).stdout.strip():
                break
            time.sleep(0.05)
        argv = ["iperf3", "-c", dst, "-t", str(seconds), "-O", "1", "-J"]
        if udp_rate:
            argv += ["-u", "-l", "1472", "-b", str(2 * udp_rate.bits_per_second)]
        proc = running.run("a", argv, timeout=seconds + 30, check=True)
    finally:
        server.wait(10)
    end = json.loads(proc.stdout[proc.stdout.index("{"):])["end"]
    return end["sum"]["bits_per_second"] if udp_rate else end["sum_received"]["bits_per_second"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", nargs="+", default=["10mbit", "100mbit"])
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--out", default="bench/results/rate.json")
    a = ap.parse_args()
    if shutil.which("iperf3") is None:
        sys.exit("bench_rate needs iperf3: make setup")
    lab = loads(lab_text(a.rates))
    running = labs.up(lab)
    results = []
    try:
        for i, word in enumerate(a.rates):
            rate = Rate.parse(word)
            dst = running.address("b", f"s{i}")
            for proto, payload, header in (("tcp", 1448, TCP_WITH_TIMESTAMPS), ("udp", 1472, UDP)):
                measured = iperf(running, dst, a.seconds, rate if proto == "udp" else None)
                promised = rate.bits_per_second * payload / (payload + header + IP + ETHERNET)
                results.append({"rate": str(rate), "proto": proto, "goodput_bps": round(measured),
                                "promised_bps": round(promised), "ratio": round(measured / promised, 5),
                                "within_target": abs(measured / promised - 1) <= TOLERANCE})
    finally:
        labs.down(lab.name)
    result = {"bench": "rate", "tolerance": TOLERANCE, "seconds": a.seconds, "machine": platform.platform(),
              "results": results}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
