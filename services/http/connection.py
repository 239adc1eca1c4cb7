"""One HTTP/1.x connection as a sans-I/O state machine: bytes in, whole messages out (RFC 9112).

httptools (llhttp) splits the bytes into request lines, fields and bodies, chunked ones included; what a
server or client must decide on top of that is here: limits on what a peer may make us hold (request
line, header section, body), framing that would be unsafe (Content-Length together with
Transfer-Encoding, conflicting lengths), the version, a body whose length is not said, persistence and
pipelining (several requests in one read come out in order).

    conn = ServerConnection()
    for event in conn.receive(data):   # Request, EXPECT_CONTINUE or RequestError (answer it, then close)
        ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httptools

from .messages import Request, Response


@dataclass(frozen=True, slots=True)
class Limits:
    max_target: int = 8192       # request line's target: 414 beyond
    max_head: int = 16384        # the whole header section: 431 beyond
    max_fields: int = 100        # number of header fields: 431 beyond
    max_body: int = 16 << 20     # 413 beyond


_TOKEN = re.compile(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}")  # RFC 9110 5.6.2


class RequestError(Exception):
    """A request the connection cannot serve: answer with `status` and close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _ExpectContinue:
    def __repr__(self) -> str:
        return "EXPECT_CONTINUE"


EXPECT_CONTINUE = _ExpectContinue()  # the client waits for "100 Continue" before sending the body


