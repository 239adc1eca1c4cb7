"""HTTP persistence: a base page and its ten objects take eleven TCP connections over HTTP/1.0
non-persistent connections, and one over an HTTP/1.1 persistent connection.

Kurose & Ross 2.2.2. client1's browser (`python -m services.http get`) fetches
http://gaia.cs.umass.edu/, a base HTML file referencing ten objects, twice. Over HTTP/1.0 each object
has its own connection: the capture on gaia's segment shows eleven handshakes, each connection carrying
one request and one response (two RTTs per object: one to open the connection, one for the object).
Over HTTP/1.1 the browser keeps one connection open and sends each request when the previous response
has arrived: one handshake, then one RTT per object. The report gives the time of each, measured on
the capture.
"""

from __future__ import annotations

from scenarios.framework.describers.http import PageLoad
from scenarios.framework.dialogue import Connections, Dialogue, Says
from services.http.browser import references
from topology.loader import LABS_DIR

LAB = "campus"
SEGMENTS = ["internet"]
BASE = "http://gaia.cs.umass.edu/"
PAGE = (LABS_DIR / "campus.d" / "http" / "gaia.cs.umass.edu" / "index.html").read_text()
OBJECTS = [u.removeprefix("http://gaia.cs.umass.edu") for u in references(PAGE, BASE)]


def run(ctx) -> None:
    client, gaia = ctx.host("client1"), ctx.host("gaia")
    ctx.mark("non-persistent")
    ctx.python("client1", ["-m", "services.http", "get", BASE, "--non-persistent"], check=True)
    ctx.mark("persistent")
    ctx.python("client1", ["-m", "services.http", "get", BASE], check=True)
    ctx.mark("end")

    every = [s for path in ["/", *OBJECTS] for s in (Says("client", f"GET {path} HTTP/1.1"),
                                                    Says("server", "HTTP/1.1 200 OK"))]
    ctx.expect(
        Connections("internet", client, gaia, "HTTP/1.0 non-persistent: eleven TCP connections, one for the "
                    "base page and one for each of its ten objects", port=80, count=1 + len(OBJECTS),
                    after="non-persistent", before="persistent"),
        PageLoad("internet", client, gaia, 80, 1 + len(OBJECTS), False,
                 "non-persistent: each connection carries one request and its response (2 RTT per object)",
                 after="non-persistent", before="persistent"),
        Connections("internet", client, gaia, "HTTP/1.1 persistent: one TCP connection for the page and all "
                    "its objects", port=80, count=1, after="persistent", before="end"),
        PageLoad("internet", client, gaia, 80, 1 + len(OBJECTS), True,
                 "persistent: each request goes out when the previous response is in (1 RTT per object)",
                 after="persistent", before="end"),
        Dialogue("internet", client, gaia, 80, every, "on that one connection: the base page, then the ten "
                 "objects it references, in the page's order", after="persistent", before="end"),
    )
    ctx.message_ladder("internet", client, gaia, 80, "HTTP/1.1 persistent: one connection, eleven requests",
                       after="persistent", before="end", columns=["client1", "gaia"])
