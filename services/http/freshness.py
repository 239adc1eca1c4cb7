"""The shared cache's rules of RFC 9111, as pure functions of a request, a stored response and the time.

Headers come in as an index (lower-case name -> value, see messages.index_headers); times are POSIX
seconds given by the caller, so every rule is a one-line test:

    storable("GET", req, 200, resp)                       # section 3
    lifetime(resp)                                        # 4.2.1, heuristics 4.2.2
    age(resp, request_time, response_time, now)           # 4.2.3
    verdict(req, resp, request_time, response_time, now)  # FRESH (serve) or STALE (validate first)
    validators(resp)                                      # 4.3.1: the conditional request's fields
    freshen(stored_headers, headers_of_304)               # 4.3.4
"""

from __future__ import annotations

from enum import Enum

from .messages import HOP_BY_HOP, Headers, parse_http_date

# RFC 9110 15.1: the status codes whose responses are cacheable by default (heuristically)
HEURISTIC_STATUS = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# what this cache understands well enough to store (206 is not stored: no ranges are combined)
STORABLE_STATUS = (HEURISTIC_STATUS - {206}) | {302, 307}
HEURISTIC_FRACTION = 0.1    # of the time since Last-Modified (4.2.2's "typical setting")
HEURISTIC_CAP = 86400.0     # a day at most, however old the object


class Verdict(Enum):
    FRESH = "fresh"   # serve from the cache without contacting the origin
    STALE = "stale"   # validate with the origin first (a conditional request if there are validators)


Index = dict[bytes, bytes]


def cache_control(value: bytes | None) -> dict[str, str | None]:
    """Cache-Control directives (RFC 9111 5.2): names lower-cased, quoted arguments unquoted."""
    out: dict[str, str | None] = {}
    if not value:
        return out
    for part in value.decode("latin-1").split(","):
        name, eq, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"') if eq else None
    return out


def _seconds(directives: dict[str, str | None], name: str) -> int | None:
    """A delta-seconds argument (RFC 9111 1.2.2); None when the directive is absent, -1 when its argument
    is missing or invalid (an invalid max-age makes a response stale, 4.2.1)."""
    if name not in directives:
        return None
    arg = directives[name]
    if arg is None or not (arg.isascii() and arg.isdigit()):
        return -1
    return int(arg)


def storable(method: str, req: Index, status: int, resp: Index, shared: bool = True) -> bool:
    """May a cache store this response to this request (RFC 9111 section 3)?"""
    if method != "GET" or status not in STORABLE_STATUS:
        return False
    rcc, qcc = cache_control(resp.get(b"cache-control")), cache_control(req.get(b"cache-control"))
    if "no-store" in rcc or "no-store" in qcc:
        return False
    if shared and "private" in rcc:
        return False
    if resp.get(b"vary", b"").strip() == b"*":
        return False  # would never match a later request (4.1)
    if shared and b"authorization" in req and not ({"must-revalidate", "public", "s-maxage"} & rcc.keys()):
        return False  # 3.5
    explicit = b"expires" in resp or "max-age" in rcc or (shared and "s-maxage" in rcc) or "public" in rcc
    if status in (302, 307):
        return explicit
    return explicit or status in HEURISTIC_STATUS


def lifetime(resp: Index, status: int = 200, shared: bool = True) -> float:
    """The freshness lifetime (RFC 9111 4.2.1), or the heuristic one (4.2.2) when none is given."""
    cc = cache_control(resp.get(b"cache-control"))
    if shared and (s := _seconds(cc, "s-maxage")) is not None:
        return max(s, 0)
    if (m := _seconds(cc, "max-age")) is not None:
        return max(m, 0)
    if b"expires" in resp:
        expires = parse_http_date(resp[b"expires"])
        date = parse_http_date(resp.get(b"date"))
        if expires is None or date is None:
            return 0.0  # an invalid Expires means already expired (5.3)
        return max(expires - date, 0.0)
    last_modified = parse_http_date(resp.get(b"last-modified"))
    date = parse_http_date(resp.get(b"date"))
    if last_modified is not None and date is not None and (status in HEURISTIC_STATUS or "public" in cc):
        return min(max(date - last_modified, 0.0) * HEURISTIC_FRACTION, HEURISTIC_CAP)
    return 0.0


def age(resp: Index, request_time: float, response_time: float, now: float) -> float:
    """The current age of a stored response (RFC 9111 4.2.3)."""
    date = parse_http_date(resp.get(b"date"))
    apparent = max(0.0, response_time - date) if date is not None else 0.0
    raw = resp.get(b"age", b"0").strip()
    age_value = int(raw) if raw.isdigit() else 0
    corrected_initial = max(apparent, age_value + (response_time - request_time))
    return corrected_initial + (now - response_time)


def verdict(req: Index, resp: Index, request_time: float, response_time: float, now: float,
            status: int = 200, shared: bool = True) -> Verdict:
    """Whether a stored response may be served as it is (RFC 9111 4.2, 4.2.4 and the request
    directives of 5.2.1), or must be validated with the origin first."""
    rcc = cache_control(resp.get(b"cache-control"))
    qcc = cache_control(req.get(b"cache-control"))
    if "no-cache" in rcc or "no-cache" in qcc:
        return Verdict.STALE
    if b"cache-control" not in req and b"no-cache" in req.get(b"pragma", b"").lower():
        return Verdict.STALE  # HTTP/1.0's way (5.4)
    current = age(resp, request_time, response_time, now)
    fresh_for = lifetime(resp, status, shared) - current
    if (m := _seconds(qcc, "max-age")) is not None and current > m:
        return Verdict.STALE
    if (m := _seconds(qcc, "min-fresh")) is not None and fresh_for < m:
        return Verdict.STALE
    if fresh_for > 0:
        return Verdict.FRESH
    if {"must-revalidate", "proxy-revalidate"} & rcc.keys() or (shared and "s-maxage" in rcc):
        return Verdict.STALE  # 5.2.2.2: never served stale
    if "max-stale" in qcc:  # the client accepts a stale response: without an argument, however stale
        arg = qcc["max-stale"]
        if arg is None or (arg.isascii() and arg.isdigit() and -fresh_for <= int(arg)):
            return Verdict.FRESH
    return Verdict.STALE


def validators(resp: Index) -> Headers:
    """The fields of a conditional request that validates a stored response (RFC 9111 4.3.1)."""
    out: Headers = []
    if b"etag" in resp:
        out.append((b"If-None-Match", resp[b"etag"]))
    if b"last-modified" in resp:
        out.append((b"If-Modified-Since", resp[b"last-modified"]))
    return out


def freshen(stored: Headers, not_modified: Headers) -> Headers:
    """A stored response's headers updated by a 304 (RFC 9111 4.3.4): the 304's fields replace the stored
    ones of the same name, except the framing ones; hop-by-hop fields are not kept."""
    skip = HOP_BY_HOP | {b"content-length"}
    new = [(n, v) for n, v in not_modified if n.lower() not in skip]
    replaced = {n.lower() for n, _ in new}
    return [(n, v) for n, v in stored if n.lower() not in replaced] + new


def variant_key(vary: bytes | None, req: Index) -> tuple[bytes, ...]:
    """The request's values of the fields a response varies on (RFC 9111 4.1): requests with equal keys
    may share the stored response."""
    if not vary:
        return ()
    names = sorted({n.strip().lower() for n in vary.split(b",") if n.strip()})
    return tuple(n + b"=" + b" ".join(req.get(n, b"").split()) for n in names)
