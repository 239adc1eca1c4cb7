"""SMTP (RFC 5321) in captures: lines, a reply's "250-" lines continuing it; the MX look-up that precedes a
relay; and the messages themselves, taken out of the reassembled streams (what a client sent after DATA,
un-dot-stuffed; what a POP3 server returned to RETR, un-byte-stuffed), for scenarios that compare them."""

from __future__ import annotations

from collections.abc import Callable

from scapy.layers.dns import DNS
from scapy.layers.inet import UDP
from scapy.packet import Packet

from ..assertions import SHOWN, Assertion, Outcome
from ..frames import Traffic
from ..match import Endpoint, Match, addressed, ip_of, who
from ..stream import Connection
from .lines import LineProtocol

DESCRIBER = LineProtocol("smtp", ports=(25, 587), continued=rb"\d{3}-")
MX = 15


def mx_query(src: Endpoint, domain: str, label: str = "") -> Match:
    """A DNS query (over UDP) for the MX records of domain, sent by src."""
    def test(p: Packet) -> bool:
        if UDP not in p or DNS not in p or not addressed(p, src, None):
            return False
        d = p[DNS]
        return d.qr == 0 and bool(d.qd) and d.qd[0].qtype == MX and \
            d.qd[0].qname.decode().rstrip(".").lower() == domain.lower()
    return Match(label or f"{who(src)} asks DNS for the MX of {domain}", test)


def connections_to(conns: list[Connection], client: Endpoint, server: Endpoint, port: int) -> list[Connection]:
    return [c for c in conns if c.server.port == port and (client is None or c.client.ip == ip_of(client))
            and c.server.ip == ip_of(server)]


def submitted(conn: Connection) -> list[bytes]:
    """Each message the client sent after DATA on this connection, as the server stored it (dots undone)."""
    data, out, at = conn.up.data, [], 0
    while (start := data.find(b"DATA\r\n", at)) >= 0:
        if start and data[start - 2:start] != b"\r\n":
            at = start + 6
            continue
        body = b"\r\n" + data[start + 6:]
        end = body.find(b"\r\n.\r\n")
        if end < 0:
            break
        out.append(body[:end + 2].replace(b"\r\n..", b"\r\n.")[2:])
        at = start + 6 + end + 3
    return out


def retrieved(conn: Connection) -> list[bytes]:
    """Each message a POP3 server returned to RETR on this connection (byte-stuffing undone)."""
    commands = [line.split(b" ")[0].upper() for line in conn.up.data.split(b"\r\n") if line]
    data, at, out = conn.down.data, 0, []
    if data.startswith(b"+OK"):
        at = data.find(b"\r\n") + 2  # the greeting
    for cmd, line in zip(commands, conn.up.data.split(b"\r\n"), strict=False):
        end = data.find(b"\r\n", at)
        if end < 0:
            break
        status = data[at:end]
        at = end + 2
        multi = status.startswith(b"+OK") and (cmd in (b"RETR", b"TOP", b"CAPA") or (
            cmd in (b"LIST", b"UIDL") and len(line.split()) == 1))
        if multi:
            stop = (b"\r\n" + data[at:]).find(b"\r\n.\r\n")
            if stop < 0:
                break
            body = data[at:at + stop]  # the lines, each with its CRLF; ".\r\n" follows
            at += stop + 3
            if cmd == b"RETR":
                out.append((b"\r\n" + body).replace(b"\r\n..", b"\r\n.")[2:])
    return out


def received_lines(message: bytes) -> int:
    head = message.split(b"\r\n\r\n", 1)[0]
    return sum(1 for line in head.split(b"\r\n") if line.startswith(b"Received: "))


class SameMessage(Assertion):
    """What a user agent submitted (sender > mail:25) is what a reader retrieved with POP3 (reader > pop:110),
    byte for byte, below exactly `hops` added Received: lines; each submitted message retrieved exactly once.
    `check(message) -> why or None` adds a test of each message as submitted and as retrieved."""

    def __init__(self, capture: str, sender: Endpoint, mail: Endpoint, reader: Endpoint, pop: Endpoint, text: str,
                 *, hops: int = 2, after: str | None = None, before: str | None = None,
                 check: Callable[[bytes], str | None] | None = None):
        self.capture, self.text, self.hops, self.after, self.before = capture, text, hops, after, before
        self.sender, self.mail, self.reader, self.pop, self.check = sender, mail, reader, pop, check

    def evaluate(self, traffic: Traffic) -> Outcome:
        conns = traffic.connections(self.capture, self.after, self.before)
        subs_c = connections_to(conns, self.sender, self.mail, 25)
        pop_c = connections_to(conns, self.reader, self.pop, 110)
        frames = [f for c in subs_c + pop_c for f in c.frames][:SHOWN]
        sent = [m for c in subs_c for m in submitted(c)]
        got = [m for c in pop_c for m in retrieved(c)]

        def fail(why: str) -> Outcome:
            return Outcome(self.text, False, why, frames, self.capture)

        if not sent:
            return fail(f"expected a message submitted by {who(self.sender)} to {who(self.mail)} port 25; saw none")
        for i, m in enumerate(sent, 1):
            same = [g for g in got if g.endswith(m) and received_lines(g) - received_lines(m) == self.hops
                    and received_lines(g[:len(g) - len(m)] + b"\r\n") == self.hops]
            if len(same) != 1:
                subject = next((line for line in m.split(b"\r\n") if line.startswith(b"Subject:")), b"")
                return fail(f"message {i} submitted ({subject.decode(errors='replace')!r}, {len(m)} bytes) was "
                            f"retrieved by {who(self.reader)} {len(same)} times with {self.hops} Received: lines "
                            f"added ({len(got)} retrieved in all)")
            for what, data in (("as submitted", m), ("as retrieved", same[0])):
                why = self.check(data) if self.check else None
                if why:
                    return fail(f"message {i} {what}: {why}")
        return Outcome(self.text, True, f"{len(sent)} message(s) submitted, each retrieved once, byte for byte, "
                       f"below {self.hops} Received: lines", frames, self.capture)
