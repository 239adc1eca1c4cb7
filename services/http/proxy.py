"""The caching forward proxy (RFC 9110 7.6, RFC 9111): the campus's web cache.

Clients configured with http_proxy send absolute-form requests ("GET http://host/path HTTP/1.1"); the
proxy answers from its cache when RFC 9111 allows (a fresh stored response, with Age), validates a
stale one with a conditional GET (If-None-Match / If-Modified-Since) and serves the 304 as a hit,
and passes misses to the origin over pooled persistent connections. Simultaneous misses for one URL
make one origin request: the others wait for it and take what it stored. Hop-by-hop fields are removed
in both directions and a Via field added. Only clients in the allowed networks are served. CONNECT is
refused, or tunnelled to the allowed ports, as configured.

A hit is answered without leaving the caller's turn of the event loop (no task, no copy of the body);
everything that needs the origin is a coroutine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools

from . import freshness
from .cache import Cache, Entry
from .conditional import evaluate
from .messages import DateHeader, Headers, Request, Response, end_to_end, render_request_head
from .reply import Reply, Tunnel, error_reply, fields, status_line
from .upstream import UpstreamError, UpstreamPool

log = logging.getLogger("services.http.proxy")

CONDITIONALS = frozenset({b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since",
                          b"if-range"})
# fields the proxy itself sets on the request it forwards (framing and Host are its own to decide)
REQUEST_DROP = frozenset({b"host", b"content-length", b"expect", b"via"})
NOT_MODIFIED_FIELDS = (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary",
                       b"last-modified", b"via")


@dataclass
class ProxyConfig:
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(
        default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8")])
    name: str = "proxy"                   # in Via: "1.1 proxy.poly.edu (wirelab)"
    connect: str = "refuse"               # or "tunnel"
    connect_ports: tuple[int, ...] = (443,)


class Proxy:
    def __init__(self, config: ProxyConfig, cache: Cache | None = None, pool: UpstreamPool | None = None,
                 clock: Callable[[], float] = time.time):
        self.config, self.clock = config, clock
        self.cache = cache or Cache()
        self.pool = pool or UpstreamPool()
        self.date = DateHeader(clock)
        self.via = f"1.1 {config.name} (wirelab)".encode()
        self.via_line = b"Via: " + self.via + b"\r\n"
        self.inflight: dict[bytes, asyncio.Future] = {}
        self._allowed: dict[str, bool] = {}
        self._urls: dict[str, tuple[bytes, str, int, str] | None] = {}
        self.counts = {"HIT": 0, "MISS": 0, "REVALIDATED": 0}

    def allowed(self, peer: str) -> bool:
        ok = self._allowed.get(peer)
        if ok is None:
            try:
                addr = ipaddress.ip_address(peer)
                ok = any(addr in net for net in self.config.allow)
            except ValueError:
                ok = False
            if len(self._allowed) < 65536:
                self._allowed[peer] = ok
        return ok

    def _url(self, target: str) -> tuple[bytes, str, int, str] | None:
        """(cache key, host, port, origin-form target) of an absolute-form http URL, None if it is not one."""
        out = self._urls.get(target, False)
        if out is not False:
            return out
        out = None
        try:
            url = httptools.parse_url(target.encode("latin-1"))
            if url.schema and url.schema.lower() == b"http" and url.host:
                host, port = url.host.lower().decode("latin-1"), url.port or 80
                path = (url.path or b"/") + (b"?" + url.query if url.query else b"")
                key = b"http://%s:%d%s" % (host.encode("latin-1"), port, path)
                out = (key, host, port, path.decode("latin-1"))
        except httptools.HttpParserInvalidURLError:
            pass
        if len(self._urls) > 10000:
            self._urls.clear()
        self._urls[target] = out
        return out

    def __call__(self, req: Request, peer: str):
        if not self.allowed(peer):
            return error_reply(403, f"this proxy serves the campus's own networks only, not {peer}",
                               date=self.date())
        if req.method == "CONNECT":
            return self._connect(req)
        url = self._url(req.target)
        if url is None:
            if req.target.startswith("/"):
                return error_reply(400, "this is a proxy: send absolute-form requests (set http_proxy)",
                                   date=self.date())
            return error_reply(400, "only http:// URLs are proxied (https goes through CONNECT)",
                               date=self.date())
        key = url[0]
        if req.method not in ("GET", "HEAD"):
            return self._forward(req, url, invalidate=True)
        entry = self.cache.get(key, self._index(req))
        now = self.clock()
        if entry is not None:
            idx = self._index(req)
            if entry.plain and now < entry.fresh_until and b"cache-control" not in idx and b"pragma" not in idx:
                return self._from_cache(req, entry, now, "HIT")
            if freshness.verdict(idx, entry.index, entry.request_time, entry.response_time, now,
                                 entry.status) is freshness.Verdict.FRESH:
                return self._from_cache(req, entry, now, "HIT")
        if "only-if-cached" in freshness.cache_control(req.header(b"cache-control")):
            return error_reply(504, "not in the cache, and the client asked only-if-cached", date=self.date())
        return self._fetch(req, url, entry)

    @staticmethod
    def _index(req: Request) -> dict[bytes, bytes]:
        req.header(b"host")
        return req._index

    def _from_cache(self, req: Request, entry: Entry, now: float, note: str) -> Reply:
        self.counts[note] += 1
        idx = self._index(req)
        if CONDITIONALS & idx.keys():
            status = evaluate(req.method, idx, entry.index)
            if status == 304:
                kept = [(n, v) for n, v in entry.headers if n.lower() in NOT_MODIFIED_FIELDS]
                return Reply(304, status_line(304) + fields(kept), b"", note=note)
        return Reply(entry.status, entry.head_with_age(now), entry.body if req.method == "GET" else b"",
                     note=note)

    def _connect(self, req: Request) -> Reply | Tunnel:
        host, _, port = req.target.rpartition(":")
        if self.config.connect != "tunnel":
            return error_reply(403, "CONNECT tunnels are refused by this proxy's configuration", date=self.date())
        if not (port.isascii() and port.isdigit()) or int(port) not in self.config.connect_ports:
            return error_reply(403, f"CONNECT is allowed to ports {self.config.connect_ports} only",
                               date=self.date())
        return Tunnel(host.strip("[]"), int(port))

    def _request_bytes(self, req: Request, host: str, port: int, path: str, method: str | None = None,
                       extra: Headers = (), drop: frozenset[bytes] = frozenset()) -> bytes:
        headers = [(n, v) for n, v in end_to_end(req.headers) if n.lower() not in REQUEST_DROP | drop]
        authority = host if port == 80 else f"{host}:{port}"
        headers = [(b"Host", authority.encode("latin-1")), *headers, *extra]
        via = [v for n, v in req.headers if n.lower() == b"via"]
        headers.append((b"Via", b", ".join([*via, self.via])))
        if req.body or req.method in ("POST", "PUT"):
            headers.append((b"Content-Length", str(len(req.body)).encode()))
        return render_request_head(method or req.method, path, headers) + req.body

    def _response_headers(self, resp: Response, keep_length: bool = False) -> Headers:
        drop = () if keep_length else (b"content-length",)
        headers = [(n, v) for n, v in end_to_end(resp.headers) if n.lower() not in drop and n.lower() != b"via"]
        via = [v for n, v in resp.headers if n.lower() == b"via"]
        return headers + [(b"Via", b", ".join([*via, f"{resp.version} {self.config.name} (wirelab)".encode()]))]

    async def _fetch(self, req: Request, url: tuple[bytes, str, int, str], stale: Entry | None) -> Reply:
        key = url[0]
        waiting = self.inflight.get(key)
        if waiting is not None:  # someone is already asking the origin for this URL: share the answer
            await asyncio.shield(waiting)
            now = self.clock()
            entry = self.cache.get(key, self._index(req))
            if entry is not None and freshness.verdict(self._index(req), entry.index, entry.request_time,
                                                       entry.response_time, now, entry.status) \
                    is freshness.Verdict.FRESH:
                return self._from_cache(req, entry, now, "HIT")
            # what came back may not be stored (no-store, private...): then each asks for itself
            return await self._fetch_from_origin(req, url, entry)
        fut = asyncio.get_running_loop().create_future()
        self.inflight[key] = fut
        try:
            return await self._fetch_from_origin(req, url, stale)
        finally:
            del self.inflight[key]
            fut.set_result(None)

    async def _fetch_from_origin(self, req: Request, url: tuple[bytes, str, int, str],
                                 stale: Entry | None) -> Reply:
        key, host, port, path = url
        validators = freshness.validators(stale.index) if stale is not None else []
        # with a stored response, the conditions are the cache's own (the client's are checked against
        # what comes back); without one, the client's go through and a 304 goes back to it
        data = self._request_bytes(req, host, port, path, "GET", validators,
                                   CONDITIONALS if stale is not None else frozenset())
        request_time = self.clock()
        try:
            resp = await self.pool.request(host, port, "GET", data)
        except UpstreamError as e:
            return error_reply(e.status, str(e), date=self.date())
        now = self.clock()
        if stale is not None and resp.status == 304 and validators:
            stale.headers = freshness.freshen(stale.headers, self._response_headers(resp))
            stale.request_time, stale.response_time = request_time, now
            stale.refresh()
            return self._from_cache(req, stale, now, "REVALIDATED")
        idx = self._index(req)
        headers = self._response_headers(resp)
        resp_index = _index(resp)
        if freshness.storable("GET", idx, resp.status, resp_index):
            entry = Entry(key, resp.status, headers, resp.body, request_time, now,
                          freshness.variant_key(resp_index.get(b"vary"), idx))
            if self.cache.put(entry):
                return self._from_cache(req, entry, now, "MISS")
        elif stale is not None:
            self.cache.remove(key)
        self.counts["MISS"] += 1
        return self._plain(req, resp, headers, "MISS")

    def _plain(self, req: Request, resp: Response, headers: Headers, note: str) -> Reply:
        body = b"" if req.method == "HEAD" else resp.body
        if req.method == "HEAD":
            headers = self._response_headers(resp, keep_length=True)
        elif resp.status not in (204, 304) and resp.status >= 200:
            headers = headers + [(b"Content-Length", str(len(body)).encode())]
        return Reply(resp.status, status_line(resp.status, resp.reason) + fields(headers), body, note=note)

    async def _forward(self, req: Request, url: tuple[bytes, str, int, str], invalidate: bool) -> Reply:
        key, host, port, path = url
        data = self._request_bytes(req, host, port, path)
        try:
            resp = await self.pool.request(host, port, req.method, data)
        except UpstreamError as e:
            return error_reply(e.status, str(e), date=self.date())
        if invalidate and req.method not in ("OPTIONS", "TRACE") and resp.status < 400:
            self.cache.remove(key)  # RFC 9111 4.4: an unsafe method changed what the URL names
        return self._plain(req, resp, self._response_headers(resp), "MISS")


def _index(resp: Response) -> dict[bytes, bytes]:
    resp.header(b"date")
    return resp._index
