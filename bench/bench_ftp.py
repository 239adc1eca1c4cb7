"""FTP throughput and login rate: wirelab's server against pyftpdlib and vsftpd in one run.

On loopback addresses (the same link for all three), with curl as the client for every server:

  retr     download of a 100 MB file (TYPE I, passive), MB/s
  stor     upload of the same file, MB/s
  logins   100 sequential sessions (connect, USER, PASS, QUIT) with Python's ftplib, seconds; and the
           server's own CPU time per login (user + system, from /proc), which no wake-up latency blurs

For RETR and STOR each server runs pinned to one CPU and curl to the other (when there are two), so the
client never takes the server's CPU. Logins are timed twice: with every process free to run where the
kernel puts it, as servers normally run (the reported figure), and pinned as for the transfers. On this
kind of VM a command's round trip is ~100 us, much of it waking a halted vCPU: pinned, a server that is
done sooner sleeps sooner and pays that wake-up on the next command. Rounds alternate the servers, so a
noisy moment hits all alike; the median round is reported. Target: at least 1x pyftpdlib.

    python -m bench.bench_ftp [--mb 100] [--rounds 11] [--logins 100] [--out bench/results/ftp.json]
"""

from __future__ import annotations

import argparse
import ftplib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NET = "127.0.22."
SERVERS = {"wirelab": NET + "10", "pyftpdlib": NET + "20", "vsftpd": NET + "30"}
PORT = 2121
TARGET = 1.0


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None and shutil.which("taskset") else argv


def wait_greeting(host: str, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host, PORT), timeout=2) as s:
                if s.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench_ftp: the server on {host} did not greet ({proc.args})")


def start(name: str, d: Path, cpu: int | None) -> tuple[subprocess.Popen, str]:
    """Start one server; return it and the folder uploads go to, relative to the login's root."""
    host = SERVERS[name]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if name == "wirelab":
        (d / "ftp.yaml").write_text("users:\n  bench: {password: bench, home: wirelab}\n")
        (d / "wirelab").mkdir(exist_ok=True)
        os.link(d / "big.bin", d / "wirelab" / "big.bin")
        argv = [sys.executable, "-m", "services.ftp", "server", "--quiet", "--config", str(d / "ftp.yaml"),
                "--root", str(d), "--listen", host, "--port", str(PORT), "--passive-ports", "47000-47999"]
        updir = ""
    elif name == "pyftpdlib":
        (d / "pyftpdlib").mkdir()
        os.link(d / "big.bin", d / "pyftpdlib" / "big.bin")
        argv = [sys.executable, "-m", "pyftpdlib", "-i", host, "-p", str(PORT), "-d", str(d / "pyftpdlib"), "-w",
                "-u", "bench", "-P", "bench", "-r", "48000-48999"]
        updir = ""
    else:
        root = d / "vsftpd"
        (root / "up").mkdir(parents=True)
        shutil.chown(root / "up", "ftp")
        os.link(d / "big.bin", root / "big.bin")
        conf = d / "vsftpd.conf"
        (d / "vsftpd-empty").mkdir()  # its own chroot folder: the package's exists only where systemd-tmpfiles ran
        conf.write_text(f"listen=YES\nlisten_ipv6=NO\nlisten_address={host}\nlisten_port={PORT}\nbackground=NO\n"
                        f"secure_chroot_dir={d / 'vsftpd-empty'}\n"
                        f"anonymous_enable=YES\nno_anon_password=YES\nlocal_enable=NO\nwrite_enable=YES\n"
                        f"anon_upload_enable=YES\nanon_other_write_enable=YES\nanon_root={root}\n"
                        f"allow_writeable_chroot=YES\nseccomp_sandbox=NO\nxferlog_enable=NO\n"
                        f"pasv_min_port=49000\npasv_max_port=49999\n")
        argv = ["vsftpd", str(conf)]
        updir = "up/"
    proc = subprocess.Popen(pinned(argv, cpu), **quiet)
    wait_greeting(host, proc)
    return proc, updir


def user(name: str) -> tuple[str, str]:
    return ("anonymous", "bench@") if name == "vsftpd" else ("bench", "bench")


