"""Web cache: a miss goes through the proxy to the origin; a hit never leaves the campus; a stale object
is revalidated with a conditional GET answered 304 Not Modified.

Kurose & Ross 2.2.5 and 2.2.6. client1 is configured to use the campus's web cache (http_proxy =
proxy.poly.edu:3128) and fetches http://gaia.cs.umass.edu/web-cache/object.html with curl three
times. The first GET is a miss: the capture on the `internet` segment (gaia's) shows the proxy asking
gaia and gaia's 200. The second, right after, is a hit: the proxy answers client1 (with an Age field)
and not one packet goes between the proxy and gaia. The object's lifetime is two seconds
(Cache-Control: max-age=2); after it, the third GET makes the proxy send gaia a conditional GET
(If-Modified-Since), gaia answers 304 Not Modified with no body, and client1 gets the object from the
cache.
"""

from __future__ import annotations

import re
import time

from scenarios.framework.assertions import Absent
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import between

LAB = "campus"
SEGMENTS = ["servers", "internet"]
URL = "http://gaia.cs.umass.edu/web-cache/object.html"
LIFETIME = 2.0   # gaia's Cache-Control: max-age for /web-cache/ (campus.d/http/origin.yaml)
FROM_CACHE = re.compile(r"^HTTP/1\.1 200 OK\r\n[\s\S]*\r\nAge: \d+")
NOT_MODIFIED = re.compile(r"^HTTP/1\.1 304 Not Modified(\r\n[^\r\n]+)*$")   # fields only: no blank line, no body


def fetch(ctx) -> None:
    ctx.run("client1", ["env", "http_proxy=http://proxy.poly.edu:3128", "curl", "-sS", "-o", "/dev/null",
                        "--max-time", "10", URL], check=True)


def run(ctx) -> None:
    client, proxy, gaia = ctx.host("client1"), ctx.host("proxy"), ctx.host("gaia")
    ctx.restart_service(ctx.service("proxy", "http-proxy"))   # an empty cache, whatever ran before
    ctx.mark("first")
    fetch(ctx)
    ctx.mark("second")
    fetch(ctx)
    ctx.mark("expired")
    time.sleep(LIFETIME + 0.5)   # the object's lifetime is time itself: nothing to observe but the clock
    ctx.mark("third")
    fetch(ctx)
    ctx.mark("end")

    def asks(window: str, until: str, server: re.Pattern | str, text: str) -> Dialogue:
        return Dialogue("servers", client, proxy, 3128, [Says("client", f"GET {URL} HTTP/1.1"), Says("server", server)],
                        text, after=window, before=until)

    ctx.expect(
        asks("first", "second", "HTTP/1.1 200 OK", "client1 sends its GET, with the whole URL, to the proxy"),
        Dialogue("internet", proxy, gaia, 80, [Says("client", "GET /web-cache/object.html HTTP/1.1"),
                                               Says("server", "HTTP/1.1 200 OK")],
                 "a miss: the proxy asks gaia for the object, and gaia sends it", after="first", before="second"),
        asks("second", "expired", FROM_CACHE, "the second GET is answered by the proxy, from its cache (Age)"),
        Absent("internet", between(proxy, gaia), "a hit: not one packet between the proxy and gaia",
               after="second", before="expired"),
        Dialogue("internet", proxy, gaia, 80, [
            Says("client", re.compile(r"^GET /web-cache/object\.html HTTP/1\.1\r\n[\s\S]*\r\nIf-Modified-Since: ")),
            Says("server", NOT_MODIFIED)],
            "after it expired, the proxy sends a conditional GET (If-Modified-Since); gaia answers 304 Not "
            "Modified, with no body", after="third", before="end"),
        asks("third", "end", FROM_CACHE, "client1 gets the object from the cache"),
    )
    ctx.message_ladder("internet", proxy, gaia, 80, "proxy and gaia: a miss, then (no hit shows here) a "
                       "conditional GET answered 304", after="first", before="end", columns=["proxy", "gaia"])
    ctx.message_ladder("servers", client, proxy, 3128, "client1 and its web cache: three GETs", after="first",
                       before="end", columns=["client1", "proxy"])
