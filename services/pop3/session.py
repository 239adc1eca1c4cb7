"""One POP3 server session (RFC 1939, CAPA from RFC 2449) as a sans-I/O state machine: bytes in, replies out.

AUTHORIZATION (USER, PASS), then TRANSACTION (STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL), then UPDATE
on QUIT only: deletions are marks until then, so a connection that drops deletes nothing. The mailbox comes
from an injected store (services.mail.maildrop) and is locked while the session holds it. Multi-line replies
end with "." and have lines starting with "." doubled (byte-stuffing).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Protocol

MAX_LINE = 255  # RFC 2449: a command line is at most 255 octets
MAX_ERRORS = 20
CLOSE = object()


class Mailbox(Protocol):
    messages: list   # items with .uid and .size

    def read(self, index: int) -> bytes: ...
    def commit(self, deleted: set[int]) -> int: ...
    def close(self) -> None: ...


def stuff(data: bytes) -> bytes:
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    out = data.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out + b".\r\n"


class POP3Session:
    def __init__(self, check_password: Callable[[str, str], bool], open_mailbox: Callable[[str], Mailbox | None],
                 hostname: str = "localhost"):
        self.check_password, self.open_mailbox, self.hostname = check_password, open_mailbox, hostname
        self.user: str | None = None
        self.mailbox: Mailbox | None = None
        self.deleted: set[int] = set()
        self.errors = 0
        self.closed = False
        self._buf = bytearray()
        self._discarding = False

    def greeting(self) -> bytes:
        return b"+OK POP3 server ready\r\n"

    def _err(self, text: str) -> list:
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            return [b"-ERR too many errors, closing connection\r\n", *self.abort()]
        return [f"-ERR {text}\r\n".encode()]

    def abort(self) -> list:
        """The connection ends without QUIT (or timed out): release the mailbox, delete nothing."""
        self.closed = True
        if self.mailbox is not None:
            self.mailbox.close()
            self.mailbox = None
        return [CLOSE]

    def receive(self, data: bytes) -> list:
        if self.closed:
            return []
        self._buf += data
        out: list = []
        while not self.closed:
            nl = self._buf.find(b"\n")
            if self._discarding:
                if nl < 0:
                    self._buf.clear()
                    break
                del self._buf[:nl + 1]
                self._discarding = False
                continue
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self._discarding = True
                    out += self._err("line too long (at most 255 octets)")
                break
            line = bytes(self._buf[:nl + 1]).rstrip(b"\r\n")
            del self._buf[:nl + 1]
            if nl + 1 > MAX_LINE:
                out += self._err("line too long (at most 255 octets)")
                continue
            out += self._command(line)
        return out

    def _command(self, line: bytes) -> list:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return self._err("command is not ASCII")
        verb, _, arg = text.partition(" ")
        verb = verb.upper()
        if verb in ("CAPA", "QUIT", "USER", "PASS", "NOOP"):
            return getattr(self, "pop_" + verb)(arg)
        if verb in ("STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL"):
            if self.mailbox is None:
                return self._err(f"{verb} only after login (USER and PASS)")
            return getattr(self, "pop_" + verb)(arg.strip())
        return self._err(f"unknown command {verb[:20]!r}")

    # --- AUTHORIZATION --------------------------------------------------------------------------------
    def pop_CAPA(self, arg: str) -> list:
        return [b"+OK Capability list follows\r\nUSER\r\nTOP\r\nUIDL\r\nPIPELINING\r\n"
                b"RESP-CODES\r\nIMPLEMENTATION wirelab\r\n.\r\n"]

    def pop_USER(self, arg: str) -> list:
        if self.mailbox is not None:
            return self._err("already logged in")
        if not arg.strip():
            return self._err("usage: USER name")
        self.user = arg.strip().lower()
        return [b"+OK\r\n"]

    def pop_PASS(self, arg: str) -> list:
        if self.mailbox is not None:
            return self._err("already logged in")
        if self.user is None:
            return self._err("USER first")
        user, self.user = self.user, None
        if not self.check_password(user, arg):
            return self._err("[AUTH] invalid user name or password")
        box = self.open_mailbox(user)
        if box is None:
            return self._err("[IN-USE] mailbox locked by another session")
        self.mailbox, self.deleted = box, set()
        return [b"+OK user successfully logged on\r\n"]

    def pop_NOOP(self, arg: str) -> list:
        return [b"+OK\r\n"]

    def pop_QUIT(self, arg: str) -> list:
        self.closed = True
        if self.mailbox is None:
            return [f"+OK {self.hostname} POP3 server signing off\r\n".encode(), CLOSE]
        failed = self.mailbox.commit(self.deleted)  # the UPDATE state
        self.mailbox.close()
        self.mailbox = None
        if failed:
            return [f"-ERR [SYS/TEMP] {failed} message(s) not removed\r\n".encode(), CLOSE]
        return [b"+OK POP3 server signing off\r\n", CLOSE]

    # --- TRANSACTION ----------------------------------------------------------------------------------
    def _msg(self, arg: str) -> int | None:
        if not (arg.isascii() and arg.isdigit()):
            return None
        i = int(arg) - 1
        if 0 <= i < len(self.mailbox.messages) and i not in self.deleted:
            return i
        return None

    def pop_STAT(self, arg: str) -> list:
        live = [m for i, m in enumerate(self.mailbox.messages) if i not in self.deleted]
        return [f"+OK {len(live)} {sum(m.size for m in live)}\r\n".encode()]

    def _listing(self, arg: str, field: Callable) -> list:
        if arg:
            i = self._msg(arg)
            if i is None:
                return self._err("no such message")
            return [f"+OK {i + 1} {field(self.mailbox.messages[i])}\r\n".encode()]
        lines = "".join(f"{i + 1} {field(m)}\r\n" for i, m in enumerate(self.mailbox.messages)
                        if i not in self.deleted)
        return [f"+OK\r\n{lines}.\r\n".encode()]

    def pop_LIST(self, arg: str) -> list:
        return self._listing(arg, lambda m: m.size)

    def pop_UIDL(self, arg: str) -> list:
        return self._listing(arg, lambda m: m.uid)

    def pop_RETR(self, arg: str) -> list:
        i = self._msg(arg)
        if i is None:
            return self._err("no such message")
        data = self.mailbox.read(i)
        return [f"+OK {len(data)} octets\r\n".encode() + stuff(data)]

    def pop_TOP(self, arg: str) -> list:
        parts = arg.split()
        if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
            return self._err("usage: TOP msg lines")
        i = self._msg(parts[0])
        if i is None:
            return self._err("no such message")
        data = self.mailbox.read(i)
        head, sep, body = data.partition(b"\r\n\r\n")
        keep = b"".join(body.splitlines(keepends=True)[:int(parts[1])])
        return [b"+OK\r\n" + stuff(head + sep + keep if sep else head)]

    def pop_DELE(self, arg: str) -> list:
        i = self._msg(arg)
        if i is None:
            return self._err("no such message")
        self.deleted.add(i)
        return [f"+OK message {i + 1} deleted\r\n".encode()]

    def pop_RSET(self, arg: str) -> list:
        self.deleted = set()
        return [f"+OK maildrop has {len(self.mailbox.messages)} messages\r\n".encode()]


def password_checker(accounts: dict[str, str]) -> Callable[[str, str], bool]:
    def check(user: str, password: str) -> bool:
        return user in accounts and hmac.compare_digest(accounts[user].encode(), password.encode())
    return check
