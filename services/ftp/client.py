"""A small FTP client, as in the course's examples: log in, list, get and put files over a control connection
and one data connection per transfer, passive (PASV; EPSV over IPv6) or active (PORT/EPRT: the
client listens and the server connects). Replies are read by ReplyReader, a sans-I/O parser."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Callable
from typing import BinaryIO

from .commands import CommandError, Reply, parse_epsv_reply, parse_pasv_reply

MAX_REPLY_LINES = 10000


class FtpError(Exception):
    """The server refused or the conversation broke; the message is one line."""


class ReplyReader:
    """Bytes in, complete replies out: `ddd text` or `ddd-first ... ddd last` (RFC 959 4.2)."""

    def __init__(self) -> None:
        self._buf = b""
        self._lines: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        self._buf += data
        out = []
        while b"\n" in self._buf:
            raw, self._buf = self._buf.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not self._lines:
                if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()) or line[3:4] not in ("", " ", "-"):
                    raise FtpError(f"not an FTP reply: {line[:80]!r}")
                if line[3:4] != "-":
                    out.append(Reply(int(line[:3]), (line[4:],)))
                    continue
                self._lines = [line]
            else:
                self._lines.append(line)
                if len(self._lines) > MAX_REPLY_LINES:
                    raise FtpError("a reply longer than 10000 lines")
            first = self._lines[0]
            if line.startswith(first[:3] + " ") and len(self._lines) > 1:
                texts = [first[4:], *(ln[1:] if ln.startswith(" ") else ln for ln in self._lines[1:-1]),
                         line[4:]]
                out.append(Reply(int(first[:3]), tuple(texts)))
                self._lines = []
        return out


class FtpClient:
    def __init__(self, host: str, port: int = 21, passive: bool = True, timeout: float = 15.0,
                 echo: Callable[[str], None] | None = None) -> None:
        self.passive = passive
        self.timeout = timeout
        self.echo = echo or (lambda line: None)
        try:
            self.sock = socket.create_connection((host, port), timeout)
        except OSError as e:
            raise FtpError(f"cannot connect to {host} port {port}: {e.strerror or e}") from None
        self.host = self.sock.getpeername()[0]
        self._reader = ReplyReader()
        self._pending: list[Reply] = []
        self.expect(self.reply(), 2)

    # --- the control connection ---------------------------------------------------------------------
    def reply(self) -> Reply:
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                raise FtpError("the server closed the control connection")
            self._pending += self._reader.feed(data)
        r = self._pending.pop(0)
        for line in r.encode().decode("utf-8", "replace").splitlines():
            self.echo("< " + line)
        return r

    def send(self, line: str) -> None:
        self.echo("> " + ("PASS ****" if line.startswith("PASS ") else line))
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def command(self, line: str) -> Reply:
        self.send(line)
        return self.reply()

    @staticmethod
    def expect(r: Reply, first_digit: int) -> Reply:
        if r.code // 100 != first_digit:
            raise FtpError(f"{r.code} {' '.join(r.lines)}")
        return r

    def login(self, user: str, password: str) -> None:
        r = self.command(f"USER {user}")
        if r.code == 331:
            r = self.command(f"PASS {password}")
        self.expect(r, 2)
        self.expect(self.command("TYPE I"), 2)

    def quit(self) -> None:
        try:
            self.command("QUIT")
        finally:
            self.sock.close()

    # --- data connections ---------------------------------------------------------------------------
    def _open_data(self, line: str) -> socket.socket:
        """Set up the data connection, send the transfer command, return the connected data socket."""
        if self.passive:  # PASV over IPv4, as the course shows it; EPSV (RFC 2428) over IPv6
            try:
                if self.sock.family == socket.AF_INET:
                    addr = parse_pasv_reply(self.expect(self.command("PASV"), 2).lines[0])
                else:
                    addr = (self.host, parse_epsv_reply(self.expect(self.command("EPSV"), 2).lines[0]))
            except CommandError as e:
                raise FtpError(str(e)) from None
            data = socket.create_connection(addr, self.timeout)
            try:
                self.expect(self.command(line), 1)
            except BaseException:
                data.close()
                raise
            return data
        local = self.sock.getsockname()[0]
        with socket.create_server((local, 0), family=self.sock.family, backlog=1) as listener:
            listener.settimeout(self.timeout)
            port = listener.getsockname()[1]
            if self.sock.family == socket.AF_INET:
                self.expect(self.command(f"PORT {local.replace('.', ',')},{port >> 8},{port & 255}"), 2)
            else:
                self.expect(self.command(f"EPRT |2|{local}|{port}|"), 2)
            self.expect(self.command(line), 1)
            data, _ = listener.accept()
            data.settimeout(self.timeout)
            return data

    def _finish(self) -> None:
        self.expect(self.reply(), 2)

    def retrieve(self, line: str, out: BinaryIO) -> int:
        total = 0
        with self._open_data(line) as data:
            while chunk := data.recv(1 << 20):
                out.write(chunk)
                total += len(chunk)
        self._finish()
        return total

    def store(self, line: str, src: BinaryIO) -> int:
        total = 0
        with self._open_data(line) as data:
            while chunk := src.read(1 << 20):
                data.sendall(chunk)
                total += len(chunk)
        self._finish()
        return total

    def list(self, path: str = "") -> str:
        buf = io.BytesIO()
        self.retrieve(f"LIST {path}".rstrip(), buf)
        return buf.getvalue().decode("utf-8", "replace")

    def get(self, remote: str, out: BinaryIO) -> int:
        return self.retrieve(f"RETR {remote}", out)

    def put(self, src: BinaryIO, remote: str) -> int:
        return self.store(f"STOR {remote}", src)


def run(host: str, port: int, user: str, password: str, passive: bool, action: list[str],
        quiet: bool = False) -> None:
    """The `client` command: one action (ls, get, put) after logging in."""
    echo = None if quiet else (lambda line: print(line, file=sys.stderr))
    client = FtpClient(host, port, passive=passive, echo=echo)
    try:
        client.login(user, password)
        verb, args = action[0], action[1:]
        if verb == "ls":
            sys.stdout.write(client.list(args[0] if args else ""))
        elif verb == "get":
            local = args[1] if len(args) > 1 else args[0].rsplit("/", 1)[-1]
            if local == "-":
                client.get(args[0], sys.stdout.buffer)
            else:
                with open(local, "wb") as f:
                    client.get(args[0], f)
        elif verb == "put":
            remote = args[1] if len(args) > 1 else args[0].rsplit("/", 1)[-1]
            with open(args[0], "rb") as f:
                client.put(f, remote)
    finally:
        try:
            client.quit()
        except (FtpError, OSError):
            pass
