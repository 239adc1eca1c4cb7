"""Standard clients and servers with wirelab's origin and proxy, on loopback: curl (direct, -x, -z),
wget, urllib, ApacheBench and wrk against the origin and through the proxy; the proxy in front of nginx;
the origin behind Squid. The tools come from the Makefile's APT_PACKAGES."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_http_origin import CAMPUS_HTTP, Running, serving

# the benchmark is the one place that knows how to run the peers (nginx, Squid) on loopback; bench/ is not
# an installed package, so it is loaded from its file
_spec = importlib.util.spec_from_file_location("bench_http", Path(__file__).parent.parent / "bench" / "bench_http.py")
bench_http = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_http)
nginx, proxy_script, squid = bench_http.nginx, bench_http.proxy_script, bench_http.squid


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (make setup installs it)")


def run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("http-interop")
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def origin(tmp) -> Iterator[Running]:
    data = tmp / "data"
    data.mkdir()
    with serving("origin", "--config", str(CAMPUS_HTTP / "origin.yaml"), "--data", str(data), tmp=tmp,
                 host="127.0.82.1") as r:
        yield r


@pytest.fixture(scope="module")
def proxy(tmp) -> Iterator[Running]:
    with serving("proxy", "--name", "proxy.poly.edu", tmp=tmp, host="127.0.82.2") as r:
        yield r


# --- curl ---
def test_curl_direct(origin):
    need("curl")
    out = run(["curl", "-sS", "-D", "-", f"{origin.url}/", "-H", "Host: gaia.cs.umass.edu"])
    assert out.returncode == 0 and out.stdout.startswith("HTTP/1.1 200 OK") and "ten referenced objects" in out.stdout
    head = run(["curl", "-sS", "-I", f"{origin.url}/objects/image1.svg"])
    assert "content-type: image/svg+xml" in head.stdout.lower()
    part = run(["curl", "-sS", "-r", "0-3", f"{origin.url}/objects/image1.svg"])
    assert part.stdout == "<svg"


def test_curl_conditional_get_with_z(origin):
    need("curl")
    code = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-z", "Jan 1 2099", f"{origin.url}/"])
    assert code.stdout == "304"
    code = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-z", "Jan 1 2000", f"{origin.url}/"])
    assert code.stdout == "200"


def test_curl_put_and_post(origin, tmp):
    need("curl")
    f = tmp / "up.txt"
    f.write_text("uploaded with curl -T\n")
    put = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(f), f"{origin.url}/upload/up.txt"])
    assert put.stdout == "201"
    assert run(["curl", "-sS", f"{origin.url}/upload/up.txt"]).stdout == "uploaded with curl -T\n"
    big = tmp / "big.bin"
    big.write_bytes(b"x" * 200_000)   # curl sends Expect: 100-continue for a body this size
    post = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--data-binary", f"@{big}",
                f"{origin.url}/upload/"])
    code, seconds = post.stdout.split()
    assert code == "201" and float(seconds) < 0.9   # answered 100 Continue, not curl's 1 s wait


def test_curl_through_the_proxy_miss_then_hit_and_z(origin, proxy):
    need("curl")
    url = f"{origin.url}/objects/image2.svg"
    for _ in range(2):
        out = run(["curl", "-sS", "-x", proxy.url, "-D", "-", url])
        assert out.returncode == 0 and "Via: 1.1 proxy.poly.edu (wirelab)" in out.stdout
    assert [line.split()[-2] for line in proxy.output().splitlines() if url in line] == ["MISS", "HIT"]
    code = run(["curl", "-sS", "-x", proxy.url, "-o", "/dev/null", "-w", "%{http_code}", "-z", "Jan 1 2099", url])
    assert code.stdout == "304"


# --- wget, urllib ---
def test_wget_direct_and_through_the_proxy(origin, proxy, tmp):
    need("wget")
    direct = run(["wget", "-q", "-O", str(tmp / "w1.html"), f"{origin.url}/"])
    assert direct.returncode == 0 and "ten referenced objects" in (tmp / "w1.html").read_text()
    via = run(["wget", "-S", "-O", str(tmp / "w2.html"), f"{origin.url}/wireshark-labs/HTTP-wireshark-file1.html"],
              env={"http_proxy": proxy.url})
    assert via.returncode == 0 and "Via: 1.1 proxy.poly.edu" in via.stderr
    assert "Congratulations" in (tmp / "w2.html").read_text()


def test_urllib_direct_and_through_the_proxy(origin, proxy):
    with urllib.request.urlopen(f"{origin.url}/objects/style.css", timeout=10) as r:
        assert r.status == 200 and b"font-family" in r.read()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))
    with opener.open(f"{origin.url}/objects/style.css", timeout=10) as r:
        assert r.headers["Via"] == "1.1 proxy.poly.edu (wirelab)" and b"font-family" in r.read()


# --- ab, wrk ---
def _ab(argv: list[str]) -> str:
    out = run(["ab", "-q", *argv]).stdout
    assert re.search(r"Complete requests:\s+300", out) and re.search(r"Failed requests:\s+0", out), out
    assert "Non-2xx" not in out, out
    return out


def test_ab_against_the_origin_and_through_the_proxy(origin, proxy):
    need("ab")
    _ab(["-n", "300", "-c", "10", f"{origin.url}/objects/script.js"])                # HTTP/1.0, a connection each
    _ab(["-n", "300", "-c", "10", "-k", f"{origin.url}/objects/script.js"])          # keep-alive
    _ab(["-n", "300", "-c", "10", "-k", "-X", f"{proxy.host}:{proxy.port}", f"{origin.url}/objects/script.js"])


def test_wrk_against_the_origin_and_through_the_proxy(origin, proxy, tmp):
    need("wrk")
    for argv in (["wrk", "-t1", "-c20", "-d1s", f"{origin.url}/objects/image1.svg"],
                 ["wrk", "-t1", "-c20", "-d1s", "-s",
                  str(proxy_script(tmp, "interop", f"{origin.host}:{origin.port}", unique=False, path="/objects/image1.svg")),
                  f"{proxy.url}/"]):
        out = run(argv).stdout
        assert int(re.search(r"(\d+) requests in", out).group(1)) > 100, out
        assert "Non-2xx" not in out and "Socket errors" not in out, out


# --- the proxy in front of nginx, the origin behind Squid ---
def test_the_proxy_in_front_of_nginx(proxy, tmp):
    need("nginx")
    root = tmp / "nginx-root"
    root.mkdir()
    (root / "page.html").write_text("<p>served by nginx</p>\n")
    with nginx(tmp, "127.0.82.3", 8080, root, expires="2s"):
        url = "http://127.0.82.3:8080/page.html"
        first = run(["curl", "-sS", "-x", proxy.url, "-D", "-", url]).stdout
        assert "Server: nginx" in first and "served by nginx" in first and "Via: 1.1 proxy.poly.edu" in first
        run(["curl", "-sS", "-x", proxy.url, "-o", "/dev/null", url])
        time.sleep(2.2)   # nginx said max-age=2
        last = run(["curl", "-sS", "-x", proxy.url, url]).stdout
        assert "served by nginx" in last
        notes = [line.split()[-2] for line in proxy.output().splitlines() if url in line]
        assert notes == ["MISS", "HIT", "REVALIDATED"]   # nginx answered the conditional GET with 304


def test_the_origin_behind_squid(origin, tmp):
    need("squid")
    with squid("127.0.82.4", 3129) as peer:
        url = f"{origin.url}/web-cache/object.html"
        for _ in range(2):
            out = run(["curl", "-sS", "-x", "http://127.0.82.4:3129", "-D", "-", url])
            assert out.returncode == 0 and "HTTP/1.1 200 OK" in out.stdout and "conditional GET" in out.stdout
        time.sleep(2.2)   # max-age=2
        run(["curl", "-sS", "-x", "http://127.0.82.4:3129", "-o", "/dev/null", url])
        log = (peer.workdir / "access.log").read_text()
        deadline = time.monotonic() + 5
        while log.count(url) < 3 and time.monotonic() < deadline:   # Squid writes its log lines buffered
            time.sleep(0.1)
            log = (peer.workdir / "access.log").read_text()
        codes = [line.split()[3].split("/")[0] for line in log.splitlines() if url in line]
        assert codes[0] == "TCP_MISS" and "HIT" in codes[1] and codes[2] == "TCP_REFRESH_UNMODIFIED", codes
    mine = [line for line in origin.output().splitlines() if " GET /web-cache/object.html " in line]
    assert [line.split()[-3] for line in mine] == ["200", "304"]
