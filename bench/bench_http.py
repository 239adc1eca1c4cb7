"""Requests per second with wrk: wirelab's proxy against Squid, wirelab's origin against nginx and
Python's http.server, all in one run, on loopback addresses (the same link for everyone).

  proxy hits    a cached 1 KB object through the proxy (wrk: keep-alive, 100 connections, a Lua script
                sets the absolute URL and Host), wirelab's proxy against Squid (one worker, memory cache)
  proxy misses  a new URL every request (?n), so every request goes to the origin (nginx) and is stored
  origin        a static 1 KB file, wirelab's origin against nginx and `python -m http.server`

Servers run pinned to one CPU and wrk to the other (when there are two); for misses the origin (nginx)
shares wrk's CPU, the same for both proxies. The figures are medians of --rounds rounds, the servers
taking turns within each round.

    python -m bench.bench_http [--seconds 4] [--rounds 3] [--out bench/results/http.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

NET = "127.0.81."
OBJECT = "1k.txt"
TARGETS = {"proxy_hits_to_squid": 1.0, "origin_to_nginx": 0.5}


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None and shutil.which("taskset") else argv


def wait_listening(host: str, port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_http: {what} exited with status {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench_http: {what} did not listen on {host}:{port}")


@contextmanager
def process(argv: list[str], host: str, port: int, what: str, log: Path | None = None) -> Iterator[subprocess.Popen]:
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(host, port, proc, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


@contextmanager
def nginx(tmp: Path, host: str, port: int, root: Path, cpu: int | None = None,
          expires: str = "1h") -> Iterator[subprocess.Popen]:
    """nginx from Debian serving `root`, one process in the foreground, everything under tmp."""
    d = tmp / f"nginx-{port}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "nginx.conf").write_text(f"""
daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 60;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  types {{ text/plain txt; text/html html; image/svg+xml svg; }}
  server {{ listen {host}:{port}; root {root}; expires {expires}; }}
}}
""")
    with process(pinned(["nginx", "-c", str(d / "nginx.conf")], cpu), host, port, "nginx") as p:
        yield p


@contextmanager
def squid(host: str, port: int, cpu: int | None = None,
          parent: tuple[str, int] | None = None) -> Iterator[subprocess.Popen]:
    """Squid from Debian: one worker, memory cache only, no disk, loopback only; optionally forwarding
    everything to a parent. Squid drops root for its own user, so its folder (proc.workdir, with
    access.log) is one of its own that user can reach."""
    with tempfile.TemporaryDirectory(prefix="wirelab-squid-") as tmp, _squid(Path(tmp), host, port, cpu, parent) as p:
        yield p


@contextmanager
def _squid(d: Path, host: str, port: int, cpu: int | None,
           parent: tuple[str, int] | None) -> Iterator[subprocess.Popen]:
    os.chmod(d, 0o777)
    peer = (f"cache_peer {parent[0]} parent {parent[1]} 0 no-query no-digest default\nnever_direct allow all\n"
            if parent else "")
    (d / "squid.conf").write_text(f"""
http_port {host}:{port}
workers 1
cache_mem 256 MB
maximum_object_size_in_memory 1 MB
memory_replacement_policy lru
http_access allow all
cache allow all
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log
coredump_dir {d}
shutdown_lifetime 0 seconds
{peer}""")
    with process(pinned(["squid", "-N", "-f", str(d / "squid.conf")], cpu), host, port, "squid") as p:
        p.workdir = d
        yield p


@contextmanager
def wirelab(role: str, host: str, port: int, *args: str, cpu: int | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen]:
    argv = [sys.executable, "-m", "services.http", role, "--listen", host, "--port", str(port), *args]
    if log is None:
        argv.append("--quiet")
    with process(pinned(argv, cpu), host, port, f"wirelab {role}", log) as p:
        yield p


def wrk(url: str, seconds: int, cpu: int | None, script: Path | None = None, connections: int = 100) -> dict:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run(pinned([*argv, url], cpu), capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise SystemExit(f"bench_http: no Requests/sec in wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": round(float(rps.group(1)), 1),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0,
            "p50_ms": round(float(p50.group(1)) * scale[p50.group(2)], 3) if p50 else None}


def proxy_script(d: Path, name: str, origin: str, unique: bool, path: str = "/" + OBJECT) -> Path:
    """wrk drives a forward proxy with absolute-form targets and the origin's Host."""
    script = d / f"{name}.lua"
    if unique:
        script.write_text(f'wrk.headers["Host"] = "{origin}"\nlocal n = 0\n'
                          f'request = function()\n  n = n + 1\n'
                          f'  return wrk.format("GET", "http://{origin}{path}?{name}-" .. n)\nend\n')
    else:
        script.write_text(f'wrk.path = "http://{origin}{path}"\nwrk.headers["Host"] = "{origin}"\n')
    return script


