"""The caching proxy on loopback, through real sockets: `python -m services.http proxy` in front of the
project's origin (whose access log says what reached it) and of a scripted origin (stdlib http.server)
that counts requests and connections and shows what the proxy forwarded."""

from __future__ import annotations

import http.client
import http.server
import json
import resource
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_http_origin import CAMPUS_HTTP, Running, exchange, serving, status_of


class ScriptedOrigin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counts: Counter = Counter()
    peers: set = set()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0]
        type(self).counts[path] += 1
        type(self).peers.add(self.client_address)
        headers = {"Content-Type": "text/plain"}
        body = b"object " + path.encode()
        if path in ("/slow", "/slow-nostore"):
            time.sleep(0.6)
            headers["Cache-Control"] = "max-age=60" if path == "/slow" else "no-store"
        elif path == "/echo":
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            headers.update({"Cache-Control": "no-store", "Connection": "X-Hop", "X-Hop": "secret",
                            "Keep-Alive": "timeout=5", "X-End": "kept"})
        elif path in ("/private", "/nostore", "/public"):
            headers["Cache-Control"] = {"/private": "private, max-age=60", "/nostore": "no-store",
                                        "/public": "public, max-age=60"}[path]
        elif path == "/auth":
            headers["Cache-Control"] = "max-age=60"
        elif path == "/vary":
            headers.update({"Cache-Control": "max-age=60", "Vary": "Accept-Language"})
            body = f"in {self.headers.get('Accept-Language', 'none')}".encode()
        elif path == "/fresh":
            headers["Cache-Control"] = "max-age=60"
        headers["Content-Length"] = str(len(body))
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).counts["PUT " + self.path] += 1
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.80.3", 0), ScriptedOrigin)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("http-proxy-origin")
    with serving("origin", "--config", str(CAMPUS_HTTP / "origin.yaml"), "--data", str(tmp), tmp=tmp,
                 host="127.0.80.1") as r:
        yield r


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("http-proxy")
    with serving("proxy", "--name", "proxy.poly.edu", "--connect", "tunnel", "--connect-port", "7", tmp=tmp,
                 host="127.0.80.2") as r:
        yield r


def via(proxy: Running, url: str, headers: dict | None = None, method: str = "GET",
        body: bytes | None = None) -> http.client.HTTPResponse:
    c = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    c.request(method, url, body=body, headers=headers or {})
    resp = c.getresponse()
    resp.data = resp.read()
    c.close()
    return resp


def origin_hits(origin: Running, path: str) -> list[str]:
    return [line for line in origin.output().splitlines() if f" GET {path} " in line]


def proxy_log(proxy: Running, url: str) -> list[str]:
    return [line.split()[-2] for line in proxy.output().splitlines() if f" GET {url} " in line]


def test_miss_then_hit_then_revalidated_with_a_304(proxy, origin):
    url = f"{origin.url}/web-cache/object.html"
    first = via(proxy, url)
    assert first.status == 200 and first.headers["Via"] == "1.1 proxy.poly.edu (wirelab)"
    assert len(origin_hits(origin, "/web-cache/object.html")) == 1
    second = via(proxy, url)
    assert second.data == first.data and int(second.headers["Age"]) <= 2
    assert len(origin_hits(origin, "/web-cache/object.html")) == 1        # not asked again
    time.sleep(2.2)                                                     # max-age=2 has passed
    third = via(proxy, url)
    assert third.status == 200 and third.data == first.data
    hits = origin_hits(origin, "/web-cache/object.html")
    assert len(hits) == 2 and " 304 " in hits[-1]                       # a conditional GET, not modified
    assert proxy_log(proxy, url) == ["MISS", "HIT", "REVALIDATED"]


