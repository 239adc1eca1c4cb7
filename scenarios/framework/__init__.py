"""The scenario framework: what a scenario is written with, and what runs it.

    wirelab scenario list                                   # name, lab, what it shows
    wirelab scenario run NAME... | --all | --lab campus [--backend netns] [--out DIR] [--lab-file FILE]

A run groups the chosen scenarios by lab and brings each lab up once (through `topology.lab` only, so
the same scenario runs on every backend), captures every segment of the lab around each scenario,
evaluates the assertions from those captures, takes the lab down, and writes into --out (default
results/<timestamp>/): `<scenario>/<segment>.pcap` (and `<node>-<iface>.pcap` for node captures),
`<scenario>/ladder.svg` + `ladder.txt`, `report.json`, `junit.xml` and `summary.txt`. The exit status
is 1 when any assertion fails.

The modules: catalog (finding scenarios), runner, context (the `ctx` of a scenario), frames (captured
packets, named by node), stream (TCP connections and UDP exchanges reassembled), match (packet
predicates), assertions (over packets), dialogue (over dialogues, connections and time), textbook
(the handshake, teardown, ping pairs, fragments), describers/ (one module per protocol), ladder
(diagrams), report, traffic (a datagram generator run on nodes), cli.

Adding a scenario
-----------------
Write one module `scenarios/course/<name>.py` (the scenario is called `<name>` with '-' for '_', or
NAME). It needs a docstring whose first paragraph says what it shows (`scenario list` prints it),
`LAB` (a lab under topology/labs/), optionally `SEGMENTS` (the segments to capture; default: all),
and `run(ctx)`. Nothing else is edited: the catalog finds every module of `scenarios.course` (and
outside packages add theirs through the `wirelab.scenarios` entry point).

    \"\"\"SMTP: alice's mail client hands her message to crepes.fr's server, command by command.\"\"\"

    from scenarios.framework.dialogue import Connections, Dialogue, Says
    from scenarios.framework.textbook import tcp_handshake

    LAB = "campus"

    def run(ctx):
        client, mail = ctx.host("client1"), ctx.host("mail-crepes")   # name, ip, mac (on a segment)
        ctx.mark("send")                                              # a point in time, for windows
        ctx.python("client1", ["-m", "services.smtp.send", ...])      # the lab's Python on a node
        ctx.expect(
            tcp_handshake("servers", client, mail, 25, after="send"),
            Connections("servers", client, mail, "one connection, opened by the client", port=25, count=1),
            Dialogue("servers", client, mail, 25, [
                Says("server", "220"),                                # the greeting
                Says("client", "MAIL FROM:<alice@crepes.fr>", skip=True),
                Says("server", "250"),                                # its very next reply
                Says("client", "RCPT TO:<bob@hamburger.edu>"), Says("server", "250"),
            ], "the server accepts alice's envelope", after="send"),
        )
        ctx.message_ladder("servers", client, mail, 25, "SMTP, command by command")

In `run`: `ctx.run(node, argv)` runs any command on a node (recorded in the report; check=True stops
the scenario on failure), `ctx.python(node, args)` the lab's Python, `ctx.watch(node, segment)` also
captures on a node's own interface (that capture is named "<node>-<iface>"), `ctx.mark(name)` sets a
point in time, `ctx.note(text)` writes a line into the report. Services, through the lab's backend
(never by pid, path or /proc):

    rec = ctx.service("laptop1", "dhcp-client", iface="eth0")  # a running one (iface: per-interface ones)
    rec = ctx.start_service("client1", "echo-udp")             # started and ready; stopped when the scenario
                                                               # ends (keep=True: it stays)
    rec = ctx.restart_service(rec)                             # stop, start with the same args, ready
    ctx.signal_service(rec, signal.SIGUSR1); ctx.stop_service(rec)
    ctx.service_log(rec); ctx.wait_log(rec, "renewed", since=n)   # what it logged; wait for a line

Traffic runs during `run(ctx)`; assertions are only recorded there and are evaluated after the
captures have stopped, from the pcaps (never from the programs' output). A value a scenario needs
from the traffic (a DHCP xid, a port) is taken from the capture too: see describers.dhcp.Transaction.

Assertions
----------
All take a capture name (a segment, or a `ctx.watch` name), a `text` written as the textbook would
state the claim, and `after=`/`before=` marks. A failure prints `why` ("expected X after Y; saw none")
and the frames the assertion looked at.

- Packets (`assertions`): `InOrder(capture, steps, text)` (each step's first packet after the
  previous one's), `Present(..., count=n)`, `Absent(..., given=...)`, `First(capture, among, expected)`;
  steps are `match` predicates: `ip`, `tcp(flags="SA")`, `udp`, `icmp(type=11)`, `arp_request`,
  `arp_reply`, `broadcast`, `between(a, b)`, `fragment`, `payload(b"...")`, combined with `&`, `|`,
  renamed with `.named("...")`, or `Match("label", lambda pkt: ...)` over scapy. A protocol's own
  predicates live in its describer: `describers.dns.dns(qname=..., referral=True)`,
  `describers.dhcp.dhcp("OFFER", xid=...)`.
- Dialogues (`dialogue`), read from the reassembled streams whatever the segmentation, resends or
  order: `Dialogue(capture, client, server, port, [Says(side, what, skip=False), ...], text,
  transport="tcp"|"udp", connection=n)` — each step is the side's next message after the previous
  step (skip=True: its next matching one), `what` the start of the message (str/bytes) or a
  compiled regex; `Connections(capture, opener, acceptor, text, port=, count= | at_least=, at_most=)`
  counts whole handshakes opened by one side; `Elapsed(capture, start, end, text, at_least=,
  at_most=)` bounds the time between two moments: a mark's name, a `Match` (its first frame), or
  `Said(client, server, port, Says(...))` (when that message was complete).
- The course's compound claims (`textbook`): `tcp_handshake`, `TcpTeardown`, `EchoPairs`,
  `Fragments` and its checks.
- Your own: subclass `assertions.Assertion`; `traffic.frames(capture, after, before)` gives frames,
  `traffic.connections(...)` / `traffic.exchanges(...)` the dialogues (stream.Connection:
  client, server, up/down bytes with `frames_for(start, end)`, handshake and teardown frames,
  `messages(describer)`); return an `Outcome(text, passed, why, frames, capture)`.

Ladders
-------
`ctx.ladder(capture, match, title, columns=[...])` draws packets (one arrow per frame; `link=True`:
hop by hop; `label=`/`stop=` for a scenario's own words); `ctx.message_ladder(capture, client, server,
port, title)` draws a dialogue: its handshake, one arrow per application message (a command, a reply,
as the describer labels it), its FINs or RST.

Adding a protocol describer
---------------------------
One module `scenarios/framework/describers/<protocol>.py` defining `DESCRIBER` (found without a list;
outside packages register theirs in the `wirelab.describers` entry-point group), plus the protocol's
predicates beside it. A text protocol is a few lines:

    from .lines import LineProtocol
    DESCRIBER = LineProtocol("smtp", ports=(25, 587), continued=rb"\\d{3}-")   # 250-... continues a reply

Otherwise subclass `describers.Describer`: `recognizes(pkt)` / `summary(pkt)` / `arrow(pkt)` name a
packet in frame lines and ladders, `learn(pkt, names)` names addresses it assigns, `split(data,
side)` cuts one side's bytes into messages (end offsets; set `splits = True`) and `label(message)`
labels one on a ladder. See describers/dns.py and describers/dhcp.py.

Every scenario needs a test that breaks the behaviour on purpose (a modified copy of the lab, or a
command on a node via `prepare=`) and checks that the scenario then fails: an assertion that cannot
fail proves nothing. `tests/scenario_runs.py` runs a scenario on a copy of its lab for such tests.
"""
