"""A small browser: fetches a base HTML page, then every object it references (img, script, link,
iframe...), as K&R 2.2.2 describes: over HTTP/1.0 non-persistent connections (a new TCP connection per
object, two RTTs each) or one HTTP/1.1 persistent connection (one RTT per object after the first).
It keeps cookies (per host, in memory) and can go through a forward proxy.

    python -m services.http get http://gaia.cs.umass.edu/ [--non-persistent] [--proxy http://proxy:3128]
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from .connection import ClientConnection, ResponseError
from .messages import Headers, Response, render_request_head


class BrowserError(Exception):
    """The page could not be fetched at all (no connection, a malformed answer): one line for the user."""


@dataclass
class Fetch:
    url: str
    status: int
    size: int
    connection: int     # which TCP connection carried it (1, 2, ...)
    seconds: float


@dataclass
class _Conn:
    sock: socket.socket
    core: ClientConnection
    number: int


class _References(HTMLParser):
    ATTRS = {"img": "src", "script": "src", "link": "href", "iframe": "src", "embed": "src",
             "audio": "src", "video": "src", "source": "src", "object": "data"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        want = self.ATTRS.get(tag)
        for name, value in attrs:
            if name == want and value and value not in self.found:
                self.found.append(value)


def references(html: str, base: str) -> list[str]:
    """The URLs of the objects a page references, in document order, each once."""
    parser = _References()
    parser.feed(html)
    return [urljoin(base, ref) for ref in parser.found]


@dataclass
class Browser:
    proxy: str | None = None
    persistent: bool = True
    timeout: float = 10.0
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    connections: int = 0
    _open: dict[tuple[str, int], _Conn] = field(default_factory=dict)

    def _connect(self, host: str, port: int) -> _Conn:
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
        except OSError as e:
            raise BrowserError(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        return _Conn(sock, ClientConnection(), self.connections)

    def get(self, url: str, extra: Headers = ()) -> tuple[Response, int]:
        """One GET: the response and the number of the connection that carried it."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise BrowserError(f"{url}: only http:// URLs")
        host, port = parts.hostname, parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if self.proxy:
            p = urlsplit(self.proxy if "//" in self.proxy else "http://" + self.proxy)
            where, target = (p.hostname or "", p.port or 3128), url
        else:
            where = (host, port)
        headers: Headers = [(b"Host", (host if port == 80 else f"{host}:{port}").encode()),
                            (b"User-Agent", b"wirelab-browser/1"), (b"Accept", b"*/*")]
        if jar := self.cookies.get(host):
            headers.append((b"Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()).encode()))
        version = "1.1" if self.persistent else "1.0"
        conn = self._open.pop(where, None) if self.persistent else None
        if conn is None:
            conn = self._connect(*where)
        head = render_request_head("GET", target, headers + list(extra), version)
        try:
            resp = self._exchange(conn, head)
        except (OSError, ResponseError) as e:
            conn.sock.close()
            raise BrowserError(f"{url}: {e}") from None
        if self.persistent and resp.keep_alive:
            self._open[where] = conn
        else:
            conn.sock.close()
        for name, value in resp.headers:
            if name.lower() == b"set-cookie":
                k, _, v = value.decode("latin-1").split(";", 1)[0].strip().partition("=")
                self.cookies.setdefault(host, {})[k] = v
        return resp, conn.number

    def _exchange(self, conn: _Conn, head: bytes) -> Response:
        conn.core.sending("GET")
        conn.sock.sendall(head)
        while True:
            data = conn.sock.recv(65536)
            events = conn.core.receive(data) if data else conn.core.eof()
            if events:
                return events[0]
            if not data:
                raise ResponseError("the server closed the connection without answering")

    def page(self, url: str, objects: bool = True) -> list[Fetch]:
        """The base page, then each referenced object, one after the other."""
        fetches = []
        start = time.monotonic()
        resp, number = self.get(url)
        fetches.append(Fetch(url, resp.status, len(resp.body), number, time.monotonic() - start))
        ctype = (resp.header(b"content-type") or b"").decode("latin-1")
        if objects and resp.status == 200 and "html" in ctype:
            for ref in references(resp.body.decode("utf-8", "replace"), url):
                t = time.monotonic()
                r, number = self.get(ref)
                fetches.append(Fetch(ref, r.status, len(r.body), number, time.monotonic() - t))
        return fetches

    def close(self) -> None:
        for conn in self._open.values():
            conn.sock.close()
        self._open.clear()


def fetch_page(url: str, proxy: str | None = None, persistent: bool = True, objects: bool = True,
               repeat: int = 1, out=sys.stdout) -> int:
    """The `get` command: prints one line per object and a summary; exit status 0 when all were 200."""
    browser = Browser(proxy=proxy, persistent=persistent)
    ok = True
    try:
        for round_ in range(repeat):
            start, before = time.monotonic(), browser.connections
            fetches = browser.page(url, objects)
            for f in fetches:
                print(f"{f.status} {f.size:>8} bytes  conn {f.connection:>2}  {f.seconds * 1000:8.2f} ms  {f.url}",
                      file=out)
                ok = ok and f.status == 200
            print(f"round {round_ + 1}: {len(fetches)} objects, {browser.connections - before} TCP connections, "
                  f"{(time.monotonic() - start) * 1000:.2f} ms, HTTP/{'1.1 persistent' if persistent else '1.0 non-persistent'}",
                  file=out)
            browser.close()
    finally:
        browser.close()
    return 0 if ok else 1
