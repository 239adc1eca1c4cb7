"""Telnet (RFC 854): a connection to port 23 cut into its commands and its lines. Every IAC command is a
message of its own (IAC DO 24, IAC SB 24 1 IAC SE, ...), so a ladder shows the negotiation command by
command with the side that sent each; the data between them is cut into lines."""

from __future__ import annotations

import re

from scapy.layers.inet import TCP
from scapy.packet import Packet

from services.telnet.codes import IAC, SB, SE, TTYPE, TTYPE_IS, TTYPE_SEND, VERBS, command_name, option_name

from ..stream import Message
from . import Describer

PORT = 23
LABEL_WIDTH = 60
# A prompt ends a message though no newline follows it: the user answers on the same line, and the prompt
# (not the line end sent after the answer) is what the answer follows.
PROMPT = re.compile(rb"(?:login: |[Pp]assword: |[$#] )$")


def _command_end(data: bytes, i: int) -> int | None:
    """Where the IAC command at i ends, or None if the bytes end first."""
    if i + 1 >= len(data):
        return None
    code = data[i + 1]
    if code in VERBS:
        return i + 3 if i + 3 <= len(data) else None
    if code == SB:
        k = i + 3
        while k + 1 < len(data):
            if data[k] == IAC:
                if data[k + 1] == SE:
                    return k + 2
                k += 2  # IAC IAC inside, or a malformed command: either way two bytes
            else:
                k += 1
        return None
    return i + 2


def pieces(data: bytes) -> list[int]:
    """The end offsets of one side's complete messages: each command, each line of data, and each prompt
    (a run of data before a command is a message too; a run the bytes end in the middle of is not complete)."""
    ends, i, run = [], 0, None
    while i < len(data):
        if data[i] == IAC and i + 1 < len(data) and data[i + 1] == IAC:
            run = i if run is None else run
            i += 2
        elif data[i] == IAC:
            if run is not None:
                ends.append(i)
                run = None
            end = _command_end(data, i)
            if end is None:
                break
            ends.append(end)
            i = end
        else:
            run = i if run is None else run
            i += 1
            if data[i - 1] == 0x0A or (data[i - 1] == 0x20 and PROMPT.search(data[max(run, i - 10):i])):
                ends.append(i)
                run = None
    return ends


def describe_command(data: bytes) -> str:
    """IAC DO 24 (TERMINAL-TYPE), IAC SB 24 1 IAC SE (TERMINAL-TYPE SEND), ..."""
    if len(data) < 2:
        return "IAC (cut)"
    code = data[1]
    if code in VERBS and len(data) >= 3:
        return f"IAC {command_name(code)} {data[2]} ({option_name(data[2])})"
    if code == SB and len(data) >= 3:
        payload = data[3:-2].replace(b"\xff\xff", b"\xff")
        if data[2] == TTYPE and payload[:1] == bytes([TTYPE_SEND]):
            meaning = "TERMINAL-TYPE SEND"
            shown = "1"
        elif data[2] == TTYPE and payload[:1] == bytes([TTYPE_IS]):
            meaning = "TERMINAL-TYPE IS"
            shown = f"0 '{payload[1:].decode('ascii', 'replace')}'"
        else:
            meaning = option_name(data[2])
            shown = " ".join(str(b) for b in payload)
        return f"IAC SB {data[2]} {shown} IAC SE ({meaning})".replace("  ", " ")
    return f"IAC {command_name(code)}"


class Telnet(Describer):
    name = "telnet"
    ports = (PORT,)
    splits = True

    def split(self, data: bytes, side: str) -> list[int]:
        return pieces(data)

    def label(self, message: Message) -> str:
        if message.data[:1] == bytes([IAC]) and message.data[1:2] != bytes([IAC]):
            return describe_command(message.data)
        text = "".join(c if c.isprintable() else "." for c in message.text)
        cut = text[:LABEL_WIDTH] + ("..." if len(text) > LABEL_WIDTH else "")
        return f"{cut!r}{'' if message.complete else ' (incomplete)'}"

    def recognizes(self, pkt: Packet) -> bool:
        return TCP in pkt and len(pkt[TCP].payload) > 0 and PORT in (pkt[TCP].sport, pkt[TCP].dport)

    def summary(self, pkt: Packet) -> str:
        data = bytes(pkt[TCP].payload)
        ends = pieces(data) or [len(data)]
        first = data[:ends[0]]
        shown = describe_command(first) if first[:1] == bytes([IAC]) else repr(first.decode("utf-8", "replace"))
        more = f" +{len(ends) - 1}" if len(ends) > 1 else ""
        return f"TELNET {shown[:LABEL_WIDTH]}{more}"


DESCRIBER = Telnet()