class ServerConnection:
    """The server's side: complete requests (bodies de-chunked) out of the bytes a client sends."""

    __slots__ = ("limits", "_parser", "_events", "_target", "_headers", "_head", "_body", "_body_len",
                 "_in_head", "_partial", "_failed", "_chunked", "_length")

    def __init__(self, limits: Limits = Limits()):
        self.limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._events: list = []
        self._in_head = False
        self._partial = 0
        self._failed = False

    @property
    def idle(self) -> bool:
        """No request is half-received (the connection may be closed without losing one)."""
        return not self._in_head and not getattr(self, "_body", None)

    def receive(self, data: bytes) -> list:
        if self._failed or not data:
            return []
        events = self._events = []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # CONNECT: the request came out whole; what follows is the tunnel's, not ours
        except httptools.HttpParserCallbackError as e:
            self._fail(e.__context__ if isinstance(e.__context__, RequestError) else
                       RequestError(400, "malformed request"))
        except httptools.HttpParserInvalidMethodError:
            # a well-formed method llhttp does not know is 501; bytes that are no method at all, 400
            start = data.rfind(b"\r\n\r\n", 0, len(data) - 4) + 4 if events else 0
            word = data[start:].lstrip(b"\r\n").split(b" ", 1)[0]
            if _TOKEN.fullmatch(word):
                self._fail(RequestError(501, f"method {word.decode()} is not implemented"))
            else:
                self._fail(RequestError(400, "malformed request line"))
        except httptools.HttpParserError as e:
            msg = str(e)
            if isinstance(e.__context__, RequestError):
                self._fail(e.__context__)
            elif "version" in msg.lower():
                self._fail(RequestError(505, "HTTP version not supported"))
            else:
                self._fail(RequestError(400, f"malformed request: {msg}"))
        if self._in_head and not self._failed:
            # llhttp holds a half-received field itself: bound what a client can make it hold
            end = data.rfind(b"\r\n\r\n")
            self._partial = (self._partial + len(data)) if end < 0 else len(data) - end - 4
            if self._partial > self.limits.max_head:
                self._fail(RequestError(431, "request header section too large"))
        return events

    def _fail(self, err: RequestError) -> None:
        self._failed = True
        self._events.append(err)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._target, self._headers, self._head, self._body = b"", [], 0, []
        self._body_len, self._in_head, self._partial = 0, True, 0
        self._chunked, self._length = False, None

    def on_url(self, url: bytes) -> None:
        self._target += url
        if len(self._target) > self.limits.max_target:
            raise RequestError(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._head += len(name) + len(value) + 4
        if self._head > self.limits.max_head or len(self._headers) > self.limits.max_fields:
            raise RequestError(431, "request header section too large")
        lname = name.lower()
        if lname == b"content-length":
            self._length = int(value) if value.strip().isdigit() else -1
        elif lname == b"transfer-encoding":
            self._chunked = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        p = self._parser
        version = p.get_http_version()
        if version not in ("1.1", "1.0"):
            raise RequestError(505, f"HTTP/{version} is not supported (HTTP/1.0 and HTTP/1.1 are)")
        method = p.get_method()
        if self._length is None and not self._chunked and method in (b"POST", b"PUT"):
            raise RequestError(411, "a request with a body must carry Content-Length or be chunked")
        if self._length is not None and self._length > self.limits.max_body:
            raise RequestError(413, f"body larger than {self.limits.max_body} bytes")
        if version == "1.1" and (self._length or self._chunked):
            for n, v in self._headers:
                if n.lower() == b"expect" and v.lower() == b"100-continue":
                    self._events.append(EXPECT_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.limits.max_body:
            raise RequestError(413, f"body larger than {self.limits.max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        p = self._parser
        body = self._body
        self._events.append(Request(p.get_method().decode("ascii"), self._target.decode("latin-1"),
                                    p.get_http_version(), self._headers,
                                    body[0] if len(body) == 1 else b"".join(body), p.should_keep_alive()))
        self._body = []


class ResponseError(Exception):
    """A response that cannot be read (malformed, or the connection ended in its middle)."""


class _HeadDone(Exception):
    pass


class ClientConnection:
    """The client's side: responses out of the bytes a server sends, one per request announced with
    `sending(method)`, so that a response to HEAD is known to have no body. Interim 1xx responses are
    dropped. A body delimited by the connection's end is completed by `eof()`."""

    def __init__(self, limits: Limits = Limits(max_body=1 << 30)):
        self.limits = limits
        self._methods: list[str] = []
        self._new_parser()
        self._events: list[Response] = []
        self._until_close = False
        self._started = False

    def _new_parser(self) -> None:
        self._parser = httptools.HttpResponseParser(self)

    def sending(self, method: str) -> None:
        self._methods.append(method)

    def receive(self, data: bytes) -> list[Response]:
        events = self._events = []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            if not isinstance(e.__context__, _HeadDone):
                cause = e.__context__ if isinstance(e.__context__, ResponseError) else e
                raise ResponseError(f"malformed response: {cause}") from None
            self._new_parser()  # the response to HEAD ended with its head
        return events

    def eof(self) -> list[Response]:
        """The server closed: completes a body that runs to the close; a response cut short is an error."""
        if self._until_close and self._started:
            self._events = []
            self._complete(keep_alive=False)
            return self._events
        if self._started:
            raise ResponseError("connection closed in the middle of a response")
        return []

    def on_message_begin(self) -> None:
        self._status_reason, self._headers, self._body, self._size = b"", [], [], 0
        self._started, self._until_close = True, False

    def on_status(self, reason: bytes) -> None:
        self._status_reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._size += len(name) + len(value) + 4
        if self._size > self.limits.max_head or len(self._headers) > self.limits.max_fields:
            raise ResponseError("response header section too large")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return
        if self._methods and self._methods[0] == "HEAD":
            self._complete()
            raise _HeadDone
        names = {n.lower() for n, _ in self._headers}
        self._until_close = (status not in (204, 304) and b"content-length" not in names
                             and b"transfer-encoding" not in names)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.limits.max_body:
            raise ResponseError("response body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:
            self._started = False
            return
        self._complete()

    def _complete(self, keep_alive: bool | None = None) -> None:
        p = self._parser
        if self._methods:
            self._methods.pop(0)
        self._events.append(Response(p.get_status_code(), self._headers, b"".join(self._body),
                                     p.get_http_version(), self._status_reason.decode("latin-1"),
                                     p.should_keep_alive() if keep_alive is None else keep_alive))
        self._started = False
