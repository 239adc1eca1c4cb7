"""DNS queries per second and latency with dnsperf, wirelab's servers against two baselines in one run.

On loopback addresses (the same link for everyone), dnsperf keeps 100 queries in flight for a few
seconds against each of:

  resolver        wirelab's caching recursive resolver, the answer already in its cache (it walked the
                  campus hierarchy, served on loopback, once before the run)
  authoritative   wirelab's authoritative server for cs.umass.edu
  dnslib-fixed    dnslib's own example server (`python -m dnslib.fixedresolver`, its DNSServer with a
                  fixed answer), logging off: the baseline the target is set against (at least 5x)
  dnsmasq         dnsmasq as a caching forwarder to wirelab's authoritative server, answer in its cache

Each server runs pinned to one CPU and dnsperf to the other (when there are two), so they do not fight.

Under attack: each round also measures the resolver and the authoritative server while a second sender
sends them hostile packets at a fixed rate (--hostile-rate a second, 100 by default): names made of chains
of compression pointers (refused past the jump bound), names that use every jump allowed (read whole),
labels over 63 bytes and names over 255, each about 1.5 KB where size helps. Its figure is set against the same server's clean figure from the same run
(target: at least 0.5x). Before the fix, about 17 of the first kind a second kept a server busy.

    python -m bench.bench_dns [--seconds 4] [--rounds 3] [--hostile-rate 50] [--out bench/results/dns.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from services.dns.probe import NotAnswering, wait_until_answering

ZONES = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.d" / "dns"
NET = "127.0.54."
ROOT, EDU, UMASS, RESOLVER, FIXED, DNSMASQ = (NET + s for s in ("10", "20", "30", "53", "60", "70"))
AUTH = {ROOT: ["root.zone"], EDU: ["edu.zone"], UMASS: ["umass.edu.zone", "cs.umass.edu.zone"]}
QNAME = "gaia.cs.umass.edu"
TARGET = 5.0
ATTACK_TARGET = 0.5  # answers per second under attack, against the same server's clean figure


def hostile_packets() -> list[bytes]:
    """One of each kind of hostile query, each about a UDP datagram's worth (1.5 KB) where size helps."""
    def chain(records: int, restart: int = 0) -> bytes:
        out = bytearray(struct.pack("!HHHHHH", 0x6666, 0x0100, 1, 0, 0, records))
        out += b"".join(bytes([len(p)]) + p.encode() for p in QNAME.split(".")) + b"\x00\x00\x01\x00\x01"
        prev = 12
        for i in range(1, records + 1):
            here = len(out)
            out += (0xC000 | prev).to_bytes(2, "big") + struct.pack("!HHIHB", 16, 1, 0, 1, 0)  # TXT ""
            prev = 12 if restart and i % restart == 0 else here
        return bytes(out)

    def questions(count: int) -> bytes:  # each question's name a pointer to the one before: 6 bytes a jump
        out = bytearray(struct.pack("!HHHHHH", 0x6868, 0x0100, count, 0, 0, 0)) + b"\x00\x00\x01\x00\x01"
        for i in range(1, count):
            out += (0xC000 | (12 + 5 + 6 * (i - 2) if i > 1 else 12)).to_bytes(2, "big") + b"\x00\x01\x00\x01"
        return bytes(out)

    head = struct.pack("!HHHHHH", 0x6767, 0x0100, 1, 0, 0, 0)
    return [
        questions(250),  # 250 questions, each name a pointer to the previous one: refused at the bound
        chain(110),  # the same through additional records
        chain(110, restart=32),  # every name 32 jumps or fewer: read whole, the most work a message may cost
        head + b"\x46" + b"a" * 70 + b"\x00\x00\x01\x00\x01",  # a 70-byte label
        head + b"".join(b"\x3c" + b"b" * 60 for _ in range(5)) + b"\x00\x00\x01\x00\x01",  # a 305-byte name
    ]


