"""POP3 logins with a RETR per second: 4 client processes, each looping login (USER, PASS), STAT, RETR of a
10 KB message, QUIT, on its own mailbox, against wirelab's POP3 server and Dovecot's in one run.

Dovecot runs in its tuned setup: login processes and pop3 processes reused (service_count = 0),
logins kept warm (process_min_avail), informational logging off. Servers are pinned to one CPU and the
clients to the other.

    python -m bench.bench_pop3 [--seconds 5] [--rounds 3] [--out bench/results/pop3.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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
WIRELAB, DOVECOT = NET + "110", NET + "111"
CLIENTS = 4
MESSAGE = b"Subject: bench\r\n\r\n" + (b"x" * 78 + b"\r\n") * 128  # about 10 KB
TARGET = 1.0
DOVECOT_CONF = """base_dir = {d}/run
state_dir = {d}/state
protocols = pop3
listen = {addr}
ssl = no
disable_plaintext_auth = no
log_path = {d}/dovecot.log
info_log_path = /dev/null
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/mail/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 110
  }}
  service_count = 0
  process_min_avail = 1
}}
service pop3 {{
  service_count = 0
  client_limit = 100
  process_limit = 4
}}
"""


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None and shutil.which("taskset") else argv


def _reply(s: socket.socket, buf: bytearray, multi: bool) -> None:
    end = b"\r\n.\r\n" if multi else b"\r\n"
    while True:
        i = buf.find(end)
        if i >= 0:
            if not buf.startswith(b"+OK"):
                raise RuntimeError(bytes(buf[:100]).decode(errors="replace"))
            del buf[:i + len(end)]
            return
        data = s.recv(65536)
        if not data:
            raise RuntimeError("connection closed")
        buf += data


def client(addr: str, user: str, seconds: float, cpu: int | None, out) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection((addr, 110)) as s:
            buf = bytearray()
            _reply(s, buf, False)
            for cmd, multi in ((b"USER " + user.encode(), False), (b"PASS hungry", False), (b"STAT", False),
                               (b"RETR 1", True), (b"QUIT", False)):
                s.sendall(cmd + b"\r\n")
                _reply(s, buf, multi)
        done += 1
    out.put(done)


def run_clients(addr: str, seconds: float, cpu: int | None) -> float:
    q: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(addr, f"user{i}", seconds, cpu, q)) for i in range(CLIENTS)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    total = sum(q.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join(timeout=10)
    return round(total / (time.perf_counter() - start), 1)


def wait_greeting(addr: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_pop3: the server on {addr} exited")
        try:
            with socket.create_connection((addr, 110), timeout=1) as s:
                if s.recv(100).startswith(b"+OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench_pop3: no greeting from {addr}")


def mailboxes(root: Path, owner: int | None) -> None:
    for i in range(CLIENTS):
        box = root / f"user{i}"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        (box / "cur" / "1.bench:2,").write_bytes(MESSAGE)
    if owner is not None:
        for path in [root, *root.rglob("*")]:
            os.chown(path, owner, owner)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench/results/pop3.json")
    args = ap.parse_args()
    two = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if two else (None, None)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs: list[subprocess.Popen] = []
    servers: dict[str, str] = {}
    notes = []
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-pop3-") as tmp:
        d = Path(tmp)
        os.chmod(d, 0o755)
        (d / "accounts").write_text("".join(f"user{i}:hungry\n" for i in range(CLIENTS)))
        mailboxes(d / "mail", None)
        try:
            procs.append(subprocess.Popen(pinned([sys.executable, "-m", "services.pop3", "serve", "--quiet",
                                                  "--accounts", str(d / "accounts"), "--mail-dir", str(d / "mail"),
                                                  "--listen", WIRELAB], server_cpu), **quiet))
            wait_greeting(WIRELAB, procs[-1])
            servers["wirelab"] = WIRELAB
            if shutil.which("dovecot"):
                dv = d / "dovecot"
                dv.mkdir()
                os.chmod(dv, 0o755)
                (dv / "passwd").write_text("".join(f"user{i}:{{PLAIN}}hungry\n" for i in range(CLIENTS)))
                mailboxes(dv / "mail", 65534)
                (dv / "dovecot.conf").write_text(DOVECOT_CONF.format(d=dv, addr=DOVECOT))
                procs.append(subprocess.Popen(pinned(["dovecot", "-F", "-c", str(dv / "dovecot.conf")], server_cpu),
                                              **quiet))
                wait_greeting(DOVECOT, procs[-1])
                servers["dovecot-tuned"] = DOVECOT
            else:
                notes.append("dovecot is not installed (apt-get install dovecot-pop3d): no baseline")
            runs: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for name, addr in servers.items():
                    rate = run_clients(addr, args.seconds, client_cpu)
                    runs.setdefault(name, []).append(rate)
                    print(f"{name:14} {rate:>9.0f} sessions/s", file=sys.stderr)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results = {n: {"sessions_per_s": sorted(r)[len(r) // 2], "samples": r} for n, r in runs.items()}
    base = results.get("dovecot-tuned", {}).get("sessions_per_s")
    report = {
        "benchmark": "pop3-login-retr",
        "tool": f"{CLIENTS} client processes: connect, USER, PASS, STAT, RETR 1 ({len(MESSAGE)} bytes), QUIT",
        "seconds_each": args.seconds, "rounds": args.rounds,
        "baseline": "Dovecot pop3, tuned: service_count=0 for pop3-login and pop3, info logging off",
        "target": {"ratio_to_dovecot_tuned": TARGET},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "pinned": two},
        "results": results,
        "ratio": {n: round(r["sessions_per_s"] / base, 2) for n, r in results.items()} if base else None,
        "target_met": bool(base) and results["wirelab"]["sessions_per_s"] / base >= TARGET,
        "notes": notes,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