def curl_seconds(argv: list[str], cpu: int | None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(pinned(["curl", "-sS", "--max-time", "120", *argv], cpu), capture_output=True, text=True,
                         timeout=150)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"bench_ftp: curl {' '.join(argv[-1:])} failed: {out.stderr.strip()}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """CPU time of a process so far: its threads' time on CPU to the nanosecond (/proc/PID/task/*/schedstat),
    plus that of its reaped children in clock ticks (/proc/PID/stat: vsftpd serves each session in a child)."""
    own = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            own += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return own / 1e9 + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def logins(name: str, count: int, server: subprocess.Popen, cpus: set[int] | None) -> tuple[float, float]:
    """Seconds for `count` sequential logins and the server's CPU seconds for them. `cpus`: where the server
    and this client run meanwhile (None: anywhere)."""
    everywhere = os.sched_getaffinity(0) | os.sched_getaffinity(server.pid)
    server_cpus, client_cpus = cpus or (everywhere, everywhere)
    os.sched_setaffinity(server.pid, server_cpus)
    os.sched_setaffinity(0, client_cpus)
    u, p = user(name)
    try:
        c0, t0 = cpu_seconds(server.pid), time.perf_counter()
        for _ in range(count):
            f = ftplib.FTP(timeout=10)
            f.connect(SERVERS[name], PORT)
            f.login(u, p)
            f.quit()
        return time.perf_counter() - t0, cpu_seconds(server.pid) - c0
    finally:
        os.sched_setaffinity(0, everywhere)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100, help="size of the file moved, in MB")
    ap.add_argument("--rounds", type=int, default=11, help="runs per server; the median is reported")
    ap.add_argument("--logins", type=int, default=100, help="sequential sessions per round")
    ap.add_argument("--out", default="bench/results/ftp.json")
    args = ap.parse_args()
    for tool in ("curl", "vsftpd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_ftp: needs {tool} (make setup installs it)")
    two = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if two else (None, None)
    size = args.mb * 1_000_000
    samples: dict[str, dict[str, list[float]]] = {
        n: {"retr": [], "stor": [], "logins": [], "logins_pinned": [], "login_cpu_ms": []} for n in SERVERS}
    pinned_cpus = ({server_cpu}, {client_cpu}) if two else None
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-ftp-", dir="/var/tmp") as tmp:
        d = Path(tmp)
        with open(d / "big.bin", "wb") as f:  # real bytes on disk (in the page cache), not a sparse file
            block = os.urandom(1 << 20)
            for _ in range(size // len(block)):
                f.write(block)
            f.write(block[: size % len(block)])
        procs, updirs = {}, {}
        try:
            for name in SERVERS:
                procs[name], updirs[name] = start(name, d, server_cpu)
            for name, host in SERVERS.items():  # a first download, not counted: every server starts warm
                u, p = user(name)
                curl_seconds(["--user", f"{u}:{p}", "-o", "/dev/null", f"ftp://{host}:{PORT}/big.bin"], client_cpu)
            for r in range(args.rounds):
                order = list(SERVERS.items())
                for name, host in order if r % 2 == 0 else order[::-1]:  # no server always goes first
                    u, p = user(name)
                    url = f"ftp://{host}:{PORT}/"
                    t = curl_seconds(["--user", f"{u}:{p}", "-o", "/dev/null", url + "big.bin"], client_cpu)
                    samples[name]["retr"].append(size / t / 1e6)
                    t = curl_seconds(["--user", f"{u}:{p}", "-T", str(d / "big.bin"),
                                      f"{url}{updirs[name]}up{r}.bin"], client_cpu)
                    samples[name]["stor"].append(size / t / 1e6)
                    os.sync()  # the upload's writeback done now, not during the next server's figures
                    seconds, cpu = logins(name, args.logins, procs[name], None)
                    samples[name]["logins"].append(seconds)
                    samples[name]["login_cpu_ms"].append(cpu / args.logins * 1000)
                    samples[name]["logins_pinned"].append(logins(name, args.logins, procs[name], pinned_cpus)[0])
                    s = samples[name]
                    print(f"{name:10} retr {s['retr'][-1]:7.0f} MB/s  stor {s['stor'][-1]:7.0f} MB/s  "
                          f"{args.logins} logins {s['logins'][-1]:.3f} s (pinned {s['logins_pinned'][-1]:.3f} s, "
                          f"server CPU {s['login_cpu_ms'][-1]:.2f} ms each)", file=sys.stderr)
                for up in d.rglob(f"up{r}.bin"):  # keep the disk from filling across rounds
                    up.unlink()
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    results = {name: {"retr_MBps": round(statistics.median(s["retr"]), 1),
                      "stor_MBps": round(statistics.median(s["stor"]), 1),
                      "logins_seconds": round(statistics.median(s["logins"]), 4),
                      "logins_pinned_seconds": round(statistics.median(s["logins_pinned"]), 4),
                      "login_server_cpu_ms": round(statistics.median(s["login_cpu_ms"]), 3),
                      "samples": {k: [round(x, 4) for x in v] for k, v in s.items()}}
               for name, s in samples.items()}
    ours = results["wirelab"]
    ratios = {}
    for peer in ("pyftpdlib", "vsftpd"):
        theirs = results[peer]
        ratios[f"retr_to_{peer}"] = round(ours["retr_MBps"] / theirs["retr_MBps"], 2)
        ratios[f"stor_to_{peer}"] = round(ours["stor_MBps"] / theirs["stor_MBps"], 2)
        # fewer seconds is better: the ratio is theirs over ours, so above 1 means faster here too
        ratios[f"logins_to_{peer}"] = round(theirs["logins_seconds"] / ours["logins_seconds"], 2)
        ratios[f"logins_pinned_to_{peer}"] = round(theirs["logins_pinned_seconds"] / ours["logins_pinned_seconds"], 2)
        ratios[f"login_cpu_to_{peer}"] = round(theirs["login_server_cpu_ms"] / ours["login_server_cpu_ms"], 2)
    report = {
        "benchmark": "ftp",
        "tool": "curl (passive, TYPE I) for RETR and STOR; Python ftplib for sequential logins; loopback",
        "file_mb": args.mb,
        "logins_per_round": args.logins,
        "rounds": args.rounds,
        "baseline": "pyftpdlib (python -m pyftpdlib) and vsftpd, same client, same run",
        "target": {"ratio_to_pyftpdlib": TARGET},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "pinned": two},
        "results": results,
        "ratios": ratios,
        "meets_target": {k: ratios[f"{k}_to_pyftpdlib"] >= TARGET for k in ("retr", "stor", "logins")},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
