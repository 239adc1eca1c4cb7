"""Assertions on dialogues: the messages of a TCP connection or a UDP exchange, reassembled from the
capture (stream.py), whatever the segmentation.

    Dialogue("servers", client, mail, 25, [
        Says("server", "220"),                              # the greeting
        Says("client", "MAIL FROM:<alice@crepes.fr>", skip=True),
        Says("server", "250"),                              # the server's very next reply
    ], "the server accepts alice's envelope")
    Connections("servers", client, ftp, "one control connection, opened by the client", port=21, count=1)
    Elapsed("servers", "start", tcp(client, server, flags="S"), "the client connects at once", at_most=1.0)

A step `Says(side, what)` matches the next message of that side ("client" or "server") after the
previous step's message, and fails when that message says something else: after a command, the
server's next reply must be the one named. `skip=True` lets other messages of that side come first
(the client's TYPE and PASV before its RETR). `what` matches the start of a message (bytes or str;
exact=True: the whole message); a compiled regular expression is searched in it. How bytes split into messages is the describer's
business (the one registered for the server's port, or `describer=`): lines for text protocols,
one datagram each over UDP, and otherwise each side's turn of talk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .assertions import SHOWN, Assertion, Outcome
from .describers import Describer, for_port, named
from .frames import Frame, Traffic
from .match import Endpoint, Match, ip_of, who
from .stream import CLIENT, SERVER, Conversation, Message

LABEL = 60  # characters of a message quoted in a why


@dataclass(frozen=True)
class Says:
    side: str  # "client" or "server"
    what: bytes | str | re.Pattern
    skip: bool = False  # other messages of this side may come before it
    exact: bool = False  # the whole message is `what` (a str or bytes), not only its start

    def __post_init__(self) -> None:
        if self.side not in (CLIENT, SERVER):
            raise ValueError(f"Says: side is 'client' or 'server', not {self.side!r}")

    def matches(self, msg: Message) -> bool:
        if isinstance(self.what, re.Pattern):
            pattern = self.what
            return bool(pattern.search(msg.data if isinstance(pattern.pattern, bytes) else msg.text))
        want = self.what.encode() if isinstance(self.what, str) else self.what
        return msg.data == want if self.exact else msg.data.startswith(want)

    @property
    def label(self) -> str:
        what = self.what.pattern if isinstance(self.what, re.Pattern) else self.what
        return repr(what.decode(errors="replace") if isinstance(what, bytes) else what)


def conversations(traffic: Traffic, capture: str, client: Endpoint, server: Endpoint, port: int | None,
                  transport: str = "tcp", after: str | None = None, before: str | None = None) -> list[Conversation]:
    """The TCP connections (or UDP exchanges) client > server:port in a window, in the order they began."""
    found = (traffic.connections if transport == "tcp" else traffic.exchanges)(capture, after, before)
    c, s = ip_of(client), ip_of(server)
    return [x for x in found if (c is None or x.client.ip == c) and (s is None or x.server.ip == s)
            and (port is None or x.server.port == port)]


def describer_for(transport: str, port: int | None, describer: Describer | str | None) -> Describer | None:
    if isinstance(describer, str):
        return named(describer)
    return describer if describer is not None else (for_port(transport, port) if port else None)


def quote(msg: Message, describer: Describer | None) -> str:
    text = describer.label(msg) if describer is not None and describer.splits else msg.text
    text = "".join(ch if ch.isprintable() else "." for ch in text)
    return repr(text[:LABEL] + ("..." if len(text) > LABEL else ""))


class Dialogue(Assertion):
    """An ordered exchange of messages on one connection client > server:port (any one of them, or the
    `connection`-th, counting from 1)."""

    def __init__(self, capture: str, client: Endpoint, server: Endpoint, port: int, steps: list[Says], text: str,
                 *, transport: str = "tcp", describer: Describer | str | None = None, connection: int | None = None,
                 after: str | None = None, before: str | None = None):
        if not steps:
            raise ValueError("a Dialogue needs at least one step")
        self.capture, self.client, self.server, self.port, self.steps = capture, client, server, port, steps
        self.text, self.transport, self.connection = text, transport, connection
        self.describer, self.after, self.before = describer, after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        found = conversations(traffic, self.capture, self.client, self.server, self.port, self.transport,
                              self.after, self.before)
        what = "TCP connection" if self.transport == "tcp" else "UDP exchange"
        if self.connection is not None:
            if len(found) < self.connection:
                return self._fail(f"expected at least {self.connection} {what}s {who(self.client)} > "
                                  f"{who(self.server)}:{self.port}; saw {len(found)}", found)
            found = [found[self.connection - 1]]
        if not found:
            return self._fail(f"expected a {what} {who(self.client)} > {who(self.server)}:{self.port}; saw none",
                              found, traffic)
        d = describer_for(self.transport, self.port, self.describer)
        best: tuple[int, str, Conversation] | None = None
        for conv in found:
            reached, why, used = self._follow(conv.messages(d), d)
            if reached == len(self.steps):
                frames = sorted({f.number: f for m in used for f in m.frames}.values(), key=lambda f: f.number)
                return Outcome(self.text, True, f"{len(self.steps)} messages in order on {conv}", frames[:SHOWN],
                               self.capture)
            if best is None or reached > best[0]:
                best = (reached, f"{why} (on {conv})", conv)
        assert best is not None
        return Outcome(self.text, False, best[1], best[2].frames[:SHOWN], self.capture)

    def _follow(self, msgs: list[Message], d: Describer | None) -> tuple[int, str, list[Message]]:
        """How many steps these messages satisfy, why the next one fails, and the messages used."""
        used: list[Message] = []
        pos = 0
        for k, step in enumerate(self.steps):
            where = f"after {used[-1].side} {quote(used[-1], d)}, " if used else ""
            theirs = [i for i in range(pos, len(msgs)) if msgs[i].side == step.side]
            if not theirs:
                return k, f"{where}expected the {step.side} to say {step.label}; it said nothing more", used
            if step.skip:
                hit = next((i for i in theirs if step.matches(msgs[i])), None)
                if hit is None:
                    said = ", ".join(quote(msgs[i], d) for i in theirs[:4])
                    return k, f"{where}expected the {step.side} to say {step.label}; it said {said}", used
            else:
                hit = theirs[0]
                if not step.matches(msgs[hit]):
                    return k, (f"{where}expected the {step.side} to say {step.label}; its next message was "
                               f"{quote(msgs[hit], d)}"), used
            used.append(msgs[hit])
            pos = hit + 1
        return len(self.steps), "", used

    def _fail(self, why: str, found: list[Conversation], traffic: Traffic | None = None) -> Outcome:
        if traffic is not None:  # say what there was instead
            seen = (traffic.connections if self.transport == "tcp" else traffic.exchanges)(
                self.capture, self.after, self.before)
            if seen:
                why += f" (saw {', '.join(str(x) for x in seen[:6])}{', ...' if len(seen) > 6 else ''})"
        frames = [f for x in found for f in x.frames]
        return Outcome(self.text, False, why, frames[:SHOWN], self.capture)


class Connections(Assertion):
    """How many TCP connections `opener` opened to `acceptor` (optionally to one port) with a whole
    handshake (SYN, SYN-ACK, ACK): exactly `count`, or between `at_least` and `at_most`."""

    def __init__(self, capture: str, opener: Endpoint, acceptor: Endpoint, text: str, *, port: int | None = None,
                 count: int | None = None, at_least: int | None = None, at_most: int | None = None,
                 after: str | None = None, before: str | None = None):
        if count is None and at_least is None and at_most is None:
            raise ValueError("Connections needs count, at_least or at_most")
        self.capture, self.opener, self.acceptor, self.text, self.port = capture, opener, acceptor, text, port
        self.lo = count if count is not None else (at_least or 0)
        self.hi = count if count is not None else at_most
        self.after, self.before = after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        mine = [c for c in conversations(traffic, self.capture, self.opener, self.acceptor, self.port, "tcp",
                                         self.after, self.before) if c.handshake]
        want = (f"{self.lo}" if self.lo == self.hi else f"at least {self.lo}" if self.hi is None
                else f"{self.lo} to {self.hi}")
        to = f"{who(self.acceptor)}{f':{self.port}' if self.port else ''}"
        if self.lo <= len(mine) and (self.hi is None or len(mine) <= self.hi):
            ports = ", ".join(f"{c.client.port} > {c.server.port}" for c in mine)
            return Outcome(self.text, True, f"{len(mine)} opened by {who(self.opener)} ({ports or 'none'})",
                           [c.syn for c in mine if c.syn][:SHOWN], self.capture)
        why = f"expected {want} TCP connections opened by {who(self.opener)} to {to}; saw {len(mine)}"
        if mine:
            why += f" ({', '.join(str(c) for c in mine[:6])})"
        back = conversations(traffic, self.capture, self.acceptor, self.opener, None, "tcp", self.after, self.before)
        if back:
            why += f"; {len(back)} opened the other way ({', '.join(str(c) for c in back[:4])})"
        frames = [c.syn or c.frames[0] for c in (mine + back)]
        return Outcome(self.text, False, why, frames[:SHOWN], self.capture)


@dataclass(frozen=True)
class Said:
    """A moment: when a message matching `says` was complete on a dialogue client > server:port."""

    client: Endpoint
    server: Endpoint
    port: int
    says: Says
    transport: str = "tcp"

    @property
    def label(self) -> str:
        return f"{self.says.side} says {self.says.label} ({who(self.client)} > {who(self.server)}:{self.port})"


Moment = str | Match | Said  # a mark's name, the first frame matching, or a message


class Elapsed(Assertion):
    """The time from one moment to another is within bounds (seconds; give at_least, at_most or both)."""

    def __init__(self, capture: str, start: Moment, end: Moment, text: str, *, at_least: float | None = None,
                 at_most: float | None = None, after: str | None = None, before: str | None = None):
        if at_least is None and at_most is None:
            raise ValueError("Elapsed needs at_least, at_most or both")
        self.capture, self.start, self.end, self.text = capture, start, end, text
        self.at_least, self.at_most, self.after, self.before = at_least, at_most, after, before

    def _when(self, m: Moment, traffic: Traffic) -> tuple[float | None, str, list[Frame]]:
        if isinstance(m, str):
            traffic.frames(self.capture, after=m)  # an unknown mark is a LookupError that names the marks
            return traffic.marks[m], f"mark {m!r}", []
        if isinstance(m, Match):
            hit = next((f for f in traffic.frames(self.capture, self.after, self.before) if m(f.pkt)), None)
            return (hit.time, m.label, [hit]) if hit else (None, m.label, [])
        d = describer_for(m.transport, m.port, None)
        for conv in conversations(traffic, self.capture, m.client, m.server, m.port, m.transport, self.after,
                                  self.before):
            hit = next((x for x in conv.messages(d) if x.side == m.says.side and m.says.matches(x)), None)
            if hit:
                return hit.time, m.label, hit.frames
        return None, m.label, []

    def evaluate(self, traffic: Traffic) -> Outcome:
        (t0, l0, f0), (t1, l1, f1) = self._when(self.start, traffic), self._when(self.end, traffic)
        frames = sorted(f0 + f1, key=lambda f: f.number)[:SHOWN]
        for t, label in ((t0, l0), (t1, l1)):
            if t is None:
                return Outcome(self.text, False, f"expected {label} on {self.capture}; saw none", frames, self.capture)
        took = t1 - t0
        lo = f"at least {self.at_least:g} s" if self.at_least is not None else ""
        hi = f"at most {self.at_most:g} s" if self.at_most is not None else ""
        bounds = " and ".join(b for b in (lo, hi) if b)
        ok = (self.at_least is None or took >= self.at_least) and (self.at_most is None or took <= self.at_most)
        why = f"{took:.6f} s from {l0} to {l1}" + ("" if ok else f"; expected {bounds}")
        return Outcome(self.text, ok, why, frames, self.capture)
