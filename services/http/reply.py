"""A response ready to go on the wire: its head rendered once, its body as it is.

The connection's own field (Connection: close or keep-alive) is the only thing the server adds per
request, so a reply for a static file or a cached object is built once and sent many times.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import REASONS, Headers


@dataclass(slots=True)
class Reply:
    status: int
    head: bytes            # status line and fields, each ending CRLF, without the blank line
    body: bytes = b""      # what follows the head (empty for HEAD, 204, 304)
    close: bool = False    # the connection closes after this reply, whatever the client asked
    note: str = ""         # for the access log: HIT, MISS, REVALIDATED...


@dataclass(slots=True)
class Tunnel:
    """CONNECT granted: the server answers 200 and relays bytes both ways between client and target."""
    host: str
    port: int


def status_line(status: int, reason: str = "") -> bytes:
    return f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Unknown')}\r\n".encode("latin-1")


def fields(headers: Headers) -> bytes:
    return b"".join(n + b": " + v + b"\r\n" for n, v in headers)


def make_reply(status: int, headers: Headers, body: bytes = b"", *, date: bytes, head_only: bool = False,
               close: bool = False, length: int | None = None) -> Reply:
    """A reply with Date and Content-Length set (Content-Length omitted for 1xx, 204 and 304)."""
    extra: Headers = [(b"Date", date)]
    if status not in (204, 304) and status >= 200:
        extra.append((b"Content-Length", str(len(body) if length is None else length).encode()))
    head = status_line(status) + fields(extra + headers)
    return Reply(status, head, b"" if head_only or status in (204, 304) else body, close)


def error_reply(status: int, message: str, *, date: bytes, close: bool = False,
                extra: Headers = ()) -> Reply:
    body = f"{status} {REASONS.get(status, '')}: {message}\n".encode()
    return make_reply(status, [(b"Content-Type", b"text/plain; charset=utf-8"), *extra], body, date=date,
                      close=close)
