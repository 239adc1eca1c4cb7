"""HTTP/1.x (RFC 9112) on ports 80, 8080 and the proxy's 3128: a message is a head (request or status
line and fields, up to the blank line) and the body its framing says (Content-Length, chunked, none for
1xx, 204 and 304; a response without a length runs to the connection's end). Labels are the first line.

Beside it, the claims of the course's HTTP scenarios that a Dialogue cannot say alone:
`PageLoad` (how a base page and its objects used the connections, and how long it took: K&R 2.2.2's
2 RTT per object without persistence, one with) and `CookieCarried` (the cookie a response set comes
back in the later requests, K&R 2.2.4).
"""

from __future__ import annotations

import re

from scapy.layers.inet import TCP
from scapy.packet import Packet

from ..assertions import SHOWN, Assertion, Outcome
from ..dialogue import conversations
from ..frames import Traffic
from ..match import Endpoint, who
from ..stream import CLIENT, SERVER, Message
from . import Describer

PORTS = (80, 8080, 3128)
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.I)
_STATUS = re.compile(rb"HTTP/\d\.\d (\d{3})")
_REQUEST = re.compile(rb"[A-Z]+ \S+ HTTP/\d\.\d\r?\n")


def _chunked_end(data: bytes, start: int) -> int | None:
    """Where a chunked body that begins at `start` ends (after its trailer), or None if not yet."""
    pos = start
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(data[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        if size == 0:
            end = data.find(b"\r\n\r\n", eol)
            return None if end < 0 else end + 4
        pos = eol + 2 + size + 2
        if pos > len(data):
            return None


def message_ends(data: bytes, side: str) -> list[int]:
    """The end of each complete HTTP message in one direction's bytes."""
    ends, pos = [], 0
    while pos < len(data):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        head = data[pos:head_end + 2]
        body = head_end + 4
        status = _STATUS.match(head) if side == SERVER else None
        if status and (status.group(1).startswith(b"1") or status.group(1) in (b"204", b"304")):
            end = body
        elif _CHUNKED.search(head):
            end = _chunked_end(data, body)
        elif m := _LENGTH.search(head):
            end = body + int(m.group(1))
        elif side == SERVER:
            end = None  # the body runs to the connection's end: never complete here
        else:
            end = body
        if end is None or end > len(data):
            break
        ends.append(end)
        pos = end
    return ends


class Http(Describer):
    name = "http"
    ports = PORTS
    splits = True

    def recognizes(self, pkt: Packet) -> bool:
        if TCP not in pkt or not len(pkt[TCP].payload):
            return False
        t = pkt[TCP]
        payload = bytes(t.payload)[:16]
        return (t.dport in PORTS and _REQUEST.match(bytes(t.payload)[:200]) is not None) or \
            (t.sport in PORTS and payload.startswith(b"HTTP/"))

    def summary(self, pkt: Packet) -> str:
        line = bytes(pkt[TCP].payload).split(b"\r\n", 1)[0].decode("latin-1")
        return f"HTTP {''.join(c if c.isprintable() else '.' for c in line)[:70]}"

    def split(self, data: bytes, side: str) -> list[int]:
        return message_ends(data, side)

    def label(self, message: Message) -> str:
        first = message.data.split(b"\r\n", 1)[0].decode("latin-1")
        return first[:70] + ("" if message.complete else " (incomplete)")


DESCRIBER = Http()


def _is_request(m: Message) -> bool:
    return m.side == CLIENT and _REQUEST.match(m.data) is not None


class PageLoad(Assertion):
    """A base page and its objects fetched from `server`: over `objects` non-persistent connections (one
    request each: a handshake and a request/response, 2 RTT per object) or over one persistent one (each
    request after the previous response: 1 RTT per object after the handshake). Passing, it reports the
    measured RTT (SYN to SYN-ACK) and the time the page took, first SYN to last response byte."""

    def __init__(self, capture: str, client: Endpoint, server: Endpoint, port: int, objects: int, persistent: bool,
                 text: str, *, after: str | None = None, before: str | None = None):
        self.capture, self.client, self.server, self.port = capture, client, server, port
        self.objects, self.persistent, self.text, self.after, self.before = objects, persistent, text, after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        conns = [c for c in conversations(traffic, self.capture, self.client, self.server, self.port, "tcp",
                                          self.after, self.before) if c.handshake]
        want = 1 if self.persistent else self.objects
        if len(conns) != want:
            return self._fail(f"expected {want} TCP connection(s) {who(self.client)} > {who(self.server)}:"
                              f"{self.port}; saw {len(conns)}", [c.syn for c in conns if c.syn])
        pairs = []
        for c in conns:
            msgs = c.messages(DESCRIBER)
            requests = [m for m in msgs if _is_request(m)]
            responses = [m for m in msgs if m.side == SERVER and m.data.startswith(b"HTTP/")]
            if not self.persistent and (len(requests), len(responses)) != (1, 1):
                return self._fail(f"{c} carried {len(requests)} requests and {len(responses)} responses; "
                                  "a non-persistent connection carries one of each", c.frames)
            for q, r in zip(requests, responses, strict=False):
                if r.time < q.time:
                    return self._fail(f"a response on {c} came before its request", c.frames)
            pairs += list(zip(requests, responses, strict=False))
        if len(pairs) != self.objects:
            return self._fail(f"expected {self.objects} requests answered; saw {len(pairs)}",
                              [f for c in conns for f in c.frames])
        if self.persistent:  # no request was sent before the previous response had arrived
            for (_, r), (q, _) in zip(pairs, pairs[1:], strict=False):
                if q.time < r.time:
                    return self._fail("a request went out before the previous response had arrived", conns[0].frames)
        rtts = [c.syn_ack.time - c.syn.time for c in conns if c.syn and c.syn_ack]
        rtt = sorted(rtts)[len(rtts) // 2] if rtts else 0.0
        total = pairs[-1][1].time - conns[0].syn.time
        round_trips = len(conns) + len(pairs)
        kind = "1 persistent connection" if self.persistent else f"{len(conns)} connections"
        why = (f"{len(pairs)} objects over {kind}: {round_trips} round trips, {total * 1000:.1f} ms "
               f"(RTT {rtt * 1000:.3f} ms)")
        frames = [f for c in conns[:3] for f in (c.syn, c.syn_ack) if f is not None]
        return Outcome(self.text, True, why, frames[:SHOWN], self.capture)

    def _fail(self, why: str, frames: list) -> Outcome:
        return Outcome(self.text, False, why, [f for f in frames if f is not None][:SHOWN], self.capture)


_SET_COOKIE = re.compile(rb"\r\nset-cookie:[ \t]*([^=;\s]+)=([^;\r\n]*)", re.I)
_COOKIE = re.compile(rb"\r\ncookie:[ \t]*([^\r\n]*)", re.I)


class CookieCarried(Assertion):
    """The first response that sets a cookie (Set-Cookie: name=value) is followed by requests that carry
    it back (Cookie: name=value), every one of them, at least `later` of them."""

    def __init__(self, capture: str, client: Endpoint, server: Endpoint, port: int, text: str, *, later: int = 1,
                 after: str | None = None, before: str | None = None):
        self.capture, self.client, self.server, self.port, self.text = capture, client, server, port, text
        self.later, self.after, self.before = later, after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        conns = conversations(traffic, self.capture, self.client, self.server, self.port, "tcp", self.after,
                              self.before)
        msgs = sorted((m for c in conns for m in c.messages(DESCRIBER)), key=lambda m: m.time)
        setting = next((m for m in msgs if m.side == SERVER and _SET_COOKIE.search(m.data)), None)
        if setting is None:
            return Outcome(self.text, False, "no response set a cookie (no Set-Cookie field)",
                           [f for c in conns for f in c.frames][:SHOWN], self.capture)
        name, value = _SET_COOKIE.search(setting.data).groups()
        cookie = name + b"=" + value
        after = [m for m in msgs if _is_request(m) and m.time > setting.time]
        missing = [m for m in after if not any(cookie in (c.group(1) or b"") for c in _COOKIE.finditer(m.data))]
        if len(after) < self.later or missing:
            first = (missing or after or [setting])[0]
            line = first.data.split(b"\r\n", 1)[0].decode("latin-1")
            return Outcome(self.text, False, f"{cookie.decode('latin-1')} was set, then {len(after)} requests "
                           f"followed, {len(missing)} of them without it (first: {line!r})",
                           first.frames[:SHOWN], self.capture)
        return Outcome(self.text, True, f"{cookie.decode('latin-1')} set, then carried by {len(after)} requests",
                       (setting.frames + after[0].frames)[:SHOWN], self.capture)
