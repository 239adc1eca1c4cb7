"""Conditional requests (RFC 9110 section 13): whether a request's preconditions hold for a selected
representation, as the origin and the cache both evaluate them. Pure: header indexes in, a status out."""

from __future__ import annotations

from .messages import parse_http_date

Index = dict[bytes, bytes]


def _tags(value: bytes) -> list[bytes]:
    return [t.strip() for t in value.split(b",") if t.strip()]


def _weak(tag: bytes) -> bytes:
    return tag[2:] if tag.startswith(b"W/") else tag


def _none_match(value: bytes, etag: bytes | None) -> bool:
    """If-None-Match holds (13.1.2: weak comparison)."""
    tags = _tags(value)
    if b"*" in tags:
        return etag is None
    return etag is None or _weak(etag) not in {_weak(t) for t in tags}


def _match(value: bytes, etag: bytes | None) -> bool:
    """If-Match holds (13.1.1: strong comparison)."""
    tags = _tags(value)
    if b"*" in tags:
        return etag is not None
    return etag is not None and not etag.startswith(b"W/") and etag in tags


def evaluate(method: str, req: Index, resp: Index) -> int | None:
    """The status a precondition failure calls for (304 or 412), or None to go on (13.2.2's order)."""
    etag, modified = resp.get(b"etag"), parse_http_date(resp.get(b"last-modified"))
    if b"if-match" in req:
        if not _match(req[b"if-match"], etag):
            return 412
    elif b"if-unmodified-since" in req:
        since = parse_http_date(req[b"if-unmodified-since"])
        if since is not None and (modified is None or modified > since):
            return 412
    if b"if-none-match" in req:
        if not _none_match(req[b"if-none-match"], etag):
            return 304 if method in ("GET", "HEAD") else 412
    elif method in ("GET", "HEAD") and b"if-modified-since" in req:
        since = parse_http_date(req[b"if-modified-since"])
        if since is not None and modified is not None and modified <= since:
            return 304
    return None
