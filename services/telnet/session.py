"""The Telnet server's side of one connection, sans I/O: the negotiation a server opens with, the login
dialogue, then the shell's input and output as NVT data. What needs I/O comes out as actions:

    CheckPassword(user, password)  -> verify, then call password_checked(ok)
    Delay(seconds)                 -> wait, then call retry() (a wrong password costs time)
    StartShell(user, term, window) -> spawn the shell on a pty; later input comes as ShellInput
    Resize(columns, rows), ShellInput(bytes), Close(reason), and the connection's Trace events

Interrupt Process and Break reach the shell as the terminal's interrupt character (^C), Erase Character
and Erase Line as its erase and kill characters, as BSD telnetd does: the pty's line discipline (or the
program in raw mode) then does what a local keyboard would have made it do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codes import AO, AYT, BRK, DM, EC, ECHO, EL, IP, NAWS, SGA, TTYPE
from .connection import Data, Event, TelnetConnection, TerminalType, Trace, WindowSize
from .parser import Command

MAX_LINE = 256
MAX_TYPEAHEAD = 4096
INTR, ERASE, KILL = b"\x03", b"\x7f", b"\x15"


@dataclass(frozen=True)
class CheckPassword:
    user: str
    password: str


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class StartShell:
    user: str
    term: str
    window: tuple[int, int] | None  # (columns, rows)


@dataclass(frozen=True)
class ShellInput:
    data: bytes


@dataclass(frozen=True)
class Resize:
    columns: int
    rows: int


@dataclass(frozen=True)
class Close:
    reason: str


Action = CheckPassword | Delay | StartShell | ShellInput | Resize | Close | Trace

USER, PASSWORD, CHECKING, REFUSED, WAIT_TTYPE, SHELL, CLOSED = (
    "user", "password", "checking", "refused", "wait-ttype", "shell", "closed")


class ServerSession:
    def __init__(self, node: str, max_tries: int = 3, fail_delay: float = 2.0, terminal_type: bool = True) -> None:
        """terminal_type=False: never ask for TERMINAL-TYPE (and refuse it), as a server without it would."""
        self.node = node
        self.max_tries = max_tries
        self.fail_delay = fail_delay
        remote = {TTYPE, NAWS, SGA} if terminal_type else {NAWS, SGA}
        self.conn = TelnetConnection(local={ECHO, SGA}, remote=remote, ask_terminal_type=terminal_type)
        self.state = USER
        self.user = ""
        self.term: str | None = None
        self.window: tuple[int, int] | None = None
        self.tries = 0
        self._line = bytearray()
        self._typeahead = bytearray()
        self._after_cr = False

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    def start(self) -> list[Action]:
        """What the server says first: its offers (it echoes, so the password is not shown; no go-aheads)
        and its questions (the terminal's type and size), then the login prompt."""
        events: list[Event] = []
        events += self.conn.ask_us(ECHO)
        events += self.conn.ask_us(SGA)
        events += self.conn.ask_him(SGA)
        if TTYPE in self.conn.options.remote:
            events += self.conn.ask_him(TTYPE)
        events += self.conn.ask_him(NAWS)
        self.conn.send(f"\r\n{self.node} (wirelab telnet)\r\n\r\n{self.node} login: ".encode())
        return [e for e in events if isinstance(e, Trace)]

    def receive(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for ev in self.conn.receive(data):
            if isinstance(ev, Trace):
                actions.append(ev)
            elif isinstance(ev, TerminalType):
                self.term = ev.name
            elif isinstance(ev, WindowSize):
                self.window = (ev.columns, ev.rows)
                if self.state == SHELL:
                    actions.append(Resize(ev.columns, ev.rows))
            elif isinstance(ev, Command):
                actions += self._command(ev.code)
            elif isinstance(ev, Data):
                actions += self._data(ev.data)
        if self.state == WAIT_TTYPE and not self._awaiting_terminal_type():
            actions += self._start_shell()
        return actions

    def password_checked(self, ok: bool) -> list[Action]:
        if self.state != CHECKING:
            return []
        if ok:
            if self._awaiting_terminal_type():
                self.state = WAIT_TTYPE
                return []
            return self._start_shell()
        self.tries += 1
        self.conn.send(b"\r\nLogin incorrect\r\n")
        if self.tries >= self.max_tries:
            self.state = CLOSED
            return [Close(f"{self.tries} wrong passwords")]
        self.state = REFUSED
        return [Delay(self.fail_delay)]

    def retry(self) -> list[Action]:
        if self.state == REFUSED:
            self.state, self.user = USER, ""
            self._line.clear()
            self.conn.send(f"{self.node} login: ".encode())
        return []

    def give_up_waiting(self) -> list[Action]:
        """The client agreed to TERMINAL-TYPE but never said which: start the shell without it."""
        return self._start_shell() if self.state == WAIT_TTYPE else []

    def shell_output(self, data: bytes) -> None:
        self.conn.send(data)

    # -- inside

    def _awaiting_terminal_type(self) -> bool:
        return self.conn.options.pending(TTYPE) or (self.conn.options.enabled_him(TTYPE) and self.term is None)

    def _start_shell(self) -> list[Action]:
        self.state = SHELL
        actions: list[Action] = [StartShell(self.user, self.term or "network", self.window)]
        if self._typeahead:
            actions.append(ShellInput(bytes(self._typeahead)))
            self._typeahead.clear()
        return actions

    def _command(self, code: int) -> list[Action]:
        if code == AYT:
            self.conn.send(f"\r\n[{self.node}: yes]\r\n".encode())
        elif code == AO:
            self.conn.send_command(DM)  # RFC 854: answer Abort Output with a Synch's Data Mark
        elif self.state == SHELL and code in (IP, BRK, EC, EL):
            return [ShellInput({IP: INTR, BRK: INTR, EC: ERASE, EL: KILL}[code])]
        elif self.state in (USER, PASSWORD):
            if code in (IP, BRK, EL):
                self._line.clear()
                if code != EL:
                    self.conn.send(b"\r\n")
                    self.state = USER
                    self.conn.send(f"{self.node} login: ".encode())
            elif code == EC:
                self._erase()
        return []

    def _data(self, data: bytes) -> list[Action]:
        if self.state == SHELL:
            return [ShellInput(self._cr_lf_as_cr(data))]
        if self.state in (CHECKING, WAIT_TTYPE):
            room = MAX_TYPEAHEAD - len(self._typeahead)
            self._typeahead += self._cr_lf_as_cr(data)[:max(room, 0)]
            return []
        if self.state not in (USER, PASSWORD):
            return []
        actions: list[Action] = []
        for i, b in enumerate(data):
            if self.state not in (USER, PASSWORD):  # a password was typed ahead of the rest
                if self.state == CHECKING:
                    self._typeahead += self._cr_lf_as_cr(data[i:])[:MAX_TYPEAHEAD]
                break
            if b == 0x0A and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = b == 0x0D
            if b in (0x0D, 0x0A):
                actions += self._line_done()
            elif b in (0x08, 0x7F):
                self._erase()
            elif b == 0x15:
                self._line.clear()
            elif b >= 0x20 and len(self._line) < MAX_LINE:
                self._line.append(b)
                if self.state == USER and self.conn.options.enabled_us(ECHO):
                    self.conn.send(bytes([b]))
        return actions

    def _erase(self) -> None:
        if self._line:
            self._line.pop()
            if self.state == USER and self.conn.options.enabled_us(ECHO):
                self.conn.send(b"\b \b")

    def _line_done(self) -> list[Action]:
        line = self._line.decode("utf-8", "replace")
        self._line.clear()
        if self.conn.options.enabled_us(ECHO):
            self.conn.send(b"\r\n")
        if self.state == USER:
            if not line.strip():
                self.conn.send(f"{self.node} login: ".encode())
                return []
            self.user, self.state = line.strip(), PASSWORD
            self.conn.send(b"Password: ")
            return []
        self.state = CHECKING
        return [CheckPassword(self.user, line)]

    def _cr_lf_as_cr(self, data: bytes) -> bytes:
        """The NVT's end of line (CR LF, or CR NUL already made CR) is the Enter key's CR for the pty."""
        if self._after_cr and data[:1] == b"\n":
            data = data[1:]
        self._after_cr = data[-1:] == b"\r"
        return data.replace(b"\r\n", b"\r")
