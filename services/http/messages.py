"""HTTP/1.x messages as plain values, and their serialisation (RFC 9110, RFC 9112).

Header names are kept as received for forwarding and looked up lower-cased. A response's head is
rendered to bytes once; the body is sent as it is (no copy into the head), so a cached object's bytes
are built once and written as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime

Headers = list[tuple[bytes, bytes]]

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    412: "Precondition Failed", 413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}
# RFC 9110 section 7.6.1, plus the old Proxy-Connection some clients still send
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"transfer-encoding", b"upgrade"})


@dataclass(slots=True)
class Request:
    method: str
    target: str                 # as sent: origin-form "/a?b", absolute-form "http://h/a", authority "h:443"
    version: str                # "1.0" or "1.1"
    headers: Headers
    body: bytes = b""
    keep_alive: bool = True     # the client lets the connection persist after this response
    _index: dict[bytes, bytes] | None = field(default=None, repr=False)

    def header(self, name: bytes, default: bytes | None = None) -> bytes | None:
        """A field's value (name lower-case); repeated fields are joined with commas, as RFC 9110 5.3 allows."""
        if self._index is None:
            self._index = index_headers(self.headers)
        return self._index.get(name, default)


@dataclass(slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes = b""
    version: str = "1.1"
    reason: str = ""
    keep_alive: bool = True     # the server lets the connection persist after this response
    _index: dict[bytes, bytes] | None = field(default=None, repr=False)

    def header(self, name: bytes, default: bytes | None = None) -> bytes | None:
        if self._index is None:
            self._index = index_headers(self.headers)
        return self._index.get(name, default)


def index_headers(headers: Headers) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for name, value in headers:
        key = name.lower()
        out[key] = out[key] + b", " + value if key in out else value
    return out


def connection_tokens(headers: Headers) -> set[bytes]:
    return {t.strip().lower() for n, v in headers if n.lower() == b"connection" for t in v.split(b",")}


def end_to_end(headers: Headers) -> Headers:
    """The headers without the hop-by-hop ones, including those the Connection header names (RFC 9110 7.6.1)."""
    drop = HOP_BY_HOP | connection_tokens(headers)
    return [(n, v) for n, v in headers if n.lower() not in drop]


def render_head(status: int, headers: Headers, version: str = "1.1", reason: str = "") -> bytes:
    lines = [f"HTTP/{version} {status} {reason or REASONS.get(status, 'Unknown')}\r\n".encode("latin-1")]
    lines.extend(n + b": " + v + b"\r\n" for n, v in headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def render_request_head(method: str, target: str, headers: Headers, version: str = "1.1") -> bytes:
    lines = [f"{method} {target} HTTP/{version}\r\n".encode("latin-1")]
    lines.extend(n + b": " + v + b"\r\n" for n, v in headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def http_date(when: float | None = None) -> bytes:
    return formatdate(when, usegmt=True).encode("ascii")


def parse_http_date(value: bytes | None) -> float | None:
    """An HTTP-date (any of the three formats of RFC 9110 5.6.7) as a POSIX time; None if absent or invalid."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


class DateHeader:
    """The Date header's value, formatted once per second rather than once per response."""

    __slots__ = ("_second", "_value", "_clock")

    def __init__(self, clock=time.time):
        self._clock, self._second, self._value = clock, -1, b""

    def __call__(self) -> bytes:
        now = int(self._clock())
        if now != self._second:
            self._second, self._value = now, http_date(now)
        return self._value
