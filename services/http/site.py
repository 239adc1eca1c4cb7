"""The origin server's decisions (RFC 9110): which site (by Host), which file, which status.

A request in, a Reply out; the files come from each site's document root, the clock is injected. Static
files are read and their 200 reply built once, and again only when the file changes (checked at most
once a second), so serving one costs a dictionary look-up and a Date.

Per site (see OriginConfig): the document root, path patterns with their Cache-Control or Expires,
redirects, a folder where PUT, POST and DELETE may write, and the page that counts a visitor's visits
through a cookie (K&R 2.2.4: the server keeps a count per identification number it handed out).
"""

from __future__ import annotations

import fnmatch
import mimetypes
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import httptools

from .conditional import evaluate
from .messages import DateHeader, Headers, Request, http_date, index_headers
from .reply import Reply, error_reply, fields, make_reply, status_line

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "DELETE")
MAX_VISITORS = 10000     # cookie page: identification numbers remembered (oldest forgotten first)
MAX_CACHED_FILE = 4 << 20
NOT_MODIFIED_FIELDS = (b"etag", b"last-modified", b"cache-control", b"expires", b"vary", b"content-location")


@dataclass
class CacheRule:
    pattern: str                      # fnmatch on the path: "/objects/*"
    cache_control: str | None = None
    expires: int | None = None        # seconds from the response's time


@dataclass
class SiteConfig:
    name: str
    root: Path
    aliases: list[str] = field(default_factory=list)
    cache: list[CacheRule] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)     # path -> location (302)
    writable: str | None = None        # a path prefix where PUT/POST/DELETE may write, e.g. "/upload/",
                                       # kept in the server's data folder when it has one
    cookie_page: str | None = None     # e.g. "/visits"


@dataclass
class _File:
    checked: float
    mtime_ns: int
    size: int
    body: bytes
    fields: Headers                   # Content-Type, Last-Modified, ETag, Cache-Control/Expires
    tail: bytes                       # those fields rendered, with Content-Length


