"""Hostile bytes for the HTTP parsers (services/http/connection.py): request lines, header sections and
chunked bodies, random and mutated. Nothing may raise, loop, or make a connection hold more than its
limits; how the bytes are split into reads must not change what comes out."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.http.connection import ClientConnection, Limits, RequestError, ResponseError, ServerConnection
from services.http.messages import Request

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_target=256, max_head=1024, max_fields=20, max_body=2048)
VALID = [
    b"GET / HTTP/1.1\r\nHost: gaia.cs.umass.edu\r\n\r\n",
    b"GET http://gaia.cs.umass.edu/index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /upload/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /upload/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HEAD /a HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nRange: bytes=0-1\r\n\r\n",
]


def mutate(base: bytes, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(base)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
        else:
            b.append(val)
    return bytes(b)


mutated = st.builds(mutate, st.sampled_from(VALID),
                    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), min_size=1, max_size=8))
tokens = st.sampled_from([b"GET", b"POST", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\n", b":", b"Host",
                          b"Content-Length", b"Transfer-Encoding", b"chunked", b"0", b"5", b"ffffffffffffffff",
                          b"-1", b"\x00", b";ext", b"hello", b"Expect", b"100-continue", b"\t"])
assembled = st.lists(tokens, max_size=60).map(b"".join)
any_bytes = st.one_of(st.binary(max_size=3000), mutated, assembled)


def feed(data: bytes, cuts: list[int]) -> list:
    conn = ServerConnection(LIMITS)
    events, last = [], 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)) + [len(data)]:
        events += conn.receive(data[last:cut])
        last = cut
        assert conn._partial <= LIMITS.max_head + 3000   # what llhttp may hold of a half-received field
    return events


def check(events: list) -> None:
    for i, ev in enumerate(events):
        if isinstance(ev, RequestError):
            assert 400 <= ev.status <= 505 and i == len(events) - 1  # an error ends the connection
        elif isinstance(ev, Request):
            assert len(ev.target) <= LIMITS.max_target and len(ev.body) <= LIMITS.max_body
            assert len(ev.headers) <= LIMITS.max_fields


@FAST
@given(any_bytes, st.lists(st.integers(0, 4000), max_size=6))
def test_server_connection_survives_anything(data, cuts):
    check(feed(data, cuts))


@FAST
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=5), st.lists(st.integers(0, 4000), max_size=8))
def test_how_reads_split_valid_requests_does_not_matter(requests, cuts):
    data = b"".join(requests)
    whole = feed(data, [])
    split = feed(data, cuts)
    assert [(r.method, r.target, r.body) for r in split] == [(r.method, r.target, r.body) for r in whole]
    assert len(whole) == len(requests)


chunk = st.binary(min_size=1, max_size=300)


@FAST
@given(st.lists(chunk, max_size=8), st.sampled_from([b"", b";a=b", b";q=\"x\""]), st.lists(st.integers(0, 4000)))
def test_chunked_bodies_decode_to_their_concatenation(chunks, ext, cuts):
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks) + b"0\r\n\r\n"
    events = feed(b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body, cuts)
    total = sum(len(c) for c in chunks)
    if total > LIMITS.max_body:
        assert [e.status for e in events] == [413]
    else:
        assert [e.body for e in events] == [b"".join(chunks)]


@FAST
@given(st.one_of(st.binary(max_size=3000),
                 st.builds(mutate, st.sampled_from([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                                                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
                                                    b"HTTP/1.0 304 Not Modified\r\n\r\n"]),
                           st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=6))),
       st.sampled_from(["GET", "HEAD"]))
def test_client_connection_raises_only_response_error(data, method):
    conn = ClientConnection(Limits(max_head=1024, max_fields=20, max_body=4096))
    conn.sending(method)
    try:
        conn.receive(data)
        conn.eof()
    except ResponseError:
        pass
