"""Option negotiation without loops: RFC 1143's Q method, for both sides of every option.

Each option has two independent states: `us` (do we perform it: we send WILL/WONT, the peer DO/DONT)
and `him` (does the peer perform it: we send DO/DONT, the peer WILL/WONT). Each is NO, YES, WANTNO or
WANTYES, with a one-bit queue (EMPTY or OPPOSITE) for a change of mind while a request is in flight.
A command that would not change a state is never answered, so two implementations cannot ping-pong.
Options not in the `supported` sets are refused (DONT / WONT).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codes import DO, DONT, WILL, WONT

NO, YES, WANTNO, WANTYES = "NO", "YES", "WANTNO", "WANTYES"
EMPTY, OPPOSITE = "EMPTY", "OPPOSITE"


@dataclass
class Side:
    state: str = NO
    queue: str = EMPTY


@dataclass(frozen=True)
class Changed:
    """An option came into force or went out of force. side: 'us' (we perform it) or 'him'."""
    option: int
    side: str
    enabled: bool


@dataclass
class OptionTable:
    local: set[int] = field(default_factory=set)   # options we agree to perform (answer DO with WILL)
    remote: set[int] = field(default_factory=set)  # options we agree the peer performs (answer WILL with DO)
    _us: dict[int, Side] = field(default_factory=dict)
    _him: dict[int, Side] = field(default_factory=dict)

    def us(self, option: int) -> Side:
        return self._us.setdefault(option, Side())

    def him(self, option: int) -> Side:
        return self._him.setdefault(option, Side())

    def enabled_us(self, option: int) -> bool:
        return option in self._us and self._us[option].state == YES

    def enabled_him(self, option: int) -> bool:
        return option in self._him and self._him[option].state == YES

    def pending(self, option: int) -> bool:
        """A request about this option is waiting for the peer's answer."""
        return any(s.state in (WANTNO, WANTYES) for s in (self.us(option), self.him(option)))

    # -- what we receive: (commands to send, changes)

    def receive(self, verb: int, option: int) -> tuple[list[tuple[int, int]], list[Changed]]:
        if verb in (WILL, WONT):
            return _receive(self.him(option), verb == WILL, option in self.remote, option, "him", DO, DONT)
        return _receive(self.us(option), verb == DO, option in self.local, option, "us", WILL, WONT)

    # -- what we ask for: commands to send (empty when the request changes nothing on the wire)

    def ask_him(self, option: int, enable: bool) -> list[tuple[int, int]]:
        return _ask(self.him(option), enable, option, DO, DONT)

    def ask_us(self, option: int, enable: bool) -> list[tuple[int, int]]:
        return _ask(self.us(option), enable, option, WILL, WONT)


def _receive(s: Side, positive: bool, agree: bool, option: int, side: str, yes: int, no: int
             ) -> tuple[list[tuple[int, int]], list[Changed]]:
    """RFC 1143 section 7, 'Upon receipt of WILL/WONT' (and DO/DONT, the same with us for him)."""
    send: list[tuple[int, int]] = []
    changed: list[Changed] = []
    if positive:
        if s.state == NO:
            if agree:
                s.state = YES
                send.append((yes, option))
                changed.append(Changed(option, side, True))
            else:
                send.append((no, option))
        elif s.state == WANTNO:
            if s.queue == EMPTY:  # the peer answered our refusal with an acceptance: take it as NO
                s.state = NO
                changed.append(Changed(option, side, False))
            else:
                s.state, s.queue = YES, EMPTY
                changed.append(Changed(option, side, True))
        elif s.state == WANTYES:
            if s.queue == EMPTY:
                s.state = YES
                changed.append(Changed(option, side, True))
            else:
                s.state, s.queue = WANTNO, EMPTY
                send.append((no, option))
        # YES: already in force, nothing to say
    else:
        if s.state == YES:
            s.state = NO
            send.append((no, option))
            changed.append(Changed(option, side, False))
        elif s.state == WANTNO:
            if s.queue == EMPTY:
                s.state = NO
                changed.append(Changed(option, side, False))
            else:
                s.state, s.queue = WANTYES, EMPTY
                send.append((yes, option))
        elif s.state == WANTYES:
            s.state, s.queue = NO, EMPTY  # refused
        # NO: already out of force
    return send, changed


def _ask(s: Side, enable: bool, option: int, yes: int, no: int) -> list[tuple[int, int]]:
    """RFC 1143 section 7, 'If we decide to ask him to enable / disable'; errors there are no-ops here."""
    if enable:
        if s.state == NO:
            s.state = WANTYES
            return [(yes, option)]
        if s.state == WANTNO:
            s.queue = OPPOSITE
        elif s.state == WANTYES:
            s.queue = EMPTY
    else:
        if s.state == YES:
            s.state = WANTNO
            return [(no, option)]
        if s.state == WANTNO:
            s.queue = EMPTY
        elif s.state == WANTYES:
            s.queue = OPPOSITE
    return []
