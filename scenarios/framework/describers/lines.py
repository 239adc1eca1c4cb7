"""Text protocols of lines (SMTP, FTP's control connection, POP3, HTTP's head, IMAP, ...): a message is a
line ending in CRLF (or LF), or several lines when the protocol says one continues into the next.

    from scenarios.framework.describers.lines import LineProtocol
    DESCRIBER = LineProtocol("smtp", ports=(25, 587), continued=rb"\\d{3}-")   # "250-..." lines go on

`continued` is a regular expression: a server line that matches it (at its start) is not the last of
its reply, as in SMTP's and FTP's multi-line replies (RFC 5321 4.2.1, RFC 959 4.2). A protocol with
other rules (POP3's dot-terminated lists, HTTP's bodies) subclasses LineProtocol and overrides split().
"""

from __future__ import annotations

import re

from ..stream import SERVER, Message
from . import Describer

LABEL_WIDTH = 60  # characters of a message shown on an arrow


def line_ends(data: bytes) -> list[int]:
    """The offset just after each complete line (LF, so CRLF too)."""
    return [m.end() for m in re.finditer(rb"\n", data)]


class LineProtocol(Describer):
    splits = True

    def __init__(self, name: str, ports: tuple[int, ...], continued: bytes | None = None,
                 transports: tuple[str, ...] = ("tcp",)):
        self.name, self.ports, self.transports = name, ports, transports
        self.continued = re.compile(continued) if continued else None

    def split(self, data: bytes, side: str) -> list[int]:
        ends, start = [], 0
        for end in line_ends(data):
            line = data[start:end]
            if not (side == SERVER and self.continued and self.continued.match(line)):
                ends.append(end)
            start = end
        return ends

    def label(self, message: Message) -> str:
        lines = message.text.splitlines() or [""]
        text = lines[-1] if len(lines) > 1 and self.continued else lines[0]  # a reply's last line has its code
        text = "".join(c if c.isprintable() else "." for c in text)
        more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
        cut = text[:LABEL_WIDTH] + ("..." if len(text) > LABEL_WIDTH else "")
        return f"{cut}{more}{'' if message.complete else ' (incomplete)'}"
