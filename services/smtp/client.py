"""The SMTP client side: a reply parser (sans-I/O) and one mail transaction over asyncio, used by the delivery
agent to relay to the next hop and by the user agent to submit.

`transfer()` speaks EHLO (HELO when the server does not know EHLO), MAIL FROM with SIZE and BODY when offered,
one RCPT TO per recipient, DATA with dot-stuffing, and QUIT. It returns each recipient's outcome; a failure
of the whole transaction (connection, greeting, MAIL, DATA) raises TransferError with the server's reply, so
the caller can tell a temporary failure (4xx, network) from a permanent one (5xx).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_REPLY_LINES = 100


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class TransferError(Exception):
    def __init__(self, message: str, reply: Reply | None = None):
        super().__init__(message)
        self.reply = reply

    @property
    def permanent(self) -> bool:
        return self.reply is not None and 500 <= self.reply.code < 600


class ReplyParser:
    """Bytes in, complete replies out: `250-first`, `250-second`, `250 last` make one Reply."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._lines: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        self._buf += data
        out: list[Reply] = []
        while (nl := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:nl]).rstrip(b"\r").decode("utf-8", "replace")
            del self._buf[:nl + 1]
            if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()) or (len(line) > 3 and line[3] not in " -"):
                raise TransferError(f"malformed reply line: {line[:80]!r}")
            self._lines.append(line[4:])
            if len(self._lines) > MAX_REPLY_LINES:
                raise TransferError("reply of too many lines")
            if len(line) == 3 or line[3] == " ":
                out.append(Reply(int(line[:3]), tuple(self._lines)))
                self._lines = []
        if len(self._buf) > 4096:
            raise TransferError("reply line too long")
        return out


def dot_stuff(data: bytes) -> bytes:
    """The message as DATA sends it: CRLF-terminated, leading dots doubled (RFC 5321 section 4.5.2)."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.parser = ReplyParser()
        self.replies: list[Reply] = []

    async def reply(self) -> Reply:
        while not self.replies:
            data = await asyncio.wait_for(self.reader.read(65536), self.timeout)
            if not data:
                raise TransferError("connection closed by the server")
            self.replies += self.parser.feed(data)
        return self.replies.pop(0)

    async def command(self, line: str) -> Reply:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()


def _expect(reply: Reply, what: str, *ok: int) -> None:
    if reply.code not in ok:
        raise TransferError(f"{what}: {reply}", reply)


async def transfer(host: str, port: int, helo: str, mail_from: str, rcpts: list[str], data: bytes,
                   timeout: float = 30.0) -> dict[str, Reply]:
    """One mail transaction; returns the RCPT (or, for accepted recipients, the final DATA) reply of each."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as e:
        raise TransferError(f"cannot connect to {host} port {port}: {e.strerror or e}") from None
    conn = _Connection(reader, writer, timeout)
    try:
        _expect(await conn.reply(), "greeting", 220)
        ehlo = await conn.command(f"EHLO {helo}")
        extensions: set[str] = set()
        if ehlo.code == 250:
            extensions = {line.split()[0].upper() for line in ehlo.lines[1:] if line.split()}
        else:
            _expect(await conn.command(f"HELO {helo}"), "HELO", 250)
        params = ""
        if "SIZE" in extensions:
            params += f" SIZE={len(data)}"
        if "8BITMIME" in extensions and any(b > 127 for b in data):
            params += " BODY=8BITMIME"
        _expect(await conn.command(f"MAIL FROM:<{mail_from}>{params}"), "MAIL FROM", 250)
        results: dict[str, Reply] = {}
        for rcpt in rcpts:
            results[rcpt] = await conn.command(f"RCPT TO:<{rcpt}>")
        accepted = [r for r in rcpts if results[r].code in (250, 251)]
        if accepted:
            _expect(await conn.command("DATA"), "DATA", 354)
            conn.writer.write(dot_stuff(data))
            final = await conn.reply()
            for r in accepted:
                results[r] = final
        try:
            await asyncio.wait_for(conn.command("QUIT"), min(timeout, 5.0))
        except (TransferError, OSError, TimeoutError):
            pass  # the message is already accepted or refused; a lost QUIT changes nothing
        return results
    except TimeoutError:
        raise TransferError(f"{host} port {port}: no reply within {timeout:.0f} s") from None
    except OSError as e:
        raise TransferError(f"{host} port {port}: {e.strerror or e}") from None
    finally:
        writer.close()