class Flood(threading.Thread):
    """Hostile packets to one server at a fixed rate, from a socket whose replies are thrown away."""

    def __init__(self, addr: str, rate: float, seconds: float):
        super().__init__(daemon=True)
        self.addr, self.rate, self.seconds = addr, rate, seconds
        self.sent = 0

    def run(self) -> None:
        packets = hostile_packets()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            start = time.monotonic()
            end = start + self.seconds
            while (now := time.monotonic()) < end:
                due = int((now - start) * self.rate) + 1
                while self.sent < due:
                    try:
                        s.sendto(packets[self.sent % len(packets)], (self.addr, 53))
                    except OSError:
                        pass
                    self.sent += 1
                try:
                    while s.recv(65535):  # drop the FORMERRs: a full receive buffer would cost nothing, but tidy
                        pass
                except OSError:
                    pass
                time.sleep(min(1 / self.rate, max(0.0, end - time.monotonic())))


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None and shutil.which("taskset") else argv


def wait_answers(addr: str, proc: subprocess.Popen, need_answer: bool, timeout: float = 15.0) -> None:
    try:
        wait_until_answering(addr, QNAME, alive=lambda: proc.poll() is None, need_answer=need_answer,
                             timeout=timeout)
    except NotAnswering as e:
        raise SystemExit(f"bench_dns: {e} ({proc.args[0]} ...)") from None