def median(runs: list[dict]) -> dict:
    med = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return med | {"rps_samples": [r["rps"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=4, help="length of each wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="runs per server; the median is reported")
    ap.add_argument("--out", default="bench/results/http.json")
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "squid"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench_http: needs {tool} (make setup installs it)")
    two = (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (1, 0) if two else (None, None)
    ports = {"nginx": 8080, "ours_origin": 8081, "http_server": 8082, "ours_proxy": 3128, "squid": 3129,
             "backend": 8090}
    host = {name: NET + str(10 + i) for i, name in enumerate(ports)}
    with tempfile.TemporaryDirectory(prefix="wirelab-bench-http-") as tmp, ExitStack() as stack:
        d = Path(tmp)
        os.chmod(d, 0o755)
        root = d / "root"
        root.mkdir()
        (root / OBJECT).write_bytes(bytes(ord("a") + i % 26 for i in range(1024)))
        (d / "origin.yaml").write_text("sites:\n  bench:\n    root: root\n"
                                       "    cache: [{path: '/*', cache_control: 'max-age=3600'}]\n")
        stack.enter_context(nginx(d, host["nginx"], ports["nginx"], root, server_cpu))
        stack.enter_context(wirelab("origin", host["ours_origin"], ports["ours_origin"], "--config",
                                    str(d / "origin.yaml"), cpu=server_cpu))
        stack.enter_context(process(pinned([sys.executable, "-m", "http.server", "--bind", host["http_server"],
                                            "--directory", str(root), str(ports["http_server"])], server_cpu),
                                    host["http_server"], ports["http_server"], "http.server"))
        # the origin behind both proxies: nginx, on wrk's CPU so that each proxy has its own
        stack.enter_context(nginx(d, host["backend"], ports["backend"], root, client_cpu))
        stack.enter_context(wirelab("proxy", host["ours_proxy"], ports["ours_proxy"], "--cache-mb", "512",
                                    cpu=server_cpu))
        stack.enter_context(squid(host["squid"], ports["squid"], server_cpu))
        backend = f"{host['backend']}:{ports['backend']}"
        cases = {
            "origin/wirelab": (f"http://{host['ours_origin']}:{ports['ours_origin']}/{OBJECT}", None),
            "origin/nginx": (f"http://{host['nginx']}:{ports['nginx']}/{OBJECT}", None),
            "origin/http.server": (f"http://{host['http_server']}:{ports['http_server']}/{OBJECT}", None),
        }
        for name, key in (("wirelab", "ours_proxy"), ("squid", "squid")):
            proxy_url = f"http://{host[key]}:{ports[key]}/"
            cases[f"hits/{name}"] = (proxy_url, proxy_script(d, f"hit-{name}", backend, unique=False))
            cases[f"misses/{name}"] = (proxy_url, proxy_script(d, f"miss-{name}", backend, unique=True))
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-x", proxy_url[:-1], f"http://{backend}/{OBJECT}"],
                           check=True, timeout=10)   # the object in the cache before the hit runs
        runs: dict[str, list[dict]] = {}
        for _ in range(args.rounds):
            for name, (url, script) in cases.items():
                r = wrk(url, args.seconds, client_cpu, script)
                runs.setdefault(name, []).append(r)
                print(f"{name:20} {r['rps']:>10.0f} req/s  p50 {r['p50_ms']} ms  non-2xx {r['non_2xx']}",
                      file=sys.stderr)
    results = {name: median(rs) | {"best_rps": max(r["rps"] for r in rs)} for name, rs in runs.items()}

    def ratio(a: str, b: str) -> float:
        """The median of the ratios within each round: a and b ran seconds apart, under the same load
        (on a shared machine, one round's load can be many times another's)."""
        each = sorted(x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b], strict=True))
        return round(each[len(each) // 2], 2)

    ratios = {"proxy_hits_to_squid": ratio("hits/wirelab", "hits/squid"),
              "proxy_misses_to_squid": ratio("misses/wirelab", "misses/squid"),
              "origin_to_nginx": ratio("origin/wirelab", "origin/nginx"),
              "origin_to_http_server": ratio("origin/wirelab", "origin/http.server")}
    report = {
        "benchmark": "http-rps",
        "tool": "wrk -t1 -c100 (keep-alive), loopback; proxies driven by a Lua script (absolute URL, Host)",
        "object": "1 KB static file (Cache-Control max-age=3600 / nginx expires 1h)",
        "seconds_each": args.seconds,
        "rounds": args.rounds,
        "ratios_are": "median over rounds of the ratio within each round",
        "peers": {"proxy": "Squid (Debian, one worker, memory cache)", "origin": "nginx (Debian, one process)",
                  "origin_floor": "python -m http.server"},
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "pinned": two},
        "results": results,
        "ratios": ratios,
        "target": TARGETS,
        "meets_target": {k: ratios[k] >= v for k, v in TARGETS.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
