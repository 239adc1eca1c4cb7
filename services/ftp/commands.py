"""The FTP control channel's wire format (RFC 959 section 4, RFC 2428): command lines in, reply lines out,
and the host-port arguments of PORT, EPRT, PASV and EPSV. Pure functions, no sockets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_LINE = 4096  # longer than any path a client sends; a line past it is refused, not buffered forever
IAC = 0xFF  # Telnet "interpret as command": clients send IAC IP IAC DM before ABOR (RFC 959 4.1.3)


class CommandError(ValueError):
    """An argument that does not parse; the session answers it with 501."""


@dataclass(frozen=True)
class Command:
    verb: str  # upper case, as RFC 959 says commands are case-insensitive
    arg: str  # everything after the first space, spaces inside kept (file names may hold them)


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @classmethod
    def of(cls, code: int, *lines: str) -> Reply:
        return cls(code, lines or ("",))

    def encode(self) -> bytes:
        """One line `code text`, or the multi-line form `code-first ... code last` (RFC 959 4.2)."""
        # a CR or LF inside a file name must not end the reply early (a client would read a forged code)
        lines = [ln.replace("\r", "").replace("\n", " ") for ln in self.lines]
        if len(lines) == 1:
            return f"{self.code} {lines[0]}\r\n".encode("utf-8", "surrogateescape")
        middle = "".join(f" {ln}\r\n" for ln in lines[1:-1])
        return f"{self.code}-{lines[0]}\r\n{middle}{self.code} {lines[-1]}\r\n".encode("utf-8", "surrogateescape")


def strip_telnet(line: bytes) -> bytes:
    """Drop Telnet commands (IAC x, and IAC IAC as one 0xFF byte) that clients put in front of ABOR."""
    if IAC not in line:
        return line
    out = bytearray()
    i = 0
    while i < len(line):
        if line[i] == IAC and i + 1 < len(line):
            if line[i + 1] == IAC:
                out.append(IAC)
            elif line[i + 1] in (0xFB, 0xFC, 0xFD, 0xFE):  # WILL/WONT/DO/DONT carry one option byte
                i += 1
            i += 2
            continue
        if line[i] != IAC:
            out.append(line[i])
        i += 1
    return bytes(out)


def parse_command(line: bytes) -> Command:
    """A command line without its CRLF: `VERB` or `VERB argument`. Names are UTF-8 (RFC 2640); bytes that
    are not are kept as surrogates so a file with such a name can still be reached."""
    text = strip_telnet(line).decode("utf-8", "surrogateescape").lstrip(" ")
    verb, _, arg = text.partition(" ")
    if not verb.isascii() or not verb.isalpha() or len(verb) > 4:
        raise CommandError(f"'{verb[:20]}' is not a command")
    return Command(verb.upper(), arg)


class LineSplitter:
    """Bytes in, complete command lines out. Lines end in CRLF, but a bare LF is taken too (as every server
    does: some scripts send it). A line longer than MAX_LINE comes out as None, once, and is skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        if data and not self._buf and not self._skipping and data.find(b"\n") == len(data) - 1:
            line = data[:-1].rstrip(b"\r")  # the usual case: one whole command, nothing held
            if len(line) <= MAX_LINE:
                return [line]
        self._buf += data
        lines: list[bytes | None] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    if not self._skipping:
                        lines.append(None)
                    self._skipping = True
                    del self._buf[:]
                return lines
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[: end + 1]
            if self._skipping:
                self._skipping = False
            elif len(line) > MAX_LINE:
                lines.append(None)
            else:
                lines.append(line)


def parse_port(arg: str) -> tuple[str, int]:
    """PORT h1,h2,h3,h4,p1,p2 (RFC 959 4.1.2) -> (address, port)."""
    parts = arg.strip().split(",")
    if len(parts) != 6 or not all(p.strip().isascii() and p.strip().isdigit() and int(p) < 256 for p in parts):
        raise CommandError("PORT needs h1,h2,h3,h4,p1,p2, each 0-255")
    n = [int(p) for p in parts]
    return ".".join(map(str, n[:4])), n[4] * 256 + n[5]


def parse_eprt(arg: str) -> tuple[str, int]:
    """EPRT |proto|address|port| (RFC 2428 section 2), any delimiter character."""
    if len(arg) < 7:
        raise CommandError("EPRT needs |protocol|address|port|")
    delim = arg[0]
    fields = arg.split(delim)
    if len(fields) != 5 or fields[0] or fields[4]:
        raise CommandError("EPRT needs |protocol|address|port|")
    proto, host, port = fields[1:4]
    if proto not in ("1", "2"):
        raise UnsupportedFamily(proto)
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise CommandError(f"EPRT address '{host[:40]}' is not an IP address") from None
    if addr.version != (4 if proto == "1" else 6):
        raise CommandError(f"EPRT protocol {proto} does not match address {host}")
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise CommandError(f"EPRT port '{port[:10]}' is not 1-65535")
    return str(addr), int(port)


class UnsupportedFamily(CommandError):
    """EPRT/EPSV named a network protocol other than 1 (IPv4) or 2 (IPv6): 522 (RFC 2428)."""


def pasv_reply(host: str, port: int) -> Reply:
    h = host.replace(".", ",")
    return Reply.of(227, f"Entering Passive Mode ({h},{port >> 8},{port & 0xFF}).")


def epsv_reply(port: int) -> Reply:
    return Reply.of(229, f"Entering Extended Passive Mode (|||{port}|)")


_PASV = re.compile(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)")
_EPSV = re.compile(r"\((.)\1\1(\d+)\1\)")


def parse_pasv_reply(text: str) -> tuple[str, int]:
    """The client's side: the address and port in a 227 reply (its text format is not fixed: search)."""
    m = _PASV.search(text)
    if m is None:
        raise CommandError(f"no h1,h2,h3,h4,p1,p2 in '{text[:80]}'")
    n = [int(x) for x in m.groups()]
    if any(x > 255 for x in n):
        raise CommandError(f"bad numbers in '{text[:80]}'")
    return ".".join(map(str, n[:4])), n[4] * 256 + n[5]


def parse_epsv_reply(text: str) -> int:
    m = _EPSV.search(text)
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise CommandError(f"no (|||port|) in '{text[:80]}'")
    return int(m.group(2))
