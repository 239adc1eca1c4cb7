"""HTTP cookies: the first response sets a cookie, the browser sends it back with each later request,
and the server's answer depends on it.

Kurose & Ross 2.2.4. client3's browser visits http://gaia.cs.umass.edu/visits three times. The first
request carries no cookie; gaia's response sets one (Set-Cookie: visitor=<an identification number>)
and gaia keeps a count for that number. The next two requests carry it (Cookie: visitor=...) and gaia
answers with the visit's number: 2, then 3. Captured on gaia's segment.
"""

from __future__ import annotations

import re

from scenarios.framework.describers.http import CookieCarried
from scenarios.framework.dialogue import Dialogue, Says

LAB = "campus"
SEGMENTS = ["internet"]
URL = "http://gaia.cs.umass.edu/visits"


def run(ctx) -> None:
    client, gaia = ctx.host("client3"), ctx.host("gaia")
    ctx.mark("visits")
    ctx.python("client3", ["-m", "services.http", "get", URL, "--repeat", "3"], check=True)
    ctx.mark("end")

    def visit(n: int, request: re.Pattern, response: re.Pattern, text: str) -> Dialogue:
        return Dialogue("internet", client, gaia, 80, [Says("client", request), Says("server", response)], text,
                        connection=n, after="visits", before="end")

    ctx.expect(
        visit(1, re.compile(r"^GET /visits HTTP/1\.1\r\n(?![\s\S]*\r\nCookie:)"),
              re.compile(r"^HTTP/1\.1 200 OK\r\n[\s\S]*\r\nSet-Cookie: visitor=\w+[\s\S]*first visit"),
              "the first request carries no cookie; the response sets one (Set-Cookie)"),
        CookieCarried("internet", client, gaia, 80, "every later request carries the cookie back (Cookie)",
                      later=2, after="visits", before="end"),
        visit(2, re.compile(r"^GET /visits HTTP/1\.1\r\n[\s\S]*\r\nCookie: visitor="),
              re.compile(r"visit number 2\."), "the server's answer depends on the cookie: the second visit"),
        visit(3, re.compile(r"^GET /visits HTTP/1\.1\r\n[\s\S]*\r\nCookie: visitor="),
              re.compile(r"visit number 3\."), "and the third"),
    )
    ctx.message_ladder("internet", client, gaia, 80, "HTTP cookies: Set-Cookie, then Cookie", after="visits",
                       before="end", columns=["client3", "gaia"])
