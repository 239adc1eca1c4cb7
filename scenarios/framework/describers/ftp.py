"""FTP (RFC 959): the control connection on port 21 as command lines and replies (a multi-line reply runs
from `ddd-` to the line starting `ddd `, whatever the lines between say), data connections from port 20
named as such, and `DataConnection`: the claim that a file crossed its own data connection, opened the
way the control connection arranged (active: by the server, from port 20, to the port PORT named;
passive: by the client, to the port the 227 or 229 reply named)."""

from __future__ import annotations

import re

from scapy.layers.inet import TCP
from scapy.packet import Packet

from services.ftp.commands import CommandError, parse_eprt, parse_epsv_reply, parse_pasv_reply, parse_port

from ..assertions import SHOWN, Assertion, Outcome
from ..dialogue import conversations
from ..frames import Traffic
from ..match import Endpoint, ip_of, who
from ..stream import CLIENT, SERVER, Message
from .lines import LineProtocol, line_ends

CONTROL, ACTIVE_DATA = 21, 20
_FIRST = re.compile(rb"(\d{3})-")


class Ftp(LineProtocol):
    def __init__(self) -> None:
        super().__init__("ftp", ports=(CONTROL,), continued=rb"\d{3}-")

    def split(self, data: bytes, side: str) -> list[int]:
        if side == CLIENT:
            return line_ends(data)
        ends, start, code = [], 0, None
        for end in line_ends(data):
            line = data[start:end]
            if code is None and (m := _FIRST.match(line)):
                code = m.group(1)
            elif code is None or line.startswith(code + b" "):
                ends.append(end)
                code = None
            start = end
        return ends

    def recognizes(self, pkt: Packet) -> bool:
        # segments with bytes only: a bare SYN or ACK reads better as TCP flags on a ladder
        return TCP in pkt and len(pkt[TCP].payload) > 0 and (CONTROL in (pkt[TCP].sport, pkt[TCP].dport)
                                                             or pkt[TCP].sport == ACTIVE_DATA)

    def summary(self, pkt: Packet) -> str:
        t = pkt[TCP]
        if CONTROL in (t.sport, t.dport):
            line = bytes(t.payload).split(b"\r\n", 1)[0].decode("utf-8", "replace")
            return f"FTP {''.join(c if c.isprintable() else '.' for c in line)[:60]}"
        return f"FTP-DATA {len(t.payload)} bytes"


DESCRIBER = Ftp()


def data_port(msgs: list[Message], mode: str) -> tuple[int, Message] | None:
    """The data port the control connection arranged: the last PORT/EPRT (active) before a transfer, or
    the last 227/229 reply (passive)."""
    found = None
    for m in msgs:
        line = m.text.split("\r\n")[0]
        try:
            if mode == "active" and m.side == CLIENT and line[:5].upper() in ("PORT ", "EPRT "):
                parse = parse_port if line[:4].upper() == "PORT" else parse_eprt
                found = (parse(line[5:].strip())[1], m)
            elif mode == "passive" and m.side == SERVER and line[:4] in ("227 ", "229 "):
                port = parse_pasv_reply(line)[1] if line.startswith("227") else parse_epsv_reply(line)
                found = (port, m)
        except CommandError:
            continue
    return found


class DataConnection(Assertion):
    """A file's bytes cross a data connection of their own, opened as the control connection arranged,
    closed at the end of the file, before the control connection's 226 (RFC 959 3.2, 3.3)."""

    def __init__(self, capture: str, client: Endpoint, server: Endpoint, mode: str, content: bytes, text: str, *,
                 after: str | None = None, before: str | None = None):
        if mode not in ("active", "passive"):
            raise ValueError("DataConnection: mode is 'active' or 'passive'")
        self.capture, self.client, self.server, self.mode, self.content = capture, client, server, mode, content
        self.text, self.after, self.before = text, after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        controls = conversations(traffic, self.capture, self.client, self.server, CONTROL, "tcp", self.after,
                                 self.before)
        if not controls:
            return self._fail(f"expected a control connection {who(self.client)} > {who(self.server)}:21; saw none")
        msgs = controls[-1].messages(DESCRIBER)
        arranged = data_port(msgs, self.mode)
        if arranged is None:
            said = "PORT or EPRT" if self.mode == "active" else "a 227 or 229 reply"
            return self._fail(f"expected {said} on the control connection; saw none", controls[-1].frames)
        port, _ = arranged
        c, s = ip_of(self.client), ip_of(self.server)
        every = traffic.connections(self.capture, self.after, self.before)
        if self.mode == "active":
            opener, acceptor, want = (s, ACTIVE_DATA), (c, port), f"{who(self.server)}:20 > {who(self.client)}:{port}"
        else:
            opener, acceptor, want = (c, None), (s, port), f"{who(self.client)} > {who(self.server)}:{port}"
        data = [x for x in every if x.client.ip == opener[0] and (opener[1] is None or x.client.port == opener[1])
                and x.server.ip == acceptor[0] and x.server.port == acceptor[1] and x.handshake]
        if not data:
            near = [str(x) for x in every if {x.client.ip, x.server.ip} == {c, s} and CONTROL not in
                    (x.client.port, x.server.port)]
            return self._fail(f"expected a data connection {want} with a whole handshake; saw "
                              f"{', '.join(near[:4]) or 'none'}", [f for x in every for f in x.frames[:2]])
        conn = data[0]
        flow = conn.up if self.mode == "active" else conn.down  # from the server, whoever opened it
        if flow.data != self.content:
            return self._fail(f"the data connection {conn} carried {len(flow.data)} bytes, not the file's "
                              f"{len(self.content)}", conn.frames)
        if flow.fin is None:
            return self._fail(f"the server never closed the data connection {conn} (no FIN)", conn.frames)
        done = next((m for m in msgs if m.side == SERVER and m.text.startswith("226") and m.time >= flow.fin.time),
                    None)
        if done is None:
            return self._fail(f"no 226 on the control connection after the data connection's FIN ({conn})",
                              conn.frames)
        if self.mode == "passive":
            out = [x for x in every if x.client.ip == s and x.server.ip == c]
            if out:
                return self._fail(f"the server connected out to the client: {', '.join(map(str, out[:4]))}",
                                  [x.syn or x.frames[0] for x in out])
        frames = [conn.syn, conn.syn_ack, *flow.frames[:3], flow.fin, *done.frames]
        return Outcome(self.text, True, f"{len(flow.data)} bytes on {conn}, FIN, then 226",
                       [f for f in frames if f is not None][:SHOWN], self.capture)

    def _fail(self, why: str, frames: list | None = None) -> Outcome:
        return Outcome(self.text, False, why, (frames or [])[:SHOWN], self.capture)