def dnsperf(addr: str, seconds: float, queries: Path, cpu: int | None) -> dict:
    out = subprocess.run(pinned(["dnsperf", "-s", addr, "-d", str(queries), "-l", str(seconds), "-q", "100",
                                 "-c", "1", "-T", "1"], cpu),
                         capture_output=True, text=True, timeout=seconds + 60).stdout

    def figure(label: str) -> float:
        m = re.search(rf"{label}:\s+([\d.]+)", out)
        if m is None:
            raise SystemExit(f"bench_dns: no '{label}' in dnsperf's output:\n{out}")
        return float(m.group(1))

    lat = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", out)
    return {
        "qps": round(figure("Queries per second"), 1),
        "latency_ms": {"avg": round(float(lat.group(1)) * 1000, 3), "min": round(float(lat.group(2)) * 1000, 3),
                       "max": round(float(lat.group(3)) * 1000, 3)},
        "completed": int(figure("Queries completed")),
        "lost": int(figure("Queries lost")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each dnsperf run")
    ap.add_argument("--rounds", type=int, default=3, help="runs per server; the median is reported")
    ap.add_argument("--hostile-rate", type=float, default=100.0, help="hostile packets a second during the attack runs")
    ap.add_argument("--out", default="bench/results/dns.json")
    args = ap.parse_args()
    if shutil.which("dnsperf") is None:
        raise SystemExit("bench_dns: needs dnsperf (apt-get install dnsperf)")
    two = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if two else (None, None)
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-dns-") as tmp:
        d = Path(tmp)
        for f in ZONES.glob("*.zone"):
            (d / f.name).write_text(f.read_text().replace("10.0.5.", NET))
        (d / "root.hints").write_text((ZONES / "root.hints").read_text().replace("10.0.5.", NET))
        queries = d / "queries.txt"
        queries.write_text(f"{QNAME} A\n")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        servers = {}
        try:
            for addr, zones in AUTH.items():
                argv = [sys.executable, "-m", "services.dns", "auth", "--quiet", "--listen", addr]
                for z in zones:
                    argv += ["--zone", str(d / z)]
                procs.append(subprocess.Popen(pinned(argv, server_cpu), **quiet))
                servers[addr] = procs[-1]
            procs.append(subprocess.Popen(pinned([sys.executable, "-m", "services.dns", "resolver", "--quiet",
                                                                 "--listen", RESOLVER, "--root-hints", str(d / "root.hints")],
                                                 server_cpu), **quiet))
            servers[RESOLVER] = procs[-1]
            procs.append(subprocess.Popen(pinned([sys.executable, "-m", "dnslib.fixedresolver", "-a", FIXED,
                                                  "-p", "53", "-r", ". 60 IN A 10.0.5.80",
                                                  "--log=-request,-reply,-truncated,-error,-recv,-send,-data"],
                                                 server_cpu), **quiet))
            servers[FIXED] = procs[-1]
            if shutil.which("dnsmasq"):
                procs.append(subprocess.Popen(pinned(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                                                      "--no-resolv", "--no-hosts", "--bind-interfaces",
                                                      f"--listen-address={DNSMASQ}", "--port=53",
                                                      f"--server={UMASS}", "--cache-size=1000",
                                                      f"--pid-file={d}/dnsmasq.pid", "--user=root"],
                                                     server_cpu), **quiet))
                servers[DNSMASQ] = procs[-1]
            for addr, proc in servers.items():
                wait_answers(addr, proc, addr not in (ROOT, EDU))  # also fills the resolver's and dnsmasq's cache
            runs: dict[str, list[dict]] = {}
            for _ in range(args.rounds):  # rounds alternate the servers, so a noisy moment hits all alike
                for name, addr in (("resolver", RESOLVER), ("authoritative", UMASS), ("dnslib-fixed", FIXED),
                                   ("dnsmasq", DNSMASQ)):
                    if addr in servers:
                        r = dnsperf(addr, args.seconds, queries, client_cpu)
                        runs.setdefault(name, []).append(r)
                        print(f"{name:14} {r['qps']:>10.0f} q/s  avg {r['latency_ms']['avg']} ms", file=sys.stderr)
                for name, addr in (("resolver", RESOLVER), ("authoritative", UMASS)):
                    flood = Flood(addr, args.hostile_rate, args.seconds + 1)
                    flood.start()
                    r = dnsperf(addr, args.seconds, queries, client_cpu)
                    flood.join()
                    if servers[addr].poll() is not None:
                        raise SystemExit(f"bench_dns: the {name} died under hostile packets")
                    r["hostile_sent"] = flood.sent
                    runs.setdefault(f"{name}-under-attack", []).append(r)
                    print(f"{name + ' (attack)':14} {r['qps']:>10.0f} q/s  avg {r['latency_ms']['avg']} ms", file=sys.stderr)
            results = {}
            for name, rs in runs.items():  # the median round by q/s
                med = sorted(rs, key=lambda r: r["qps"])[len(rs) // 2]
                results[name] = med | {"qps_samples": [r["qps"] for r in rs]}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    base = results["dnslib-fixed"]["qps"]
    report = {
        "benchmark": "dns-qps",
        "tool": "dnsperf -q 100 (100 queries in flight), one client socket, UDP, loopback",
        "query": f"{QNAME} A",
        "seconds_each": args.seconds,
        "rounds": args.rounds,
        "baseline": "dnslib's example DNSServer with a fixed answer (python -m dnslib.fixedresolver), no logging",
        "target": {"ratio_to_dnslib": TARGET},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "pinned": two},
        "results": results,
        "ratios": {f"{name}_to_dnslib": round(r["qps"] / base, 2) for name, r in results.items()
                   if name != "dnslib-fixed" and not name.endswith("-under-attack")},
    }
    if "dnsmasq" in results:
        report["ratios"].update({f"{name}_to_dnsmasq": round(results[name]["qps"] / results["dnsmasq"]["qps"], 2)
                                 for name in ("resolver", "authoritative")})
    report["under_attack"] = {
        "hostile_rate_per_s": args.hostile_rate,
        "hostile_packets": "pointer chains (250 questions, 110 records; and 32 jumps a name, read whole), "
                           "a 70-byte label, a 305-byte name, in turn",
        "target": {"ratio_to_clean": ATTACK_TARGET},
    }
    for name in ("resolver", "authoritative"):
        report["ratios"][f"{name}_under_attack_to_clean"] = round(
            results[f"{name}-under-attack"]["qps"] / results[name]["qps"], 2)
    report["meets_target"] = {name: report["ratios"][f"{name}_to_dnslib"] >= TARGET
                              for name in ("resolver", "authoritative")}
    report["meets_target"].update({f"{name}_under_attack": report["ratios"][f"{name}_under_attack_to_clean"]
                                   >= ATTACK_TARGET for name in ("resolver", "authoritative")})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
