"""Remote logins: logins per second and the time to a working shell, wirelab's Telnet and SSH servers
against Debian's telnetd (inetutils, with login(1)) and OpenSSH's sshd, in one run, on loopback.

One login is the whole cycle a person goes through: connect, negotiate (Telnet options, or the SSH key
exchange), give user name and password, wait for the shell's prompt, type `echo READY-$((6*7))`, see
READY-42, `exit`, and see the connection close. `time_to_shell_ms` runs from connect to the first shell
prompt; `logins_per_s` is cycles completed per second by one client, one after another. The same
client drives both servers of a pair: the project's Telnet core over a socket for the two Telnet
servers, paramiko for the two SSH servers (a password login, a pty and a shell).

The peers need a Unix account: the bench makes one (wlbench) in copies of /etc/passwd, /etc/shadow and
/etc/group bind-mounted over the real ones in a private mount namespace (`unshare -m`) that only the
peers run in, so the machine's accounts are never touched. The password hash costs differ by design
(the lab's accounts use PBKDF2, the peers SHA-512 crypt), so for a comparison of servers rather than of
hashes the bench gives wirelab's accounts a PBKDF2 iteration count that costs what the peers' hash costs
on this machine, measured in the run (both are reported, with the lab's own count's cost).

    python -m bench.bench_login [--logins 15] [--rounds 3] [--out bench/results/login.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import paramiko

from services.telnet.accounts import ITERATIONS, Accounts, hash_password
from services.telnet.codes import ECHO, NAWS, SGA, TTYPE
from services.telnet.connection import Data, TelnetConnection

USER, PASSWORD = "wlbench", "wonderland"
COMMAND, ANSWER = b"echo READY-$((6*7))", b"READY-42"
PROMPT = rb"[$#] $"  # the shell's first prompt (user@host:~$ ), whatever came before it
HOST = "127.0.0.1"
PEERS = {"wirelab-telnet": "telnetd", "wirelab-ssh": "sshd"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_login: {proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench_login: nothing listens on port {port} ({proc.args})")


# -- one login each way

def telnet_login(port: int, timeout: float = 20.0) -> tuple[float, float]:
    """(seconds to READY-42, seconds for the whole cycle)."""
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((HOST, port), timeout=timeout)
    conn = TelnetConnection(local={TTYPE, NAWS, SGA}, remote={ECHO, SGA}, terminal_type="vt220", window=(80, 24))
    text = b""

    def until(pattern: bytes) -> None:
        nonlocal text
        while (m := re.search(pattern, text)) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench_login: no {pattern!r} from port {port}: {text[-300:]!r}")
            try:
                data = sock.recv(65536)
            except TimeoutError:
                data = None
            if data is None or time.monotonic() > deadline:
                raise SystemExit(f"bench_login: no {pattern!r} from port {port} in {timeout:g} s: {text[-300:]!r}")
            if not data:
                if pattern == b"$EOF":
                    return
                raise SystemExit(f"bench_login: port {port} closed before {pattern!r}: {text[-300:]!r}")
            text += b"".join(ev.data for ev in conn.receive(data) if isinstance(ev, Data))
            sock.sendall(conn.data_to_send())
        text = text[m.end():]

    def send(line: bytes) -> None:
        conn.send(line + b"\r\n")
        sock.sendall(conn.data_to_send())

    try:
        until(b"login: ")
        send(USER.encode())
        until(b"Password: ")
        send(PASSWORD.encode())
        until(PROMPT)  # login(1) empties what was typed ahead: wait for the shell as a person would
        ready = time.perf_counter() - start
        send(COMMAND)
        until(ANSWER)
        send(b"exit")
        until(b"$EOF")
        return ready, time.perf_counter() - start
    finally:
        sock.close()


def ssh_login(port: int, timeout: float = 20.0) -> tuple[float, float]:
    start = time.perf_counter()
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(HOST, port, username=USER, password=PASSWORD, allow_agent=False, look_for_keys=False,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        chan = client.invoke_shell(term="vt220", width=80, height=24)
        chan.settimeout(timeout)
        got = b""

        def until(pattern: bytes) -> None:
            nonlocal got
            while (m := re.search(pattern, got)) is None:
                data = chan.recv(65536)
                if not data:
                    raise SystemExit(f"bench_login: port {port} closed before {pattern!r}: {got[-300:]!r}")
                got += data
            got = got[m.end():]

        until(PROMPT)
        ready = time.perf_counter() - start
        chan.send(COMMAND + b"\r")
        until(ANSWER)
        chan.send(b"exit\r")
        chan.recv_exit_status()
        return ready, time.perf_counter() - start
    finally:
        client.close()


# -- the servers

def peer_namespace(d: Path) -> list[str]:
    """A shell command prefix: a private mount namespace where wlbench exists (and sshd has /run/sshd)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Python 3.11's; the peers' own hash, SHA-512 crypt as `openssl passwd -6` makes
    shadow_hash = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
    home = d / "peer-home"
    home.mkdir(mode=0o755)
    os.chown(home, 4242, 4242)
    (d / "passwd").write_text(Path("/etc/passwd").read_text() + f"{USER}:x:4242:4242:wirelab bench:{home}:/bin/bash\n")
    (d / "shadow").write_text(Path("/etc/shadow").read_text() + f"{USER}:{shadow_hash}:19000:0:99999:7:::\n")
    (d / "group").write_text(Path("/etc/group").read_text() + f"{USER}:x:4242:\n")
    os.chmod(d / "shadow", 0o640)
    (d / "hash").write_text(shadow_hash)
    binds = " && ".join(f"mount --bind {d / f} /etc/{f}" for f in ("passwd", "shadow", "group"))
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f"{binds} && mount -t tmpfs -o mode=755 tmpfs /run/sshd && exec \"$0\" \"$@\""]