def test_age_grows_while_the_object_sits_in_the_cache(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/fresh?age"
    via(proxy, url)
    time.sleep(1.1)
    assert int(via(proxy, url).headers["Age"]) >= 1


def test_a_conditional_client_request_is_answered_304_from_the_cache(proxy, origin):
    url = f"{origin.url}/objects/image5.svg"
    first = via(proxy, url)
    before = len(origin_hits(origin, "/objects/image5.svg"))
    again = via(proxy, url, {"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and len(origin_hits(origin, "/objects/image5.svg")) == before


def test_hop_by_hop_fields_are_removed_both_ways_and_via_added(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/echo"
    resp = via(proxy, url, {"Connection": "X-Client-Hop", "X-Client-Hop": "1", "Proxy-Connection": "keep-alive",
                            "X-Kept": "yes"})
    seen = json.loads(resp.data)
    assert "x-client-hop" not in seen and "proxy-connection" not in seen and seen["x-kept"] == "yes"
    assert seen["via"] == "1.1 proxy.poly.edu (wirelab)" and seen["host"] == f"{scripted[0]}:{scripted[1]}"
    assert resp.headers["X-Hop"] is None and resp.headers["Keep-Alive"] is None and resp.headers["X-End"] == "kept"
    assert resp.headers["Via"] == "1.1 proxy.poly.edu (wirelab)"


@pytest.mark.parametrize("path, headers", [("/private", {}), ("/nostore", {}),
                                           ("/auth", {"Authorization": "Basic YTpi"})])
def test_what_a_shared_cache_must_not_store_goes_to_the_origin_each_time(proxy, scripted, path, headers):
    url = f"http://{scripted[0]}:{scripted[1]}{path}"
    before = ScriptedOrigin.counts[path]
    via(proxy, url, headers)
    via(proxy, url, headers)
    assert ScriptedOrigin.counts[path] - before == 2


def test_authorization_with_public_is_stored(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/public"
    via(proxy, url, {"Authorization": "Basic YTpi"})
    via(proxy, url, {"Authorization": "Basic YTpi"})
    assert ScriptedOrigin.counts["/public"] == 1


def test_vary_keeps_one_variant_per_request_value(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/vary"
    assert via(proxy, url, {"Accept-Language": "fr"}).data == b"in fr"
    assert via(proxy, url, {"Accept-Language": "pt"}).data == b"in pt"
    assert via(proxy, url, {"Accept-Language": "fr"}).data == b"in fr"
    assert ScriptedOrigin.counts["/vary"] == 2


def test_simultaneous_misses_make_one_origin_request(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/slow"
    with ThreadPoolExecutor(10) as pool:
        bodies = list(pool.map(lambda _: via(proxy, url).data, range(10)))
    assert bodies == [b"object /slow"] * 10
    assert ScriptedOrigin.counts["/slow"] == 1


def test_simultaneous_requests_for_what_cannot_be_stored_each_get_an_answer(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/slow-nostore"
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: via(proxy, url).status, range(6)))
    assert statuses == [200] * 6 and ScriptedOrigin.counts["/slow-nostore"] == 6


def test_connections_to_the_origin_persist(proxy, scripted):
    ScriptedOrigin.peers.clear()
    for i in range(20):
        via(proxy, f"http://{scripted[0]}:{scripted[1]}/echo?{i}")
    assert len(ScriptedOrigin.peers) == 1


def test_an_unsafe_method_goes_through_and_invalidates(proxy, scripted):
    url = f"http://{scripted[0]}:{scripted[1]}/fresh"
    via(proxy, url)
    before = ScriptedOrigin.counts["/fresh"]
    assert via(proxy, url, method="PUT", body=b"new").status == 204
    assert ScriptedOrigin.counts["PUT /fresh"] == 1
    via(proxy, url)
    assert ScriptedOrigin.counts["/fresh"] == before + 1   # the stored one was dropped


def test_an_origin_that_does_not_answer_is_502(proxy):
    resp = via(proxy, "http://127.0.80.9:9/")
    assert resp.status == 502 and b"cannot connect" in resp.data


def test_origin_form_requests_are_refused(proxy):
    assert status_of(exchange(proxy, b"GET / HTTP/1.1\r\nHost: gaia\r\nConnection: close\r\n\r\n")) == 400


def test_clients_outside_the_allowed_networks_are_refused(tmp_path, origin):
    with serving("proxy", "--allow", "10.0.0.0/16", tmp=tmp_path, host="127.0.80.4") as lab_only:
        resp = via(lab_only, f"{origin.url}/")
        assert resp.status == 403 and b"campus's own networks" in resp.data


def test_connect_refused_by_default(tmp_path):
    with serving("proxy", tmp=tmp_path, host="127.0.80.4") as refusing:
        raw = exchange(refusing, b"CONNECT 127.0.80.1:443 HTTP/1.1\r\nHost: 127.0.80.1:443\r\n\r\n")
        assert status_of(raw) == 403


def test_connect_tunnels_to_an_allowed_port(proxy):
    echo = socket.create_server(("127.0.80.5", 7))
    threading.Thread(target=lambda: (lambda c: c.sendall(c.recv(100).upper()))(echo.accept()[0]), daemon=True).start()
    with socket.create_connection((proxy.host, proxy.port), timeout=5) as s:
        s.sendall(b"CONNECT 127.0.80.5:7 HTTP/1.1\r\nHost: 127.0.80.5:7\r\n\r\n")
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        s.sendall(b"through the tunnel")
        assert s.recv(1024) == b"THROUGH THE TUNNEL"
    echo.close()
    raw = exchange(proxy, b"CONNECT 127.0.80.5:25 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(raw) == 403
    raw = exchange(proxy, b"CONNECT 127.0.80.5:\xb2 HTTP/1.1\r\nHost: x\r\n\r\n")  # a Latin-1 superscript two
    assert status_of(raw) == 400  # refused as a request line that is not ASCII, before any port is read


def test_a_thousand_slow_clients_do_not_stop_the_proxy(proxy, origin):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    slow = []
    try:
        for _ in range(1000):
            s = socket.create_connection((proxy.host, proxy.port), timeout=5)
            s.sendall(b"GET http://127.0.80.1/ HTTP/1.1\r\nHost: gai")   # and never the rest
            slow.append(s)
        start = time.monotonic()
        for _ in range(20):
            assert via(proxy, f"{origin.url}/objects/style.css").status == 200
        assert time.monotonic() - start < 5.0
        # the slow ones are still held open, not dropped to make room
        alive = sum(1 for s in slow[:50] if not _closed(s))
        assert alive == 50
    finally:
        for s in slow:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _closed(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    finally:
        s.setblocking(True)
