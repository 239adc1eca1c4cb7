"""One SMTP server session (RFC 5321) as a sans-I/O state machine: bytes in, replies and events out.

The shell feeds what the client sent to `receive()` and gets back a list of:
  bytes          a reply to write
  Message        a message whose DATA ended: store it (MailQueue), then call `stored(queue_id)` to get
                 the 250 (or `not_stored()` for a 451); the session parses nothing further until then,
                 so a pipelining client's next commands wait in the buffer
  CLOSE          write what came before, then close the connection
There is one method per command (`smtp_MAIL`, ...), as in aiosmtpd. Limits are RFC 5321's (section 4.5.3):
512 octets a command line, 1000 a text line, 100 recipients a message; SIZE (RFC 1870), PIPELINING
(RFC 2920), 8BITMIME (RFC 6152) and ENHANCEDSTATUSCODES (RFC 2034/3463, only after EHLO) are offered.
Lines end with CRLF: a bare LF in a command gets a 500, and a message holding one is refused, because a
server that took LF as a line end could be made to see a message end where the next hop does not
("SMTP smuggling"). The reply texts after HELO are the course's (K&R section 2.3, Sendmail's wording).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

MAX_COMMAND = 512
MAX_TEXT_LINE = 1000
MAX_RECIPIENTS = 100
MAX_ERRORS = 20
MAX_HOPS = 30  # RFC 5321 section 6.3: a message that has gone through this many relays is looping
CLOSE = object()

# RFC 5321 section 4.1.2: a path is <local@domain>, optionally with an obsolete source route (@a,@b:)
_PATH = re.compile(r"^<(?:@[^:<>]+:)?([^<>@\s]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])>$")
_ARG = re.compile(r"^(FROM|TO):\s*(<[^>]*>)\s*(.*)$", re.IGNORECASE)
_LONG_LINE = re.compile(rb"[^\n]{%d,}" % MAX_TEXT_LINE)  # over 1000 octets with the CRLF


@dataclass
class Envelope:
    mail_from: str                      # "" for the null reverse-path (a bounce)
    rcpt_to: list[str] = field(default_factory=list)
    helo: str = ""
    client: str = ""
    body: str = "7BIT"


@dataclass
class Message:
    envelope: Envelope
    data: bytes                         # wire form, CRLF line ends, un-dot-stuffed, Received: prepended
    queue_id: str


@dataclass
class Policy:
    """What this server accepts: mail for its own domains from anyone; mail for elsewhere (relaying) only
    from clients in relay_networks; users None means any local part of a local domain is accepted."""
    hostname: str
    local_domains: set[str]
    users: set[str] | None = None
    relay_networks: list = field(default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8")])
    max_size: int = 10 * 1024 * 1024

    def is_local(self, domain: str) -> bool:
        return domain.lower() in self.local_domains

    def may_relay(self, client: str) -> bool:
        try:
            ip = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(ip in net for net in self.relay_networks)


def parse_path(text: str) -> tuple[str, str] | None:
    """`<local@domain>` -> (local, domain), or None when malformed or over RFC 5321's lengths."""
    m = _PATH.match(text)
    if not m or len(text) > 256 or len(m.group(1)) > 64 or len(m.group(2)) > 255:
        return None
    return m.group(1), m.group(2)


