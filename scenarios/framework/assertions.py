"""Assertions evaluated from captures, stated as the textbook states them.

    InOrder("servers", [syn, syn_ack, ack, first_data], "the handshake precedes the data")
    Absent("backbone", broadcast(), "the broadcast does not cross the router")
    Present("client4-eth0", between(c3, r2), "client4 sees unicast frames between client3 and r2")

Each evaluates to an `Outcome`: passed or not, why (one line, e.g. "expected ICMP time-exceeded from r2
(10.10.12.2) after r1; saw none"), and the frames it rests on (when it passes) or looked at (when it
fails). A scenario can subclass `Assertion` for a check that is not a sequence (see textbook.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .frames import Frame, Traffic
from .match import Match

SHOWN = 40  # frames kept per outcome: enough to see what happened, not the whole capture


@dataclass
class Outcome:
    text: str
    passed: bool
    why: str
    frames: list[Frame] = field(default_factory=list)
    capture: str = ""


class Assertion:
    text: str = ""
    capture: str = ""

    def evaluate(self, traffic: Traffic) -> Outcome:
        raise NotImplementedError

    def _window(self, traffic: Traffic, after: str | None, before: str | None) -> list[Frame]:
        return traffic.frames(self.capture, after=after, before=before)


@dataclass
class Step:
    match: Match
    short: str = ""  # how later steps refer to this one ("r1"); the label by default

    @property
    def name(self) -> str:
        return self.short or self.match.label


class InOrder(Assertion):
    """Each step's first packet comes after the previous step's.

    strict: the first packet matching a step in the whole window must itself come after the previous
    step (so "the handshake precedes the first data" fails when data comes earlier). With strict=False a
    step only has to appear somewhere after the previous one.
    """

    def __init__(self, capture: str, steps: list[Match | Step], text: str, *, after: str | None = None,
                 before: str | None = None, strict: bool = True):
        self.capture, self.text, self.after, self.before, self.strict = capture, text, after, before, strict
        self.steps = [s if isinstance(s, Step) else Step(s) for s in steps]

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, self.before)
        relevant = [f for f in window if any(s.match(f.pkt) for s in self.steps)] or window
        found: list[Frame] = []
        pos = 0
        for i, step in enumerate(self.steps):
            prev = self.steps[i - 1].name if i else None
            first_any = next((k for k, f in enumerate(window) if step.match(f.pkt)), None)
            if self.strict and first_any is not None and first_any < pos:
                return Outcome(self.text, False, f"{step.match.label} (frame {window[first_any].number}) "
                               f"came before {prev}", (found + [window[first_any]]) + relevant[:SHOWN],
                               self.capture)
            k = next((k for k in range(pos, len(window)) if step.match(window[k].pkt)), None)
            if k is None:
                where = f" after {prev}" if prev else ""
                # what came after the last step found: what there was instead of the missing packet
                looked = found + window[pos:pos + SHOWN - len(found)] if found else relevant[:SHOWN]
                return Outcome(self.text, False, f"expected {step.match.label}{where}; saw none",
                               looked, self.capture)
            found.append(window[k])
            pos = k + 1
        return Outcome(self.text, True, f"{len(found)} steps in order", found, self.capture)


class Absent(Assertion):
    """No packet matching `match` in the capture (e.g. a segment it must not cross).

    given: traffic that must be in the window for the absence to mean anything ("the second ping
    needs no ARP" proves nothing if the second ping never crossed the segment)."""

    def __init__(self, capture: str, match: Match, text: str, *, after: str | None = None,
                 before: str | None = None, given: Match | None = None):
        self.capture, self.match, self.text, self.after, self.before = capture, match, text, after, before
        self.given = given

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, self.before)
        seen = [f for f in window if self.match(f.pkt)]
        if seen:
            return Outcome(self.text, False, f"expected no {self.match.label} on {self.capture}; "
                           f"saw {len(seen)}", seen[:SHOWN], self.capture)
        if self.given is not None:
            there = [f for f in window if self.given(f.pkt)]
            if not there:
                return Outcome(self.text, False, f"expected {self.given.label} on {self.capture}, without "
                               f"{self.match.label}; saw neither", window[:SHOWN], self.capture)
            return Outcome(self.text, True, f"{self.given.label} (frame {there[0].number}) and no "
                           f"{self.match.label} among {len(window)} frames", there[:SHOWN], self.capture)
        return Outcome(self.text, True, f"none among {len(window)} frames on {self.capture}", [], self.capture)


class Present(Assertion):
    """At least `count` packets matching `match` in the capture."""

    def __init__(self, capture: str, match: Match, text: str, *, count: int = 1, after: str | None = None,
                 before: str | None = None):
        self.capture, self.match, self.text, self.count = capture, match, text, count
        self.after, self.before = after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, self.before)
        seen = [f for f in window if self.match(f.pkt)]
        if len(seen) < self.count:
            saw = f"saw {len(seen)}" if seen else "saw none"
            want = f"at least {self.count} of " if self.count > 1 else ""
            return Outcome(self.text, False, f"expected {want}{self.match.label} on {self.capture}; {saw}",
                           (seen or window)[:SHOWN], self.capture)
        return Outcome(self.text, True, f"{len(seen)} seen", seen[:SHOWN], self.capture)


class First(Assertion):
    """The first packet among those `among` matches is `expected` (UDP: the very first one is data)."""

    def __init__(self, capture: str, among: Match, expected: Match, text: str, *, after: str | None = None,
                 before: str | None = None):
        self.capture, self.among, self.expected, self.text = capture, among, expected, text
        self.after, self.before = after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        seen = [f for f in self._window(traffic, self.after, self.before) if self.among(f.pkt)]
        if not seen:
            return Outcome(self.text, False, f"expected {self.expected.label}; saw no {self.among.label} at all",
                           [], self.capture)
        if not self.expected(seen[0].pkt):
            return Outcome(self.text, False, f"expected the first {self.among.label} to be "
                           f"{self.expected.label}; it was frame {seen[0].number}", seen[:SHOWN], self.capture)
        return Outcome(self.text, True, f"frame {seen[0].number}", seen[:1], self.capture)