LAUNCHER = """
import socket, subprocess, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=64)
while True:
    conn, _ = listener.accept()
    subprocess.Popen(["telnetd", "-h"], stdin=conn, stdout=conn, stderr=subprocess.DEVNULL)
    conn.close()
"""

SSHD_CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {d}/ssh_host_ed25519_key
PidFile none
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
PermitRootLogin no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
"""


def hash_cost(d: Path, iterations: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    shadow_hash = (d / "hash").read_text()
    t = time.perf_counter()
    for _ in range(5):
        crypt.crypt(PASSWORD, shadow_hash)
    peer = (time.perf_counter() - t) / 5
    ours = Accounts.parse(f"x:{hash_password(PASSWORD, iterations)}")
    t = time.perf_counter()
    for _ in range(5):
        ours.verify("x", PASSWORD)
    lab = (time.perf_counter() - t) / 5
    return {"peer_sha512crypt_ms": round(peer * 1000, 2), "lab_pbkdf2_ms": round(lab * 1000, 2),
            "lab_iterations": iterations,
            "bench_iterations": max(1000, int(iterations * peer / lab))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logins", type=int, default=15, help="logins per server per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, alternating the servers")
    ap.add_argument("--out", default="bench/results/login.json")
    args = ap.parse_args()
    for tool in ("telnetd", "unshare"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_login: needs {tool} (make setup)")
    if not Path("/usr/sbin/sshd").exists():
        raise SystemExit("bench_login: needs /usr/sbin/sshd (openssh-server; make setup)")
    if os.geteuid() != 0:
        raise SystemExit("bench_login: needs root (a private mount namespace for the peers' account)")
    two = (os.cpu_count() or 1) >= 2
    pin = ["taskset", "-c", "1"] if two and shutil.which("taskset") else []
    if two:
        os.sched_setaffinity(0, {0})
    made_run_sshd = not Path("/run/sshd").exists()
    if made_run_sshd:
        Path("/run/sshd").mkdir(mode=0o755)  # what openssh-server's own start makes; removed after
    procs: list[subprocess.Popen] = []
    runs: dict[str, list[tuple[float, float]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="wirelab-bench-login-") as tmp:
            d = Path(tmp)
            os.chmod(d, 0o755)
            prefix = peer_namespace(d)
            cost = hash_cost(d, ITERATIONS)
            (d / "accounts").write_text(f"{USER}:{hash_password(PASSWORD, cost['bench_iterations'])}\n")
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "ssh_host_ed25519_key")],
                           check=True, timeout=30)
            ports = {name: free_port() for name in ("wirelab-telnet", "telnetd", "wirelab-ssh", "sshd")}
            (d / "launcher.py").write_text(LAUNCHER)
            (d / "sshd_config").write_text(SSHD_CONFIG.format(port=ports["sshd"], d=d))
            common = ["--accounts", str(d / "accounts"), "--homes", str(d / "homes"), "--listen", HOST, "--quiet"]
            argvs = {
                "wirelab-telnet": [sys.executable, "-m", "services.telnet", "server", *common,
                                   "--port", str(ports["wirelab-telnet"])],
                "telnetd": [*prefix, sys.executable, str(d / "launcher.py"), str(ports["telnetd"])],
                "wirelab-ssh": [sys.executable, "-m", "services.ssh", "server", *common, "--host-keys",
                                str(d / "keys"), "--port", str(ports["wirelab-ssh"])],
                "sshd": [*prefix, "/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
            }
            for name, argv in argvs.items():
                procs.append(subprocess.Popen([*pin, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
                wait_listening(ports[name], procs[-1])
            for name in argvs:  # one login each first: host keys made, caches warm
                (telnet_login if "telnet" in name else ssh_login)(ports[name])
            for _ in range(args.rounds):
                for name in argvs:
                    login = telnet_login if "telnet" in name else ssh_login
                    for _ in range(args.logins):
                        runs.setdefault(name, []).append(login(ports[name]))
                    last = runs[name][-args.logins:]
                    print(f"{name:15} {args.logins / sum(c for _, c in last):6.1f} logins/s  shell in "
                          f"{1000 * sorted(r for r, _ in last)[len(last) // 2]:.1f} ms", file=sys.stderr)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if made_run_sshd:
            Path("/run/sshd").rmdir()
    results = {}
    for name, rs in runs.items():
        ready = sorted(r for r, _ in rs)
        results[name] = {"logins_per_s": round(len(rs) / sum(c for _, c in rs), 1),
                         "time_to_shell_ms": {"median": round(1000 * ready[len(ready) // 2], 1),
                                              "min": round(1000 * ready[0], 1), "max": round(1000 * ready[-1], 1)},
                         "logins": len(rs)}
    report = {
        "benchmark": "remote-login",
        "what": "one client, logins one after another: connect, negotiate, password, the prompt, a command, "
                "exit; time_to_shell from connect to the shell's first prompt",
        "clients": {"telnet": "wirelab's Telnet core over a socket", "ssh": "paramiko, password, pty shell"},
        "peers": {"telnetd": "inetutils telnetd + login(1) (PAM), one per connection from a loopback launcher",
                  "sshd": "OpenSSH sshd -D, password authentication, no PAM"},
        "password_hash": cost,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "paramiko": paramiko.__version__, "pinned": two},
        "results": results,
        "ratios": {},
    }
    for ours, peer in PEERS.items():
        report["ratios"][f"{ours}_to_{peer}_logins_per_s"] = round(
            results[ours]["logins_per_s"] / results[peer]["logins_per_s"], 2)
        report["ratios"][f"{ours}_to_{peer}_time_to_shell"] = round(
            results[ours]["time_to_shell_ms"]["median"] / results[peer]["time_to_shell_ms"]["median"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