class SMTPSession:
    def __init__(self, policy: Policy, client: str, *, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16].upper()):
        self.policy, self.client, self.clock, self.new_id = policy, client, clock, new_id
        self.helo: str | None = None
        self.extended = False
        self.envelope: Envelope | None = None
        self.errors = 0
        self.closed = False
        self._buf = bytearray()
        self._discarding = False        # skipping the rest of an over-long command line
        self._in_data = False
        self._data = bytearray()
        self._scanned = 0
        self._oversize = False
        self._pending: Message | None = None

    # --- replies --------------------------------------------------------------------------------------
    def reply(self, code: int, enhanced: str, text: str) -> bytes:
        if self.extended and enhanced:
            text = f"{enhanced} {text}"
        return f"{code} {text}\r\n".encode()

    def greeting(self) -> bytes:
        return f"220 {self.policy.hostname} ESMTP wirelab\r\n".encode()

    def _error(self, code: int, enhanced: str, text: str) -> list:
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            self.closed = True
            return [self.reply(421, "4.7.0", f"{self.policy.hostname} Too many errors, closing connection"),
                    CLOSE]
        return [self.reply(code, enhanced, text)]

    def timeout(self) -> list:
        self.closed = True
        return [self.reply(421, "4.4.2", f"{self.policy.hostname} Error: timeout exceeded"), CLOSE]

    # --- input ----------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> list:
        if self.closed:
            return []
        self._buf += data
        return self._run()

    def _run(self) -> list:
        out: list = []
        while not self.closed and self._pending is None:
            if self._in_data:
                if not self._feed_data(out):
                    break
                continue
            nl = self._buf.find(b"\n")
            if self._discarding:
                if nl < 0:
                    self._buf.clear()
                    break
                del self._buf[:nl + 1]
                self._discarding = False
                continue
            if nl < 0:
                if len(self._buf) > MAX_COMMAND:
                    self._buf.clear()
                    self._discarding = True
                    out += self._error(500, "5.5.2", "Line too long (a command line is at most 512 octets)")
                break
            line = bytes(self._buf[:nl + 1])
            del self._buf[:nl + 1]
            if len(line) > MAX_COMMAND:
                out += self._error(500, "5.5.2", "Line too long (a command line is at most 512 octets)")
            elif not line.endswith(b"\r\n") or b"\r" in line[:-2]:
                out += self._error(500, "5.5.2", "Bare LF or CR received: SMTP lines end with CRLF")
            else:
                out += self._command(line[:-2])
        return out

    def _command(self, line: bytes) -> list:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return self._error(500, "5.5.2", "Syntax error: command line is not ASCII")
        verb, _, arg = text.partition(" ")
        handler = getattr(self, "smtp_" + verb.upper(), None) if verb.isalpha() else None
        if handler is None:
            return self._error(500, "5.5.2", f"Syntax error, command unrecognized: {verb[:20]!r}")
        return handler(arg.strip())

    # --- commands -------------------------------------------------------------------------------------
    def smtp_HELO(self, arg: str) -> list:
        if not arg:
            return self._error(501, "5.5.4", "Syntax: HELO hostname")
        self.helo, self.extended, self.envelope = arg, False, None
        return [self.reply(250, "", f"Hello {arg}, pleased to meet you")]

    def smtp_EHLO(self, arg: str) -> list:
        if not arg:
            return self._error(501, "5.5.4", "Syntax: EHLO hostname")
        self.helo, self.extended, self.envelope = arg, True, None
        lines = [f"{self.policy.hostname} Hello {arg}, pleased to meet you", "PIPELINING",
                 f"SIZE {self.policy.max_size}", "8BITMIME", "ENHANCEDSTATUSCODES", "HELP"]
        return ["".join(f"250{'-' if i < len(lines) - 1 else ' '}{x}\r\n"
                        for i, x in enumerate(lines)).encode()]

    def smtp_MAIL(self, arg: str) -> list:
        if self.helo is None:
            return self._error(503, "5.5.1", "Error: send HELO/EHLO first")
        if self.envelope is not None:
            return self._error(503, "5.5.1", "Error: nested MAIL command")
        m = _ARG.match(arg)
        if not m or m.group(1).upper() != "FROM":
            return self._error(501, "5.5.4", "Syntax: MAIL FROM:<address>")
        path, params = m.group(2), m.group(3)
        if path == "<>":
            sender = ""
        else:
            parsed = parse_path(path)
            if parsed is None:
                return self._error(553, "5.1.7", f"{path[:80]}: Sender address rejected: malformed address")
            sender = f"{parsed[0]}@{parsed[1]}"
        body = "7BIT"
        for param in params.split():
            key, _, value = param.partition("=")
            key = key.upper()
            if key == "SIZE" and value.isascii() and value.isdigit():
                if int(value) > self.policy.max_size:
                    return self._error(552, "5.3.4", "Message size exceeds fixed maximum message size")
            elif key == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
                body = value.upper()
            else:
                return self._error(555, "5.5.4", f"MAIL FROM parameter not recognized: {param[:40]}")
        self.envelope = Envelope(mail_from=sender, helo=self.helo, client=self.client, body=body)
        return [self.reply(250, "2.1.0", f"{sender or '<>'}... Sender ok")]

    def smtp_RCPT(self, arg: str) -> list:
        if self.envelope is None:
            return self._error(503, "5.5.1", "Error: need MAIL command")
        m = _ARG.match(arg)
        if not m or m.group(1).upper() != "TO":
            return self._error(501, "5.5.4", "Syntax: RCPT TO:<address>")
        if m.group(3).strip():
            return self._error(555, "5.5.4", "RCPT TO parameters not recognized")
        path = m.group(2)
        if path.lower() == "<postmaster>" and self.policy.local_domains:
            path = f"<postmaster@{sorted(self.policy.local_domains)[0]}>"
        parsed = parse_path(path)
        if parsed is None:
            return self._error(553, "5.1.3", f"{path[:80]}: Recipient address rejected: malformed address")
        local, domain = parsed
        rcpt = f"{local}@{domain}"
        if len(self.envelope.rcpt_to) >= MAX_RECIPIENTS:
            return [self.reply(452, "4.5.3", "Error: too many recipients")]
        if self.policy.is_local(domain):
            if self.policy.users is not None and local.lower() not in self.policy.users:
                return self._error(550, "5.1.1", f"<{rcpt}>: Recipient address rejected: User unknown")
        elif not self.policy.may_relay(self.client):
            return self._error(554, "5.7.1", f"<{rcpt}>: Relay access denied")
        self.envelope.rcpt_to.append(rcpt)
        return [self.reply(250, "2.1.5", f"{rcpt} ... Recipient ok")]

    def smtp_DATA(self, arg: str) -> list:
        if arg:
            return self._error(501, "5.5.4", "Syntax: DATA (no parameters)")
        if self.envelope is None:
            return self._error(503, "5.5.1", "Error: need MAIL command")
        if not self.envelope.rcpt_to:
            return self._error(554, "5.5.1", "Error: no valid recipients")
        self._in_data, self._oversize, self._scanned = True, False, 0
        self._data = bytearray(b"\r\n")  # the CRLF that ended DATA: lets a "." on the first line end it too
        return [b'354 Enter mail, end with "." on a line by itself\r\n']

    def smtp_RSET(self, arg: str) -> list:
        self.envelope = None
        return [self.reply(250, "2.0.0", "Reset state")]

    def smtp_NOOP(self, arg: str) -> list:
        return [self.reply(250, "2.0.0", "OK")]

    def smtp_VRFY(self, arg: str) -> list:
        if not arg:
            return self._error(501, "5.5.4", "Syntax: VRFY address")
        return [self.reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")]

    def smtp_EXPN(self, arg: str) -> list:
        return self._error(502, "5.5.1", "EXPN command not implemented")

    def smtp_HELP(self, arg: str) -> list:
        return [self.reply(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT")]

    def smtp_QUIT(self, arg: str) -> list:
        self.closed = True
        return [self.reply(221, "2.0.0", f"{self.policy.hostname} closing connection"), CLOSE]

    # --- message content ------------------------------------------------------------------------------
    def _feed_data(self, out: list) -> bool:
        """Move buffered input into the message until CRLF.CRLF; False when more input is needed."""
        self._data += self._buf
        self._buf.clear()
        end = self._data.find(b"\r\n.\r\n", max(0, self._scanned - 4))
        if end < 0:
            self._scanned = len(self._data)
            if len(self._data) > self.policy.max_size + 1024:
                self._oversize = True  # keep only the tail that may hold the start of the end marker
                del self._data[:-4]
                self._scanned = len(self._data)
            return False
        self._buf[:0] = self._data[end + 5:]
        raw = bytes(self._data[:end + 2])  # the sentinel CRLF + the lines, each with its CRLF
        self._data = bytearray()
        self._in_data = False
        envelope, self.envelope = self.envelope, None
        assert envelope is not None
        if self._oversize or len(raw) - 2 > self.policy.max_size:
            out += self._error(552, "5.3.4", "Message size exceeds fixed maximum message size")
            return True
        if raw.count(b"\n") != raw.count(b"\r\n") or raw.count(b"\r") != raw.count(b"\r\n"):
            out += self._error(554, "5.6.0", "Message refused: bare LF or CR in the content (lines end with CRLF)")
            return True
        if _LONG_LINE.search(raw):
            out += self._error(554, "5.6.0", "Message refused: a line is longer than 1000 octets")
            return True
        content = raw.replace(b"\r\n..", b"\r\n.")[2:]
        if content.count(b"\nReceived:", 0, content.find(b"\r\n\r\n") + 1) >= MAX_HOPS - 1:
            out += self._error(554, "5.4.6", f"Too many hops ({MAX_HOPS} Received: lines): mail loop?")
            return True
        qid = self.new_id()
        self._pending = Message(envelope, self.received(envelope, qid) + content, qid)
        out.append(self._pending)
        return True

    def received(self, envelope: Envelope, qid: str) -> bytes:
        """The trace header this hop adds (RFC 5321 section 4.4)."""
        proto = "ESMTP" if self.extended else "SMTP"
        rcpt = f"\r\n\tfor <{envelope.rcpt_to[0]}>" if len(envelope.rcpt_to) == 1 else ""
        helo = re.sub(r"[^\x21-\x7e]", "?", envelope.helo)[:100]
        return (f"Received: from {helo} ([{envelope.client}])\r\n\tby {self.policy.hostname} (wirelab) "
                f"with {proto} id {qid}{rcpt};\r\n\t{formatdate(self.clock(), usegmt=True)}\r\n").encode()

    def stored(self, queue_id: str) -> list:
        """The message is on disk: acknowledge it, then go on with what the client pipelined."""
        self._pending = None
        out = [self.reply(250, "2.0.0", f"Message accepted for delivery (queued as {queue_id})")]
        return out + self._run()

    def not_stored(self) -> list:
        self._pending = None
        out = [self.reply(451, "4.3.0", "Error: queue file write error, try again later")]
        return out + self._run()
