"""The HTTP/1.x connection cores (services/http/connection.py): bytes in, requests or responses out."""

from __future__ import annotations

import pytest

from services.http.connection import (
    EXPECT_CONTINUE,
    ClientConnection,
    Limits,
    RequestError,
    ResponseError,
    ServerConnection,
)
from services.http.messages import Request, end_to_end


def one(data: bytes, limits: Limits | None = None):
    events = ServerConnection(limits or Limits()).receive(data)
    assert len(events) == 1, events
    return events[0]


def status(data: bytes, limits: Limits | None = None) -> int:
    ev = one(data, limits)
    assert isinstance(ev, RequestError), ev
    return ev.status


def test_a_get():
    req = one(b"GET /a?b HTTP/1.1\r\nHost: gaia\r\n\r\n")
    assert (req.method, req.target, req.version, req.header(b"host"), req.keep_alive) == \
        ("GET", "/a?b", "1.1", b"gaia", True)


def test_http10_closes_unless_keep_alive():
    assert one(b"GET / HTTP/1.0\r\n\r\n").keep_alive is False
    assert one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive is True


def test_http11_persists_unless_close():
    assert one(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive is False


def test_pipelined_requests_come_out_in_order():
    events = ServerConnection().receive(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                                        b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [e.target for e in events] == ["/1", "/2", "/3"]


def test_a_request_split_across_reads():
    conn = ServerConnection()
    data = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    events = [e for i in range(len(data)) for e in conn.receive(data[i:i + 1])]
    assert len(events) == 1 and events[0].body == b"hello"


def test_a_chunked_body_is_decoded():
    req = one(b"PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
    assert req.body == b"hello world"


def test_content_length_and_transfer_encoding_together_is_400():
    assert status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 400


def test_conflicting_content_lengths_is_400():
    assert status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") == 400


def test_a_post_without_a_length_is_411():
    assert status(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n") == 411


def test_a_body_over_the_limit_is_413_before_it_is_read():
    assert status(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n", Limits(max_body=100)) == 413


def test_a_chunked_body_over_the_limit_is_413():
    data = b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"20\r\n" + b"x" * 32 + b"\r\n"
    assert status(data * 1, Limits(max_body=16)) == 413


def test_a_long_request_target_is_414():
    assert status(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n") == 414


def test_too_many_header_bytes_is_431():
    assert status(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: " + b"b" * 20000 + b"\r\n\r\n") == 431


def test_too_many_fields_is_431():
    assert status(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"\r\n") == 431


def test_a_field_that_never_ends_is_431_without_holding_it_all():
    conn = ServerConnection()
    events = conn.receive(b"GET / HTTP/1.1\r\nX-A: ")
    for _ in range(100):
        events += conn.receive(b"b" * 1024)
        if events:
            break
    assert [e.status for e in events] == [431]


def test_unknown_method_is_501():
    assert status(b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n") == 501


def test_http2_and_http12_are_505():
    assert status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505
    assert status(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n") == 505


def test_garbage_is_400():
    assert status(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400


def test_nothing_more_after_an_error():
    conn = ServerConnection()
    assert isinstance(conn.receive(b"GET / HTTP/9.9\r\n\r\n")[0], RequestError)
    assert conn.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_expect_100_continue_is_announced_before_the_body():
    conn = ServerConnection()
    events = conn.receive(b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert events == [EXPECT_CONTINUE]
    assert [e.body for e in conn.receive(b"abc")] == [b"abc"]


def test_connect_comes_out_whole():
    req = one(b"CONNECT gaia:443 HTTP/1.1\r\nHost: gaia:443\r\n\r\n")
    assert isinstance(req, Request) and (req.method, req.target) == ("CONNECT", "gaia:443")


def test_hop_by_hop_fields_and_those_connection_names_are_removed():
    headers = [(b"Host", b"a"), (b"Connection", b"close, X-Secret"), (b"X-Secret", b"1"), (b"Keep-Alive", b"5"),
               (b"Proxy-Connection", b"keep-alive"), (b"TE", b"trailers"), (b"Accept", b"*/*")]
    assert end_to_end(headers) == [(b"Host", b"a"), (b"Accept", b"*/*")]


# --- the client's side ---
def client(method: str = "GET") -> ClientConnection:
    conn = ClientConnection()
    conn.sending(method)
    return conn


def test_a_response_with_a_length():
    [resp] = client().receive(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert (resp.status, resp.reason, resp.body, resp.keep_alive) == (200, "OK", b"hi", True)


def test_a_response_to_head_has_no_body_whatever_its_length():
    [resp] = client("HEAD").receive(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n")
    assert resp.body == b"" and resp.header(b"content-length") == b"500"


def test_a_304_has_no_body():
    [resp] = client().receive(b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n")
    assert resp.status == 304


def test_interim_100_is_skipped():
    [resp] = client("PUT").receive(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert resp.status == 201


def test_a_body_until_close_is_completed_by_eof():
    conn = client()
    assert conn.receive(b"HTTP/1.0 200 OK\r\n\r\nall of it") == []
    [resp] = conn.eof()
    assert resp.body == b"all of it" and resp.keep_alive is False


def test_a_response_cut_short_is_an_error():
    conn = client()
    conn.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(ResponseError):
        conn.eof()


def test_a_chunked_response():
    [resp] = client().receive(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
    assert resp.body == b"hi"
