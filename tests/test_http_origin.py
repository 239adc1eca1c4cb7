"""The origin server on loopback, through real sockets: `python -m services.http origin` serving the
campus's gaia.cs.umass.edu and a second virtual host, asked with raw bytes and http.client."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CAMPUS_HTTP = Path(__file__).resolve().parent.parent / "topology" / "labs" / "campus.d" / "http"


@dataclass
class Running:
    proc: subprocess.Popen
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text()


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host: str, port: int, proc: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    """Until the port accepts a connection (observed, not slept for), or the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{proc.args} did not listen on {host}:{port}:\n{log.read_text()}")


@contextmanager
def serving(role: str, *args: str, host: str = "127.0.80.1", tmp: Path, name: str | None = None,
            port: int | None = None) -> Iterator[Running]:
    port = port or free_port(host)
    log = tmp / f"{name or role}-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.http", role, "--listen", host, "--port", str(port),
                                 *args], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(host, port, proc, log)
        yield Running(proc, host, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exchange(running: Running, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes."""
    with socket.create_connection((running.host, running.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    """The campus's origin configuration plus a second virtual host, in a scratch folder."""
    d = tmp_path_factory.mktemp("http-origin")
    shutil.copytree(CAMPUS_HTTP / "gaia.cs.umass.edu", d / "gaia.cs.umass.edu")
    (d / "crepes").mkdir()
    (d / "crepes" / "index.html").write_text("<p>crepes.fr</p>\n")
    (d / "secret.txt").write_text("outside every document root\n")
    (d / "origin.yaml").write_text((CAMPUS_HTTP / "origin.yaml").read_text() +
                                   "  www.crepes.fr:\n    root: crepes\n")
    return d


@pytest.fixture(scope="module")
def origin(site_dir, tmp_path_factory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("http-origin-data")
    with serving("origin", "--config", str(site_dir / "origin.yaml"), "--data", str(data),
                 "--idle-timeout", "2", "--request-timeout", "2", tmp=site_dir) as r:
        yield r


def ask(origin: Running, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
        host: str = "gaia.cs.umass.edu") -> http.client.HTTPResponse:
    c = http.client.HTTPConnection(origin.host, origin.port, timeout=5)
    c.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    resp = c.getresponse()
    resp.data = resp.read()
    c.close()
    return resp


def test_the_base_page_and_its_objects(origin):
    resp = ask(origin, "GET", "/")
    assert resp.status == 200 and b"ten referenced objects" in resp.data
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["ETag"] and resp.headers["Last-Modified"] and resp.headers["Date"]
    img = ask(origin, "GET", "/objects/image3.svg")
    assert img.status == 200 and img.headers["Cache-Control"] == "max-age=3600"
    assert img.headers["Content-Type"] == "image/svg+xml" and int(img.headers["Content-Length"]) == len(img.data)


def test_head_has_the_fields_but_no_body(origin):
    get, head = ask(origin, "GET", "/"), ask(origin, "HEAD", "/")
    assert head.status == 200 and head.data == b"" and head.headers["Content-Length"] == get.headers["Content-Length"]


def test_virtual_hosts_by_host(origin):
    assert ask(origin, "GET", "/", host="www.crepes.fr").data == b"<p>crepes.fr</p>\n"
    assert b"ten referenced objects" in ask(origin, "GET", "/", host="gaia:80").data


def test_conditional_get_by_etag_and_by_date(origin):
    first = ask(origin, "GET", "/index.html")
    by_etag = ask(origin, "GET", "/index.html", headers={"If-None-Match": first.headers["ETag"]})
    by_date = ask(origin, "GET", "/index.html", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert (by_etag.status, by_etag.data, by_date.status) == (304, b"", 304)
    assert by_etag.headers["ETag"] == first.headers["ETag"]
    changed = ask(origin, "GET", "/index.html", headers={"If-None-Match": '"other"'})
    assert changed.status == 200 and changed.data == first.data


def test_a_range_is_206_and_one_outside_is_416(origin):
    part = ask(origin, "GET", "/index.html", headers={"Range": "bytes=0-14"})
    assert part.status == 206 and part.data == b"<!DOCTYPE html>"
    assert part.headers["Content-Range"].startswith("bytes 0-14/")
    assert ask(origin, "GET", "/index.html", headers={"Range": "bytes=99999-"}).status == 416


def test_redirects(origin):
    moved = ask(origin, "GET", "/objects")
    assert (moved.status, moved.headers["Location"]) == (301, "/objects/")
    found = ask(origin, "GET", "/old.html")
    assert (found.status, found.headers["Location"]) == (302, "/index.html")


def test_put_post_delete_in_the_writable_folder(origin):
    created = ask(origin, "PUT", "/upload/note.txt", b"first")
    assert created.status == 201 and ask(origin, "GET", "/upload/note.txt").data == b"first"
    assert ask(origin, "PUT", "/upload/note.txt", b"second").status == 204
    assert ask(origin, "GET", "/upload/note.txt").data == b"second"
    posted = ask(origin, "POST", "/upload/", b"a new one")
    assert posted.status == 201 and ask(origin, "GET", posted.headers["Location"]).data == b"a new one"
    assert ask(origin, "DELETE", "/upload/note.txt").status == 204
    assert ask(origin, "GET", "/upload/note.txt").status == 404


def test_writing_outside_the_writable_folder_is_405_with_allow(origin):
    resp = ask(origin, "PUT", "/index.html", b"defaced")
    assert resp.status == 405 and "PUT" not in resp.headers["Allow"] and "GET" in resp.headers["Allow"]
    assert b"ten referenced objects" in ask(origin, "GET", "/index.html").data


def test_options(origin):
    resp = ask(origin, "OPTIONS", "/upload/x")
    assert resp.status == 204 and set(resp.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE", "POST"}


def test_the_cookie_page_counts_visits(origin):
    first = ask(origin, "GET", "/visits")
    cookie = first.headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("visitor=") and b"first visit" in first.data
    second = ask(origin, "GET", "/visits", headers={"Cookie": cookie})
    third = ask(origin, "GET", "/visits", headers={"Cookie": cookie})
    assert b"visit number 2" in second.data and b"visit number 3" in third.data
    assert "Set-Cookie" not in second.headers


@pytest.mark.parametrize("path", ["/../secret.txt", "/objects/../../secret.txt", "/%2e%2e/secret.txt",
                                  "/objects/%2e%2e/%2e%2e/secret.txt"])
def test_paths_leaving_the_document_root_are_403(origin, path):
    raw = exchange(origin, f"GET {path} HTTP/1.1\r\nHost: gaia\r\nConnection: close\r\n\r\n".encode())
    assert status_of(raw) == 403 and b"outside every" not in raw


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400),                      # HTTP/1.1 without Host
    (b"GET /nope HTTP/1.1\r\nHost: gaia\r\nConnection: close\r\n\r\n", 404),
    (b"POST /upload/ HTTP/1.1\r\nHost: gaia\r\n\r\n", 411),
    (b"PUT /upload/x HTTP/1.1\r\nHost: gaia\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: gaia\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: gaia\r\nCookie: " + b"c" * 20000 + b"\r\n\r\n", 431),
    (b"PATCH / HTTP/1.1\r\nHost: gaia\r\nContent-Length: 0\r\n\r\n", 501),
    (b"BREW / HTTP/1.1\r\nHost: gaia\r\n\r\n", 501),
    (b"GET / HTTP/2.0\r\nHost: gaia\r\n\r\n", 505),
    (b"POST /upload/ HTTP/1.1\r\nHost: gaia\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /upload/ HTTP/1.1\r\nHost: gaia\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
])
def test_refusals_have_the_right_status(origin, request_bytes, status):
    assert status_of(exchange(origin, request_bytes)) == status


def test_http10_closes_after_each_response(origin):
    raw = exchange(origin, b"GET /objects/style.css HTTP/1.0\r\n\r\n")   # read until the server closes
    assert raw.startswith(b"HTTP/1.1 200") and b"Connection: close" in raw


def test_http10_keep_alive_and_http11_pipelining(origin):
    with socket.create_connection((origin.host, origin.port), timeout=5) as s:
        s.sendall(b"GET /objects/style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = s.recv(65536)
        assert b"Connection: keep-alive" in first
        s.sendall(b"".join(b"GET /objects/image%d.svg HTTP/1.1\r\nHost: gaia\r\n\r\n" % i for i in range(1, 9)) +
                  b"GET /objects/script.js HTTP/1.1\r\nHost: gaia\r\nConnection: close\r\n\r\n")
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
    assert rest.count(b"HTTP/1.1 200 OK") == 9
    order = [rest.index(b"object %d<" % i) for i in range(1, 9)] + [rest.index(b"document.title")]
    assert order == sorted(order)   # answered in the order asked


def test_a_chunked_upload(origin):
    raw = exchange(origin, b"PUT /upload/chunked.txt HTTP/1.1\r\nHost: gaia\r\nTransfer-Encoding: chunked\r\n"
                           b"Connection: close\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n")
    assert status_of(raw) in (201, 204)
    assert ask(origin, "GET", "/upload/chunked.txt").data == b"Wikipedia"


def test_expect_100_continue(origin):
    with socket.create_connection((origin.host, origin.port), timeout=5) as s:
        s.sendall(b"PUT /upload/e.txt HTTP/1.1\r\nHost: gaia\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        assert s.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"ok")
        assert status_of(s.recv(1024)) in (201, 204)


def test_an_idle_connection_is_closed(origin):
    with socket.create_connection((origin.host, origin.port), timeout=10) as s:
        start = time.monotonic()
        assert s.recv(1024) == b""   # the server closed it: idle timeout 2 s
        assert 1.0 < time.monotonic() - start < 6.0


def test_a_slow_request_gets_408_and_is_closed(origin):
    with socket.create_connection((origin.host, origin.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: gai")
        raw = b""
        while chunk := s.recv(1024):
            raw += chunk
    assert status_of(raw) == 408


def test_a_handler_failure_is_500_and_the_server_goes_on(tmp_path):
    import asyncio

    from services.http.server import HttpServer

    def broken(req, peer):
        raise RuntimeError("bug")

    async def main() -> bytes:
        server = HttpServer(broken)
        await server.start("127.0.80.1", 0)
        r, w = await asyncio.open_connection("127.0.80.1", server.port)
        w.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        out = await r.read()
        w.close()
        await server.close()
        return out

    out = asyncio.run(main())
    assert out.count(b"HTTP/1.1 500 Internal Server Error") == 2


def test_sighup_reloads_the_sites(tmp_path):
    import signal

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text("first\n")
    config = tmp_path / "origin.yaml"
    config.write_text("sites:\n  a:\n    root: a\n")
    with serving("origin", "--config", str(config), tmp=tmp_path, host="127.0.80.6") as r:
        assert ask(r, "GET", "/", host="a").headers.get("Cache-Control") is None
        config.write_text("sites:\n  a:\n    root: a\n    cache: [{path: '/*', cache_control: 'max-age=9'}]\n")
        r.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "sites reloaded" not in r.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ask(r, "GET", "/", host="a").headers["Cache-Control"] == "max-age=9"


def test_a_broken_configuration_is_one_line_and_status_2(tmp_path):
    config = tmp_path / "origin.yaml"
    config.write_text("sites:\n  a:\n    root: nowhere\n")
    out = subprocess.run([sys.executable, "-m", "services.http", "origin", "--config", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "is not a folder" in out.stderr


def test_absolute_form_targets_are_accepted(origin):
    raw = exchange(origin, b"GET http://gaia.cs.umass.edu/objects/style.css HTTP/1.1\r\nHost: other\r\n"
                           b"Connection: close\r\n\r\n")
    assert status_of(raw) == 200 and b"font-family" in raw
