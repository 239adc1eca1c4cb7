"""One FTP control connection as a state machine (RFC 959, 2428, 3659, 2389): command bytes in, events out.

The session never touches the network or a clock: it asks its shell to open a passive listener, to run a
transfer, to pause (the failed-login delay) or to close, and is told how that went. It does read and
change the user's files, through their Jail (files.py), as pyftpdlib's handlers do through its
abstracted filesystem; what it asks of its shell is in events.py. Commands that arrive during a transfer wait their turn, except ABOR and STAT (RFC 959 4.1.3).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .accounts import Account, Accounts
from .commands import (
    CommandError,
    LineSplitter,
    Reply,
    UnsupportedFamily,
    epsv_reply,
    parse_command,
    parse_eprt,
    parse_port,
    pasv_reply,
)
from .events import Abort, Close, ClosePassive, Event, Limits, OpenPassive, Pause, Transfer
from .files import FileCommands
from .jail import ALL_FACTS, Jail, OutsideJail

FEATURES = ("EPRT", "EPSV", "MDTM", "MLST type*;size*;modify*;perm*;unix.mode;", "REST STREAM", "SIZE", "TVFS",
            "UTF8")
NO_LOGIN = {"USER", "PASS", "ACCT", "QUIT", "REIN", "NOOP", "FEAT", "OPTS", "SYST", "HELP", "ABOR"}
NOT_IMPLEMENTED = {"AUTH", "PBSZ", "PROT", "CCC", "SMNT", "LPRT", "LPSV", "ADAT", "MIC", "CONF", "ENC"}
NEEDS_ARG = {"USER", "CWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "SIZE", "MDTM", "RETR", "STOR", "APPE", "REST",
             "PORT", "EPRT", "TYPE", "MODE", "STRU", "OPTS"}


@dataclass
class Session(FileCommands):
    accounts: Accounts
    peer: str  # the client's address, as the control connection shows it
    local: str  # the server's address on this connection (the passive listener's address)
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._lines = LineSplitter()
        self._queue: deque[bytes | None] = deque()
        self._reset_login()
        self.failures = 0
        self.closed = False
        self.transferring = False
        self._abort_pending = False
        self._waiting_passive = False
        self._extended = False
        self.mlst_facts: tuple[str, ...] = ("type", "size", "modify", "perm")

    def _reset_login(self) -> None:
        self.account: Account | None = None
        self.jail: Jail | None = None
        self._user: str | None = None
        self.cwd = "/"
        self.ascii = False
        self.rest = 0
        self._rnfr: Path | None = None
        self._data: tuple[str, int] | int | None = None  # (host, port) active; a port passive; None unset
        self._epsv_all = False

    # --- what the shell calls -------------------------------------------------------------------------
    def start(self) -> list[Event]:
        return [Reply.of(220, self.limits.banner)]

    def receive(self, data: bytes) -> list[Event]:
        self._queue.extend(self._lines.feed(data))
        return self._run()

    def passive_listening(self, port: int) -> list[Event]:
        self._waiting_passive = False
        self._data = port
        reply = epsv_reply(port) if self._extended else pasv_reply(self.local, port)
        return [reply, *self._run()]

    def passive_failed(self) -> list[Event]:
        self._waiting_passive = False
        return [Reply.of(425, "No passive port free; try again or use PORT."), *self._run()]

    def transfer_done(self, kind: str = "file") -> list[Event]:
        return self._finish(Reply.of(226, "Directory send OK." if kind == "list" else "Transfer complete."))

    def transfer_failed(self, code: int, why: str) -> list[Event]:
        """425 (no data connection), 426 (it broke), 451 (local error), 452 (disk full)."""
        return self._finish(Reply.of(code, why))

    def transfer_aborted(self) -> list[Event]:
        return self._finish(Reply.of(426, "Connection closed; transfer aborted."))

    def timed_out(self) -> list[Event]:
        self.closed = True
        return [Reply.of(421, "Timeout: no command for too long; closing control connection."), Close()]

    def shutting_down(self) -> list[Event]:
        self.closed = True
        return [Reply.of(421, "Service not available, closing control connection."), Close()]

    @property
    def held(self) -> deque[bytes | None]:
        """Command lines received and not yet answered (they wait while a transfer runs)."""
        return self._queue

    # --- the queue ------------------------------------------------------------------------------------
    def _finish(self, *replies: Reply) -> list[Event]:
        if self._abort_pending:  # RFC 959 ABOR: 226 once the transfer is over, however it ended
            replies = (*replies, Reply.of(226, "ABOR successful; data connection closed."))
        self._abort_pending = False
        self.transferring = False
        self._data = None
        self.rest = 0
        return [*replies, *self._run()]

    def _run(self) -> list[Event]:
        out: list[Event] = []
        while self._queue and not self.closed and not self._waiting_passive:
            if self.transferring:
                urgent = self._peek_urgent()
                if urgent is None:
                    break
                out += urgent
                continue
            out += self._line(self._queue.popleft())
        return out

    def _peek_urgent(self) -> list[Event] | None:
        """The first ABOR or STAT waiting, taken out of turn (a client sends ABOR while others wait)."""
        for i, line in enumerate(self._queue):
            try:
                verb = parse_command(line).verb if line is not None else None
            except CommandError:
                continue
            if verb in ("ABOR", "STAT"):
                del self._queue[i]
                if verb == "STAT":
                    return [Reply.of(211, "Transfer in progress.")]
                self._abort_pending = True
                return [Abort()]
        return None

    def _line(self, line: bytes | None) -> list[Event]:
        if line is None:
            return [Reply.of(500, "Command line too long.")]
        if not line.strip():
            return []  # some clients send an empty line as a keep-alive; RFC-wise nothing to answer
        try:
            cmd = parse_command(line)
        except CommandError as e:
            return [Reply.of(500, f"{e}.")]
        handler = getattr(self, f"_cmd_{cmd.verb.lower()}", None)
        if cmd.verb in NOT_IMPLEMENTED:
            return [Reply.of(502, f"{cmd.verb} not implemented.")]
        if handler is None:
            return [Reply.of(500, f"Unknown command '{cmd.verb}'.")]
        if self.account is None and cmd.verb not in NO_LOGIN:
            return [Reply.of(530, "Please login with USER and PASS.")]
        if cmd.verb in NEEDS_ARG and not cmd.arg.strip():
            return [Reply.of(501, f"{cmd.verb} needs an argument.")]
        try:
            events = handler(cmd.arg)
        except CommandError as e:
            events = [Reply.of(501, f"{e}.")]
        except OutsideJail:
            events = [Reply.of(550, "No such file or directory.")]
        except OSError as e:
            events = [Reply.of(550, f"{e.strerror or 'Failed'}.")]
        # REST and RNFR hold only for the command right after them (a transfer has taken its offset)
        if cmd.verb != "REST":
            self.rest = 0
        if cmd.verb != "RNFR":
            self._rnfr = None
        return events

    # --- access control -------------------------------------------------------------------------------
    def _cmd_user(self, arg: str) -> list[Event]:
        events: list[Event] = []
        if self.account is not None:  # a new login: nothing of the old one's stays (RFC 959 USER)
            self._reset_login()
            events.append(ClosePassive())
        self._user = arg
        return events + self._user_reply(arg)

    def _user_reply(self, arg: str) -> list[Event]:
        if arg.lower() in ("anonymous", "ftp"):
            if self.accounts.anonymous is None:
                self._user = None
                return [Reply.of(530, "Anonymous login is not allowed here.")]
            return [Reply.of(331, "Anonymous login ok, send your e-mail address as password.")]
        return [Reply.of(331, f"Password required for {arg}.")]

    def _cmd_pass(self, arg: str) -> list[Event]:
        if self.account is not None:
            return [Reply.of(503, "Already logged in.")]
        if self._user is None:
            return [Reply.of(503, "Login with USER first.")]
        account = self.accounts.check(self._user, arg)
        self._user = None
        if account is None:
            self.failures += 1
            if self.failures >= self.limits.login_failures:
                self.closed = True
                return [Pause(self.limits.failure_delay),
                        Reply.of(421, "Too many failed logins; closing control connection."), Close()]
            return [Pause(self.limits.failure_delay), Reply.of(530, "Login incorrect.")]
        self.account = account
        self.jail = Jail(account.home, account.writable)
        return [Reply.of(230, "Login successful.")]

    def _cmd_acct(self, arg: str) -> list[Event]:
        return [Reply.of(202, "ACCT not needed here.")]

    def _cmd_rein(self, arg: str) -> list[Event]:
        self._reset_login()
        return [ClosePassive(), Reply.of(220, "Ready for a new user.")]

    def _cmd_quit(self, arg: str) -> list[Event]:
        self.closed = True
        return [Reply.of(221, "Goodbye."), Close()]

    # --- information ----------------------------------------------------------------------------------
    def _cmd_noop(self, arg: str) -> list[Event]:
        return [Reply.of(200, "NOOP ok.")]

    def _cmd_syst(self, arg: str) -> list[Event]:
        return [Reply.of(215, "UNIX Type: L8")]

    def _cmd_feat(self, arg: str) -> list[Event]:
        return [Reply(211, ("Features:", *FEATURES, "End"))]

    def _cmd_help(self, arg: str) -> list[Event]:
        verbs = sorted(v[5:].upper() for v in dir(self) if v.startswith("_cmd_"))
        rows = [" ".join(f"{v:<5}" for v in verbs[i:i + 10]) for i in range(0, len(verbs), 10)]
        return [Reply(214, ("The following commands are recognized:", *rows, "Help OK."))]

    def _cmd_site(self, arg: str) -> list[Event]:
        if arg.strip().upper() == "HELP":
            return [Reply.of(214, "No SITE commands here.")]
        return [Reply.of(202, "SITE commands are not offered here.")]

    def _cmd_opts(self, arg: str) -> list[Event]:
        name, _, value = arg.strip().partition(" ")
        if name.upper() == "UTF8" and value.upper() in ("ON", ""):
            return [Reply.of(200, "Always in UTF8 mode.")]
        if name.upper() == "MLST":
            wanted = tuple(f for f in ALL_FACTS if f in {x.lower() for x in value.split(";") if x})
            self.mlst_facts = wanted
            return [Reply.of(200, "MLST OPTS " + "".join(f"{f};" for f in wanted))]
        return [Reply.of(501, f"Option '{name[:20]}' not understood.")]

    def _cmd_stat(self, arg: str) -> list[Event]:
        if not arg.strip():
            data = "passive" if isinstance(self._data, int) else "active" if self._data else "not set up"
            return [Reply(211, ("FTP server status:", f"Connected from {self.peer}",
                                f"Logged in as {self.account.name}" if self.account else "Not logged in",
                                f"TYPE: {'ASCII' if self.ascii else 'BINARY'}; data connection {data}",
                                "End of status"))]
        lines = self._list_lines(self._path_arg(arg))
        return [Reply(213, ("Status follows:", *lines, "End of status"))]

    # --- parameters -----------------------------------------------------------------------------------
    def _cmd_type(self, arg: str) -> list[Event]:
        words = arg.upper().split()
        if words in (["A"], ["A", "N"]):
            self.ascii = True
            return [Reply.of(200, "Switching to ASCII mode.")]
        if words in (["I"], ["L", "8"]):
            self.ascii = False
            return [Reply.of(200, "Switching to Binary mode.")]
        if words and words[0] in ("A", "E", "L"):
            return [Reply.of(504, f"TYPE {arg.strip()} not implemented; use A or I.")]
        return [Reply.of(501, f"Unknown TYPE '{arg.strip()[:10]}'.")]

    def _cmd_mode(self, arg: str) -> list[Event]:
        return self._only("MODE", arg, "S", ("B", "C"))

    def _cmd_stru(self, arg: str) -> list[Event]:
        return self._only("STRU", arg, "F", ("R", "P"))

    def _only(self, verb: str, arg: str, supported: str, known: tuple[str, ...]) -> list[Event]:
        v = arg.strip().upper()
        if v == supported:
            return [Reply.of(200, f"{verb} set to {supported}.")]
        if v in known:
            return [Reply.of(504, f"{verb} {v} not implemented; only {supported}.")]
        return [Reply.of(501, f"Unknown {verb} '{v[:10]}'.")]

    def _cmd_allo(self, arg: str) -> list[Event]:
        return [Reply.of(202, "ALLO not needed here.")]

    def _cmd_rest(self, arg: str) -> list[Event]:
        if not (arg.strip().isascii() and arg.strip().isdigit()):
            return [Reply.of(501, "REST needs a byte offset.")]
        self.rest = int(arg.strip())
        return [Reply.of(350, f"Restarting at {self.rest}. Send STOR or RETR to go on.")]

    # --- data connection set-up -----------------------------------------------------------------------
    def _active(self, verb: str, target: tuple[str, int]) -> list[Event]:
        if self._epsv_all:
            return [Reply.of(503, f"{verb} not allowed after EPSV ALL.")]
        host, port = target
        # no FTP bounce (RFC 2577): data goes only back to the client, and never to a privileged port
        if host != self.peer:
            return [Reply.of(504, f"{verb} refused: data connections go only to the client's own address.")]
        if port < 1024:
            return [Reply.of(504, f"{verb} refused: no data connections to privileged ports.")]
        self._data = target
        return [ClosePassive(), Reply.of(200, f"{verb} command successful. Consider using EPSV.")]

    def _cmd_port(self, arg: str) -> list[Event]:
        if ":" in self.peer:
            return [Reply.of(522, "Use EPRT on an IPv6 connection (2).")]
        return self._active("PORT", parse_port(arg))

    def _cmd_eprt(self, arg: str) -> list[Event]:
        try:
            target = parse_eprt(arg.strip())
        except UnsupportedFamily:
            return [Reply.of(522, "Network protocol not supported, use (1,2).")]
        return self._active("EPRT", target)

    def _cmd_pasv(self, arg: str) -> list[Event]:
        if self._epsv_all:
            return [Reply.of(503, "PASV not allowed after EPSV ALL.")]
        if ":" in self.local:
            return [Reply.of(522, "PASV is IPv4 only; use EPSV (2).")]
        return self._passive(extended=False)

    def _cmd_epsv(self, arg: str) -> list[Event]:
        a = arg.strip().upper()
        if a == "ALL":
            self._epsv_all = True
            return [Reply.of(200, "EPSV ALL ok.")]
        family = "2" if ":" in self.local else "1"
        if a and a != family:
            return [Reply.of(522, f"Network protocol not supported, use ({family}).")]
        return self._passive(extended=True)

    def _passive(self, extended: bool) -> list[Event]:
        self._extended = extended
        self._waiting_passive = True
        self._data = None
        return [ClosePassive(), OpenPassive(extended)]

    # --- transfers ------------------------------------------------------------------------------------
    def _need_data(self) -> list[Event] | None:
        if self._data is None:
            return [Reply.of(425, "Use PORT, EPRT, PASV or EPSV first.")]
        return None

    def _transfer(self, t: Transfer) -> list[Event]:
        active = self._data if isinstance(self._data, tuple) else None
        self.transferring = True
        return [Transfer(t.kind, t.opening, t.path, t.listing, t.offset, t.ascii, active)]

    def _mode(self) -> str:
        return "ASCII" if self.ascii else "BINARY"

    def _cmd_retr(self, arg: str) -> list[Event]:
        found = self._file(arg)
        if found is None:
            return [Reply.of(550, "Failed to open file.")]
        real, st = found
        if not os.access(real, os.R_OK):
            return [Reply.of(550, "Permission denied.")]
        if (blocked := self._need_data()) is not None:
            return blocked
        name = os.path.basename(self._path_arg(arg))
        opening = Reply.of(150, f"Opening {self._mode()} mode data connection for {name} ({st.st_size} bytes).")
        return self._transfer(Transfer("retr", opening, real, offset=self.rest, ascii=self.ascii))

    def _store(self, kind: str, vpath: str) -> list[Event]:
        if denied := self._writable():
            return denied
        try:
            real = self.jail.real(vpath)
        except OutsideJail:
            return [Reply.of(553, "File name not allowed.")]
        if real.is_dir() or not real.parent.is_dir():
            return [Reply.of(553, "Could not create file.")]
        if (blocked := self._need_data()) is not None:
            return blocked
        name = os.path.basename(vpath)
        text = f"FILE: {name}" if kind == "stou" else f"Ok to send data for {name}."
        return self._transfer(Transfer(kind, Reply.of(150, text), real, offset=self.rest if kind == "stor" else 0,
                                       ascii=self.ascii))

    def _cmd_stor(self, arg: str) -> list[Event]:
        return self._store("stor", self._path_arg(arg))

    def _cmd_appe(self, arg: str) -> list[Event]:
        return self._store("appe", self._path_arg(arg))

    def _cmd_stou(self, arg: str) -> list[Event]:
        base = self._path_arg(arg.strip() or "file")
        for n in range(1000):
            vpath = base if n == 0 and arg.strip() else f"{base}.{n}"
            if not os.path.lexists(self.jail.real(vpath)):
                return self._store("stou", vpath)
        return [Reply.of(450, "No unique name free.")]

    def _cmd_abor(self, arg: str) -> list[Event]:
        # no transfer runs (one that does is aborted from _peek_urgent): RFC 959 allows 225 here
        self._data = None
        return [ClosePassive(), Reply.of(225, "No transfer to abort.")]