class Site:
    def __init__(self, config: SiteConfig, clock: Callable[[], float] = time.time, data: Path | None = None):
        self.config = config
        self.root = config.root.resolve()
        # what clients write lives outside the document root (which may be read-only, or a repository)
        self.data = (data / config.name).resolve() if data is not None else self.root
        self.clock = clock
        self.date = DateHeader(clock)
        self.files: dict[str, _File] = {}
        self.visitors: OrderedDict[str, int] = OrderedDict()

    def allowed(self, path: str) -> str:
        writable = self.config.writable and path.startswith(self.config.writable)
        return ", ".join(READ_METHODS + (WRITE_METHODS if writable else ()))

    def respond(self, req: Request, path: str) -> Reply:
        method = req.method
        if method not in READ_METHODS + WRITE_METHODS:
            return error_reply(501, f"{method} is not implemented here", date=self.date())
        if path in self.config.redirects:
            return make_reply(302, [(b"Location", self.config.redirects[path].encode())], date=self.date(),
                              head_only=method == "HEAD")
        if method == "OPTIONS":
            return make_reply(204, [(b"Allow", self.allowed(path).encode())], date=self.date())
        if path == self.config.cookie_page:
            return self._visits(req)
        if method in WRITE_METHODS:
            if not (self.config.writable and path.startswith(self.config.writable)):
                return error_reply(405, f"{method} is not allowed on {path}", date=self.date(),
                                   extra=[(b"Allow", self.allowed(path).encode())])
            return self._write(req, path)
        return self._read(req, path)

    def _local(self, path: str) -> Path | None:
        """The file a path names, or None when it would leave the document root (or the data folder, for
        the writable paths)."""
        if "\0" in path:
            return None
        base = self.data if self.config.writable and path.startswith(self.config.writable) else self.root
        local = (base / path.lstrip("/")).resolve()
        if local != base and base not in local.parents:
            return None
        return local

    def _read(self, req: Request, path: str) -> Reply:
        f = self.files.get(path)
        if f is None or self.clock() - f.checked >= 1.0:  # else: served from memory, checked < 1 s ago
            local = self._local(path)
            if local is None:
                return error_reply(403, "the path leaves the document root", date=self.date())
            if local.is_dir():
                if not path.endswith("/"):
                    return make_reply(301, [(b"Location", (path + "/").encode())], date=self.date(),
                                      head_only=req.method == "HEAD")
                local = local / "index.html"
            f = self._file(path, local)
            if f is None:
                return error_reply(404, f"{path} is not here", date=self.date())
        head_only = req.method == "HEAD"
        if len(req.headers) and (b"if-none-match" in (idx := index_headers(req.headers)) or
                                 b"if-modified-since" in idx or b"if-match" in idx or
                                 b"if-unmodified-since" in idx or b"range" in idx):
            status = evaluate(req.method, idx, index_headers(f.fields))
            if status == 304:  # with the fields that guide caches only (RFC 9110 15.4.5)
                return make_reply(304, [(n, v) for n, v in f.fields if n.lower() in NOT_MODIFIED_FIELDS],
                                  date=self.date())
            if status == 412:
                return error_reply(412, "the precondition does not hold", date=self.date())
            if b"range" in idx and req.method == "GET" and self._range_applies(idx, f):
                return self._partial(idx[b"range"], f)
        return Reply(200, status_line(200) + b"Date: " + self.date() + b"\r\n" + f.tail,
                     b"" if head_only else f.body)

    @staticmethod
    def _range_applies(idx: dict[bytes, bytes], f: _File) -> bool:
        if_range = idx.get(b"if-range")
        return if_range is None or if_range == dict(f.fields).get(b"ETag") or \
            if_range == dict(f.fields).get(b"Last-Modified")

    def _partial(self, spec: bytes, f: _File) -> Reply:
        """One byte range (RFC 9110 14.1.2); several ranges get the whole file, as a server may."""
        unit, _, ranges = spec.partition(b"=")
        if unit.strip().lower() != b"bytes" or b"," in ranges:
            return make_reply(200, f.fields, f.body, date=self.date())
        first, _, last = ranges.strip().partition(b"-")
        try:
            if first == b"":
                start, end = max(f.size - int(last), 0), f.size - 1
            else:
                start = int(first)
                end = min(int(last), f.size - 1) if last else f.size - 1
        except ValueError:
            return make_reply(200, f.fields, f.body, date=self.date())
        if start >= f.size or start > end:
            return error_reply(416, "the range is outside the file", date=self.date(),
                               extra=[(b"Content-Range", f"bytes */{f.size}".encode())])
        return make_reply(206, f.fields + [(b"Content-Range", f"bytes {start}-{end}/{f.size}".encode())],
                          f.body[start:end + 1], date=self.date())

    def _file(self, path: str, local: Path) -> _File | None:
        """The file's reply parts, read again only when its modification time or size changed."""
        now = self.clock()
        f = self.files.get(path)
        try:
            st = local.stat()
        except OSError:
            self.files.pop(path, None)
            return None
        if not local.is_file():
            return None
        if f is not None and f.mtime_ns == st.st_mtime_ns and f.size == st.st_size:
            f.checked = now
            return f
        body = local.read_bytes()
        ctype = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
        hdrs: Headers = [(b"Content-Type", ctype.encode()), (b"Last-Modified", http_date(st.st_mtime)),
                         (b"ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"'.encode()), (b"Accept-Ranges", b"bytes")]
        for rule in self.config.cache:
            if fnmatch.fnmatchcase(path, rule.pattern):
                if rule.cache_control:
                    hdrs.append((b"Cache-Control", rule.cache_control.encode()))
                if rule.expires is not None:
                    hdrs.append((b"Expires", http_date(now + rule.expires)))
                break
        tail = fields(hdrs + [(b"Content-Length", str(len(body)).encode())])
        f = _File(now, st.st_mtime_ns, st.st_size, body, hdrs, tail)
        if len(body) <= MAX_CACHED_FILE:
            self.files[path] = f
        return f

    def _write(self, req: Request, path: str) -> Reply:
        local = self._local(path)
        if local is None:
            return error_reply(403, "the path leaves the document root", date=self.date())
        self.files.pop(path, None)
        if req.method == "DELETE":
            if not local.is_file():
                return error_reply(404, f"{path} is not here", date=self.date())
            local.unlink()
            return make_reply(204, [], date=self.date())
        if req.method == "POST":  # a new resource in the collection the path names
            name = f"{int(self.clock() * 1000):x}-{secrets.token_hex(3)}"
            path, local = path.rstrip("/") + "/" + name, local / name
        if local.is_dir():
            return error_reply(405, f"{path} is a folder", date=self.date())
        existed = local.exists()
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.part")
        tmp.write_bytes(req.body)
        os.replace(tmp, local)   # whole or not at all
        if existed:
            return make_reply(204, [], date=self.date())
        return make_reply(201, [(b"Location", path.encode()), (b"Content-Type", b"text/plain")],
                          f"created {path}\n".encode(), date=self.date())

    def _visits(self, req: Request) -> Reply:
        if req.method not in ("GET", "HEAD"):
            return error_reply(405, "the visits page is read with GET", date=self.date(),
                               extra=[(b"Allow", b"GET, HEAD")])
        visitor = _cookie(req.header(b"cookie"), "visitor")
        hdrs: Headers = [(b"Content-Type", b"text/html; charset=utf-8"), (b"Cache-Control", b"private")]
        if visitor in self.visitors:
            self.visitors[visitor] += 1
            self.visitors.move_to_end(visitor)
            count = self.visitors[visitor]
            text = f"<p>Welcome back, visitor {visitor}: this is your visit number {count}.</p>"
        else:
            visitor = str(secrets.randbelow(9000) + 1000) + secrets.token_hex(2)
            self.visitors[visitor] = 1
            if len(self.visitors) > MAX_VISITORS:
                self.visitors.popitem(last=False)
            hdrs.append((b"Set-Cookie", f"visitor={visitor}; Path=/; Max-Age=86400".encode()))
            text = "<p>Welcome, new visitor: this is your first visit.</p>"
        body = f"<!DOCTYPE html>\n<html><head><title>Visits</title></head><body>{text}</body></html>\n"
        return make_reply(200, hdrs, body.encode(), date=self.date(), head_only=req.method == "HEAD")


def _cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class Origin:
    """The sites of one server, chosen by the request's Host (virtual hosts); the first is the default."""

    def __init__(self, sites: list[Site]):
        self.use(sites)

    def use(self, sites: list[Site]) -> None:
        """Serve these sites from now on (a reloaded configuration)."""
        self.sites = sites
        self.by_name = {n.lower(): s for s in sites for n in [s.config.name, *s.config.aliases]}
        self.date = sites[0].date

    def __call__(self, req: Request, peer: str = "") -> Reply:
        target = req.target
        if target == "*":
            if req.method == "OPTIONS":
                return make_reply(204, [(b"Allow", b", ".join(m.encode() for m in READ_METHODS + WRITE_METHODS))],
                                  date=self.date())
            return error_reply(400, "the target * is for OPTIONS only", date=self.date())
        host = req.header(b"host")
        if target[0:1] != "/":  # absolute-form (RFC 9112 3.2.2): the target's authority wins over Host
            try:
                url = httptools.parse_url(target.encode("latin-1"))
            except httptools.HttpParserInvalidURLError:
                return error_reply(400, "the request target is not a URL", date=self.date())
            host = url.host or b""
            target = (url.path or b"/").decode("latin-1") + ("?" + url.query.decode("latin-1") if url.query else "")
        elif host is None and req.version == "1.1":
            return error_reply(400, "an HTTP/1.1 request must carry Host", date=self.date())
        elif host is not None and b"," in host:
            return error_reply(400, "a request carries one Host", date=self.date())
        if req.method == "CONNECT":
            return error_reply(405, "this is an origin server, not a proxy", date=self.date(),
                               extra=[(b"Allow", b"GET, HEAD, POST, PUT, DELETE, OPTIONS")])
        name = (host or b"").decode("latin-1").rsplit(":", 1)[0].lower() if host and not host.startswith(b"[") \
            else (host or b"").decode("latin-1").lower()
        site = self.by_name.get(name, self.sites[0])
        path = target.split("?", 1)[0]
        if "%" in path:
            try:
                path = unquote(path, errors="strict")
            except UnicodeDecodeError:
                return error_reply(400, "the path is not UTF-8 once decoded", date=self.date())
        return site.respond(req, path)
