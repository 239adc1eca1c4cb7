"""SMTP messages accepted per second, driven by Postfix's smtp-source (10 sessions, 1 KB messages), against
wirelab's mail server and three peers, on loopback addresses in one run:

  wirelab          python -m services.smtp serve: every message fsynced into the queue before its 250, and
                   delivered (fsynced again) into a Maildir by the delivery agent in the same process
  aiosmtpd-noop    aiosmtpd (PyPI) with a handler that does nothing: the target's baseline (at least 1x)
  aiosmtpd-fsync   aiosmtpd writing and fsyncing each message to a file before its 250
  smtp-sink        Postfix's smtp-sink, which accepts and discards

The servers run pinned to one CPU and smtp-source to the other. Then a relay figure: 1,000 messages through
two wirelab hops (client -> crepes -> hamburger, MX found in DNS), time until the last is in the mailbox.

    python -m bench.bench_smtp [--messages 3000] [--rounds 3] [--out bench/results/smtp.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NET = "127.0.26."
WIRELAB, NOOP, FSYNC, SINK, HOP1, DNS = (NET + s for s in ("10", "20", "30", "40", "50", "53"))
TARGET = 1.0


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None and shutil.which("taskset") else argv


def wait_greeting(addr: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_smtp: the server on {addr} exited ({proc.args})")
        try:
            with socket.create_connection((addr, 25), timeout=1) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench_smtp: no greeting from {addr} within {timeout:.0f} s")


def smtp_source(addr: str, messages: int, cpu: int | None, rcpt: str = "bob@hamburger.edu") -> float:
    start = time.perf_counter()
    out = subprocess.run(pinned(["smtp-source", "-s", "10", "-m", str(messages), "-l", "1024", "-f",
                                 "alice@crepes.fr", "-t", rcpt, f"{addr}:25"], cpu),
                         capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"bench_smtp: smtp-source against {addr} failed: {out.stderr.strip()[:300]}")
    return round(messages / took, 1)


def fsync_server(addr: str, folder: str) -> None:
    """aiosmtpd with a handler that writes and fsyncs each message before answering (the durable peer)."""
    from aiosmtpd.controller import Controller

    class Durable:
        n = 0

        async def handle_DATA(self, server, session, envelope):
            self.n += 1
            path = os.path.join(folder, f"{self.n}.eml")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, envelope.original_content)
            os.fsync(fd)
            os.close(fd)
            return "250 OK"

    ctl = Controller(Durable(), hostname=addr, port=25)
    ctl.start()
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        ctl.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=3000, help="messages per smtp-source run")
    ap.add_argument("--rounds", type=int, default=3, help="runs per server; the median is reported")
    ap.add_argument("--relay-messages", type=int, default=1000)
    ap.add_argument("--out", default="bench/results/smtp.json")
    ap.add_argument("--fsync-server", nargs=2, metavar=("ADDR", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fsync_server:
        fsync_server(*args.fsync_server)
        return
    for tool in ("smtp-source", "smtp-sink"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_smtp: needs {tool} (apt-get install postfix)")
    two = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if two else (None, None)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-smtp-") as tmp:
        d = Path(tmp)
        (d / "accounts").write_text("bob:hungry\n")
        (d / "fsync").mkdir()
        mta = [sys.executable, "-m", "services.smtp", "serve", "--quiet", "--accounts", str(d / "accounts"),
               "--relay-from", "127.0.0.0/8", "--dns", DNS]
        servers = {
            "wirelab": (WIRELAB, mta + ["--hostname", "hamburger.edu", "--domain", "hamburger.edu", "--listen",
                                        WIRELAB, "--mail-dir", str(d / "mail"), "--queue-dir", str(d / "queue")]),
            "aiosmtpd-noop": (NOOP, [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                                     "-l", f"{NOOP}:25"]),
            "aiosmtpd-fsync": (FSYNC, [sys.executable, "-m", "bench.bench_smtp", "--fsync-server", FSYNC,
                                       str(d / "fsync")]),
            "smtp-sink": (SINK, ["smtp-sink", "-u", "nobody", "-c", f"{SINK}:25", "1024"]),
        }
        try:
            for addr, argv in servers.values():
                procs.append(subprocess.Popen(pinned(argv, server_cpu), **quiet))
                wait_greeting(addr, procs[-1])
            runs: dict[str, list[float]] = {}
            for _ in range(args.rounds):  # rounds alternate the servers, so a noisy moment hits all alike
                for name, (addr, _) in servers.items():
                    rate = smtp_source(addr, args.messages, client_cpu)
                    runs.setdefault(name, []).append(rate)
                    print(f"{name:15} {rate:>9.0f} msg/s", file=sys.stderr)
            delivered = sum(1 for _ in (d / "mail" / "bob" / "new").iterdir())
            relay = relay_run(d, args.relay_messages, client_cpu, server_cpu, quiet)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results = {name: {"msgs_per_s": sorted(rs)[len(rs) // 2], "samples": rs} for name, rs in runs.items()}
    base = results["aiosmtpd-noop"]["msgs_per_s"]
    report = {
        "benchmark": "smtp-accept",
        "tool": "smtp-source -s 10 -m N -l 1024 (10 sessions, 1 KB messages), loopback",
        "messages_each": args.messages,
        "rounds": args.rounds,
        "baseline": "aiosmtpd with a handler that does nothing (aiosmtpd.handlers.Sink)",
        "target": {"ratio_to_aiosmtpd_noop": TARGET},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "pinned": two},
        "results": results,
        "wirelab_delivered_to_maildir": delivered,
        "ratio": {name: round(r["msgs_per_s"] / base, 2) for name, r in results.items()},
        "target_met": results["wirelab"]["msgs_per_s"] / base >= TARGET,
        "relay_two_hops": relay,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


def relay_run(d: Path, count: int, client_cpu: int | None, server_cpu: int | None, quiet: dict) -> dict:
    """count messages to bob@far.example through HOP1 (which relays, MX from DNS) to WIRELAB's server."""
    (d / "far.zone").write_text(f"$ORIGIN far.example.\n$TTL 60\n@ IN SOA ns hm 1 3600 900 604800 60\n@ IN NS ns\n"
                                f"@ IN MX 10 mail\nns IN A {DNS}\nmail IN A {NET}60\n")
    procs = [subprocess.Popen(pinned([sys.executable, "-m", "services.dns", "auth", "--quiet", "--listen", DNS,
                                      "--zone", str(d / "far.zone")], server_cpu), **quiet)]
    hop2 = [sys.executable, "-m", "services.smtp", "serve", "--quiet", "--accounts", str(d / "accounts"),
            "--hostname", "far.example", "--domain", "far.example", "--listen", NET + "60", "--mail-dir",
            str(d / "mail2"), "--queue-dir", str(d / "queue2")]
    hop1 = [sys.executable, "-m", "services.smtp", "serve", "--quiet", "--hostname", "crepes.fr", "--domain",
            "crepes.fr", "--listen", HOP1, "--mail-dir", str(d / "mail1"), "--queue-dir", str(d / "queue1"),
            "--relay-from", "127.0.0.0/8", "--dns", DNS]
    try:
        for argv, addr in ((hop2, NET + "60"), (hop1, HOP1)):
            procs.append(subprocess.Popen(pinned(argv, server_cpu), **quiet))
            wait_greeting(addr, procs[-1])
        box = d / "mail2" / "bob" / "new"
        start = time.perf_counter()
        accept_rate = smtp_source(HOP1, count, client_cpu, rcpt="bob@far.example")
        while time.perf_counter() - start < 300:
            if box.exists() and sum(1 for _ in box.iterdir()) >= count:
                break
            time.sleep(0.02)
        took = time.perf_counter() - start
        arrived = sum(1 for _ in box.iterdir()) if box.exists() else 0
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    return {"messages": count, "arrived": arrived, "accepted_per_s_at_hop1": accept_rate,
            "end_to_end_s": round(took, 2), "delivered_per_s": round(arrived / took, 1)}


if __name__ == "__main__":
    main()
