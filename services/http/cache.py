"""The proxy's shared cache: stored responses in memory, bounded in bytes, least recently used first out.

An entry keeps what RFC 9111's rules need (the response's fields, when it was asked for and when it
came) and its head already rendered, so a hit costs a look-up, a comparison of times and the Age field.
Several variants of one URL (Vary) are kept side by side.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from . import freshness
from .messages import Headers, index_headers
from .reply import fields, status_line


@dataclass(slots=True, eq=False)
class Entry:
    url: bytes
    status: int
    headers: Headers          # end to end, as the origin sent them, with the proxy's Via
    body: bytes
    request_time: float
    response_time: float
    variant: tuple[bytes, ...] = ()
    index: dict[bytes, bytes] = field(default_factory=dict)
    fresh_until: float = 0.0  # while no request directive says otherwise (see freshness.verdict)
    plain: bool = True        # no response directive makes the simple comparison insufficient
    head: bytes = b""         # status line and fields without Age, rendered once
    _age_second: int = -1
    _age_head: bytes = b""

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute what derives from the fields (after storing, or after a 304 freshened them)."""
        self.index = index_headers(self.headers)
        lifetime = freshness.lifetime(self.index, self.status)
        initial = freshness.age(self.index, self.request_time, self.response_time, self.response_time)
        self.fresh_until = self.response_time + lifetime - initial
        cc = freshness.cache_control(self.index.get(b"cache-control"))
        self.plain = "no-cache" not in cc
        framing = [(n, v) for n, v in self.headers if n.lower() not in (b"age", b"content-length")]
        self.head = status_line(self.status) + fields(framing + [(b"Content-Length", str(len(self.body)).encode())])
        self._age_second = -1

    def head_with_age(self, now: float) -> bytes:
        """The head with its Age field (RFC 9111 5.1), rebuilt at most once a second."""
        current = int(freshness.age(self.index, self.request_time, self.response_time, now))
        if current != self._age_second:
            self._age_second, self._age_head = current, self.head + b"Age: " + str(current).encode() + b"\r\n"
        return self._age_head

    @property
    def size(self) -> int:
        return len(self.body) + 1024  # the fields' share counted flat, so a 304 leaves the sum unchanged


class Cache:
    def __init__(self, max_bytes: int = 256 << 20, max_object: int = 16 << 20):
        self.max_bytes, self.max_object = max_bytes, max_object
        self.entries: OrderedDict[bytes, list[Entry]] = OrderedDict()
        self.bytes = 0

    def get(self, url: bytes, req: dict[bytes, bytes] | None) -> Entry | None:
        """The stored response for this URL whose variant matches the request's fields (req: the request's
        header index; None is a request without fields)."""
        variants = self.entries.get(url)
        if variants is None:
            return None
        self.entries.move_to_end(url)
        for entry in variants:
            if not entry.variant or entry.variant == freshness.variant_key(entry.index.get(b"vary"), req or {}):
                return entry
        return None

    def put(self, entry: Entry) -> bool:
        if entry.size > self.max_object or entry.size > self.max_bytes:
            return False
        variants = self.entries.setdefault(entry.url, [])
        for old in [e for e in variants if e.variant == entry.variant]:
            variants.remove(old)
            self.bytes -= old.size
        variants.append(entry)
        self.entries.move_to_end(entry.url)
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self.entries:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= sum(e.size for e in evicted)
        return True

    def remove(self, url: bytes) -> None:
        """Invalidate every variant of a URL (after an unsafe method went through, RFC 9111 4.4)."""
        for e in self.entries.pop(url, []):
            self.bytes -= e.size
