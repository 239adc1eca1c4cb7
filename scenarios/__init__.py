"""Scenarios: bring a lab up, drive traffic on its nodes, capture on its segments, assert from the pcaps.

    wirelab scenario list                                   # name, lab, what it shows
    wirelab scenario run NAME... | --all | --lab campus [--backend netns] [--out DIR] [--lab-file FILE]

A run groups the chosen scenarios by lab and brings each lab up once (through `topology.lab` only, so
the same scenario runs on every backend), captures every segment of the lab around each scenario,
evaluates the assertions from those captures, takes the lab down, and writes into --out (default
results/<timestamp>/): `<scenario>/<segment>.pcap` (and `<node>-<iface>.pcap` for node captures),
`<scenario>/ladder.svg` + `ladder.txt`, `report.json`, `junit.xml` and `summary.txt`. The exit status
is 1 when any assertion fails.

Adding a scenario
-----------------
Write one module here, `scenarios/<name>.py` (the scenario is called `<name>` with '-' for '_'). It
needs a docstring whose first paragraph says what it shows (the course topic; `scenario list` prints
it), `LAB` (a lab under topology/labs/), and `run(ctx)`:

    \"\"\"DHCP: a new host gets its address in four messages, DISCOVER, OFFER, REQUEST, ACK.\"\"\"

    from scenarios.assertions import InOrder
    from scenarios.match import Match, dhcp, udp

    LAB = "campus"
    # SEGMENTS = ["lan1"]            # optional: capture only these (default: every segment)

    def run(ctx):
        client = ctx.host("client1")                      # name, ip and mac of a node (optionally on a segment)
        ctx.mark("start")                                 # a point in time, for windows
        ctx.run("client1", ["dhclient", "-v", "eth0"])    # any command on a node (recorded in the report)
        ctx.python("client1", ["-m", "services.x", ...])  # the lab's Python on a node
        ctx.start_service("client1", "echo-udp")          # a registry service, for this scenario only
        eye = ctx.watch("client2", "lan1")                # also capture on client2's own interface
        discover = dhcp("DISCOVER", "0.0.0.0")            # a packet predicate, labelled in the course's words
        ctx.expect(InOrder("lan1", [discover, ...], "the four DHCP messages come in order", after="start"))
        ctx.ladder("lan1", dhcp(), "DHCP, as lan1 sees it", columns=["client1", "dhcp"])  # link=True: hop by hop

Traffic runs during `run(ctx)`; assertions are only recorded there and are evaluated after the captures
have stopped, from the pcaps (never from the programs' output). Build them from:

- `scenarios.match`: predicates with labels: `ip`, `tcp(flags="SA")`, `udp`, `icmp(type=11)`,
  `arp_request`, `arp_reply`, `broadcast`, `between(a, b)`, `fragment`, `payload(b"...")`,
  `dns(qname=..., referral=True)`, `dhcp("OFFER", xid=...)`; combine
  with `&` and `|`, rename with `.named("...")`, or write `Match("label", lambda pkt: ...)` over scapy.
- `scenarios.assertions`: `InOrder(capture, steps, text)` (each step's first packet after the
  previous one's), `Present(..., count=n)`, `Absent(...)` ("no packet of X crosses segment Y"),
  `First(capture, among, expected, text)`; all take `after=`/`before=` marks.
- `scenarios.textbook`: `tcp_handshake`, `TcpTeardown`, `EchoPairs`, `Fragments` and its checks.
- Your own: subclass `scenarios.assertions.Assertion` and return an `Outcome(text, passed, why, frames)`.

A capture is named by its segment ("lan1") or, for `ctx.watch`, "<node>-<iface>". Write `text` as the
textbook would state the claim; a failure prints `why` ("expected X after Y; saw none") and the frames
the assertion looked at. Every scenario needs a test in tests/test_scenarios.py that breaks the
behaviour on purpose (a modified copy of the lab, or a command on a node via `prepare=`) and checks
that the scenario then fails: an assertion that cannot fail proves nothing.
"""
