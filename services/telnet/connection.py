"""One end of a Telnet connection, sans I/O: the NVT parser, the option table (RFC 1143), and the two
options that carry data, TERMINAL-TYPE (RFC 1091) and NAWS (RFC 1073). Both the server and the client
are made of this; neither it nor anything it calls touches a socket.

    conn = TelnetConnection(local={TTYPE, NAWS}, remote={ECHO, SGA}, terminal_type="VT220")
    events = conn.receive(segment)        # Data, Command, Changed, TerminalType, WindowSize, Trace, ...
    sock.send(conn.data_to_send())

Every negotiation sent or received is also reported as a Trace event ("RCVD DO TERMINAL-TYPE"), which is
what the course's client prints as it happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .codes import IAC, NAWS, SB, SE, TTYPE, TTYPE_IS, TTYPE_SEND, command_name, option_name
from .options import Changed, OptionTable
from .parser import Command, Data, Malformed, Negotiation, Subnegotiation, TelnetParser

MAX_TERMINAL_TYPE = 40  # RFC 1091: terminal type names are at most 40 characters
_BARE_CR = re.compile(rb"\r(?!\n)")


@dataclass(frozen=True)
class Trace:
    direction: str  # "SENT" or "RCVD"
    text: str       # e.g. "DO TERMINAL-TYPE", "SB TERMINAL-TYPE IS 'VT220'"

    def __str__(self) -> str:
        return f"{self.direction} {self.text}"


@dataclass(frozen=True)
class TerminalType:
    name: str


@dataclass(frozen=True)
class WindowSize:
    columns: int
    rows: int


Event = Data | Command | Changed | TerminalType | WindowSize | Trace | Malformed


def escape(data: bytes) -> bytes:
    """Data for the wire: IAC doubled, a CR not followed by LF sent as CR NUL (RFC 854). A CR that ends a
    chunk is sent as CR NUL too: if an LF starts the next chunk, CR NUL LF shows the same as CR LF."""
    data = data.replace(b"\xff", b"\xff\xff")
    return _BARE_CR.sub(b"\r\x00", data) if b"\r" in data else data


def subnegotiation(option: int, payload: bytes) -> bytes:
    return bytes([IAC, SB, option]) + payload.replace(b"\xff", b"\xff\xff") + bytes([IAC, SE])


def describe_subnegotiation(option: int, payload: bytes) -> str:
    if option == TTYPE and payload[:1] == bytes([TTYPE_SEND]):
        return "SB TERMINAL-TYPE SEND"
    if option == TTYPE and payload[:1] == bytes([TTYPE_IS]):
        return f"SB TERMINAL-TYPE IS {payload[1:].decode('ascii', 'replace')!r}"
    if option == NAWS and len(payload) == 4:
        return f"SB NAWS {int.from_bytes(payload[:2], 'big')} {int.from_bytes(payload[2:], 'big')}"
    return f"SB {option_name(option)} {' '.join(str(b) for b in payload)}".rstrip()


class TelnetConnection:
    def __init__(self, *, local: set[int] | frozenset[int] = frozenset(),
                 remote: set[int] | frozenset[int] = frozenset(), terminal_type: str | None = None,
                 window: tuple[int, int] | None = None, ask_terminal_type: bool = False) -> None:
        """local: options we agree to perform; remote: options we agree the peer performs.
        terminal_type/window: what we report when the peer asks (a client); ask_terminal_type: ask the
        peer's terminal type as soon as it agrees to TERMINAL-TYPE (a server)."""
        self.parser = TelnetParser()
        self.options = OptionTable(local=set(local), remote=set(remote))
        self.terminal_type = terminal_type
        self.window = window
        self.ask_terminal_type = ask_terminal_type
        self._out = bytearray()
        self._events: list[Event] = []

    # -- output

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, data: bytes) -> None:
        self._out += escape(data)

    def send_command(self, code: int) -> list[Event]:
        self._out += bytes([IAC, code])
        self._events.append(Trace("SENT", command_name(code)))
        return self._take()

    def ask_us(self, option: int, enable: bool = True) -> list[Event]:
        self._negotiate(self.options.ask_us(option, enable))
        return self._take()

    def ask_him(self, option: int, enable: bool = True) -> list[Event]:
        self._negotiate(self.options.ask_him(option, enable))
        return self._take()

    def set_window(self, columns: int, rows: int) -> list[Event]:
        """Our window changed (a client): tell the peer if NAWS is in force."""
        self.window = (columns, rows)
        if self.options.enabled_us(NAWS):
            self._subnegotiate(NAWS, columns.to_bytes(2, "big") + rows.to_bytes(2, "big"))
        return self._take()

    # -- input

    def receive(self, data: bytes) -> list[Event]:
        for ev in self.parser.feed(data):
            if isinstance(ev, Negotiation):
                self._events.append(Trace("RCVD", f"{command_name(ev.verb)} {option_name(ev.option)}"))
                send, changed = self.options.receive(ev.verb, ev.option)
                self._negotiate(send)
                for ch in changed:
                    self._events.append(ch)
                    self._on_change(ch)
            elif isinstance(ev, Subnegotiation):
                self._events.append(Trace("RCVD", describe_subnegotiation(ev.option, ev.payload)))
                self._on_subnegotiation(ev.option, ev.payload)
            elif isinstance(ev, Command):
                self._events.append(Trace("RCVD", command_name(ev.code)))
                self._events.append(ev)
            else:
                self._events.append(ev)
        return self._take()

    # -- inside

    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _negotiate(self, commands: list[tuple[int, int]]) -> None:
        for verb, option in commands:
            self._out += bytes([IAC, verb, option])
            self._events.append(Trace("SENT", f"{command_name(verb)} {option_name(option)}"))

    def _subnegotiate(self, option: int, payload: bytes) -> None:
        self._out += subnegotiation(option, payload)
        self._events.append(Trace("SENT", describe_subnegotiation(option, payload)))

    def _on_change(self, ch: Changed) -> None:
        if ch.enabled and ch.side == "him" and ch.option == TTYPE and self.ask_terminal_type:
            self._subnegotiate(TTYPE, bytes([TTYPE_SEND]))
        if ch.enabled and ch.side == "us" and ch.option == NAWS and self.window:
            self._subnegotiate(NAWS, self.window[0].to_bytes(2, "big") + self.window[1].to_bytes(2, "big"))

    def _on_subnegotiation(self, option: int, payload: bytes) -> None:
        # RFC 855: a subnegotiation only after the option is agreed; anything else is ignored
        if option == TTYPE and payload[:1] == bytes([TTYPE_SEND]) and self.options.enabled_us(TTYPE):
            name = (self.terminal_type or "UNKNOWN").upper().encode("ascii", "replace")[:MAX_TERMINAL_TYPE]
            self._subnegotiate(TTYPE, bytes([TTYPE_IS]) + name)
        elif option == TTYPE and payload[:1] == bytes([TTYPE_IS]) and self.options.enabled_him(TTYPE):
            name = payload[1:1 + MAX_TERMINAL_TYPE].decode("ascii", "replace")
            if name and name.isprintable():
                self._events.append(TerminalType(name))
            else:
                self._events.append(Malformed(f"terminal type {name!r} is not printable ASCII"))
        elif option == NAWS and self.options.enabled_him(NAWS):
            if len(payload) == 4:
                self._events.append(WindowSize(int.from_bytes(payload[:2], "big"),
                                               int.from_bytes(payload[2:], "big")))
            else:
                self._events.append(Malformed(f"NAWS with {len(payload)} bytes, not 4"))

