"""The HTTP describer (scenarios/framework/describers/http.py): how a direction's bytes split into
messages, whatever the framing, and that no bytes make it fail."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.framework.describers.http import message_ends

RESPONSES = (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
             b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n")


def test_responses_by_length_by_status_and_chunked():
    assert message_ends(RESPONSES, "server") == [41, 81, len(RESPONSES)]


def test_requests_with_and_without_a_body():
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /y HTTP/1.1\r\n"
    assert message_ends(data, "client") == [27, 67]   # the last request is not whole yet


def test_a_body_to_the_close_is_never_complete():
    assert message_ends(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", "server") == []


def test_a_cut_chunked_body_waits():
    assert message_ends(RESPONSES[:-3], "server") == [41, 81]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.builds(lambda n: RESPONSES[:n], st.integers(0, len(RESPONSES)))),
       st.sampled_from(["client", "server"]))
def test_any_bytes_split_into_increasing_offsets(data, side):
    ends = message_ends(data, side)
    assert ends == sorted(set(ends)) and all(0 < e <= len(data) for e in ends)
