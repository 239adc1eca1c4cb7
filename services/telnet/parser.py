"""The receiving half of the network virtual terminal (RFC 854): bytes in, events out.

The stream may be cut anywhere (an IAC at the end of one segment, its verb in the next), so the parser
keeps its position between calls. A subnegotiation is kept only up to MAX_SUBNEGOTIATION bytes: a peer
that opens IAC SB and never closes it costs that much memory and no more.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import DONT, IAC, NOP, SB, SE, VERBS

MAX_SUBNEGOTIATION = 512
NUL, CR = 0, 13


@dataclass(frozen=True)
class Data:
    """Data bytes, with IAC IAC made one 255 and the NUL of CR NUL dropped (CR LF is kept as it came)."""
    data: bytes


@dataclass(frozen=True)
class Command:
    """A two-byte command: NOP, DM, BRK, IP, AO, AYT, EC, EL or GA."""
    code: int


@dataclass(frozen=True)
class Negotiation:
    verb: int  # WILL, WONT, DO or DONT
    option: int


@dataclass(frozen=True)
class Subnegotiation:
    option: int
    payload: bytes  # IAC IAC inside already made one 255


@dataclass(frozen=True)
class Malformed:
    """Something the parser dropped, and why (for the log; the connection goes on)."""
    reason: str


Event = Data | Command | Negotiation | Subnegotiation | Malformed

_DATA, _IAC, _VERB, _SB_OPTION, _SB, _SB_IAC = range(6)


class TelnetParser:
    def __init__(self, max_subnegotiation: int = MAX_SUBNEGOTIATION) -> None:
        self.max_sb = max_subnegotiation
        self._state = _DATA
        self._verb = 0
        self._sb_option = 0
        self._sb = bytearray()
        self._sb_overflow = False
        self._after_cr = False
        self.binary = False  # set when the peer sends in TRANSMIT-BINARY: CR NUL is then plain data

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        out = bytearray()

        def flush() -> None:
            if out:
                events.append(Data(bytes(out)))
                out.clear()

        for b in data:
            state = self._state
            if state == _DATA:
                if b == IAC:
                    self._state = _IAC
                elif b == NUL and self._after_cr and not self.binary:
                    self._after_cr = False  # CR NUL is a bare carriage return
                else:
                    out.append(b)
                    self._after_cr = b == CR
            elif state == _IAC:
                self._state = _DATA
                if b == IAC:
                    out.append(IAC)
                    self._after_cr = False
                elif b in VERBS:
                    self._verb, self._state = b, _VERB
                elif b == SB:
                    self._state = _SB_OPTION
                elif NOP <= b <= DONT and b != SE:
                    flush()
                    events.append(Command(b))
                elif b == SE:
                    flush()
                    events.append(Malformed("IAC SE outside a subnegotiation"))
                else:
                    flush()
                    events.append(Malformed(f"IAC followed by {b}, not a command"))
            elif state == _VERB:
                flush()
                events.append(Negotiation(self._verb, b))
                self._state = _DATA
            elif state == _SB_OPTION:
                self._sb_option, self._state = b, _SB
                self._sb.clear()
                self._sb_overflow = False
            elif state == _SB:
                if b == IAC:
                    self._state = _SB_IAC
                else:
                    self._sb_append(b, events)
            else:  # _SB_IAC
                if b == IAC:
                    self._sb_append(IAC, events)
                    self._state = _SB
                elif b == SE:
                    flush()
                    if not self._sb_overflow:
                        events.append(Subnegotiation(self._sb_option, bytes(self._sb)))
                    self._sb.clear()
                    self._state = _DATA
                else:
                    # RFC 855 allows only IAC IAC and IAC SE inside; a peer that forgot IAC SE gets its
                    # subnegotiation dropped and this command read as a command, as BSD telnetd does
                    flush()
                    events.append(Malformed(f"subnegotiation of option {self._sb_option} not ended by IAC SE"))
                    self._sb.clear()
                    self._state = _IAC
                    events.extend(self.feed(bytes([b])))
        flush()
        return events

    def _sb_append(self, b: int, events: list[Event]) -> None:
        if len(self._sb) < self.max_sb:
            self._sb.append(b)
        elif not self._sb_overflow:
            self._sb_overflow = True
            self._sb.clear()
            events.append(Malformed(f"subnegotiation of option {self._sb_option} longer than {self.max_sb} "
                                    "bytes: dropped"))

    @property
    def buffered(self) -> int:
        """Bytes held between calls (a subnegotiation not yet closed): bounded by max_subnegotiation."""
        return len(self._sb)
