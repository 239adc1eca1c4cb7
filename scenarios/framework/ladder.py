"""Message sequence (ladder) diagrams of captured frames: one lifeline per node, one arrow per frame,
as the textbook draws the TCP handshake. Text for the terminal, SVG for the results folder.

An arrow joins the packet's IP ends (client to server, across routers), or with `link=True` its
Ethernet ends (the hop on this segment: a datagram that a router drops ends at the router). Each gap
between two lifelines is as wide as the labels of the arrows that cross it need. TCP sequence numbers
are relative to each side's initial sequence number, as Wireshark shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from itertools import pairwise

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from .describers import Describer, for_packet
from .frames import BROADCAST_MAC, Frame, Names, short, snippet, tcp_flags
from .stream import CLIENT, Connection, Conversation, Message

BROADCAST = "(broadcast)"  # the lifeline of frames sent to every host of the segment; may be placed in columns
RELATIVE = "seq and ack are relative: each side's initial sequence number (ISN) counts as 0"
GAP = 12  # the narrowest gap between lifelines, in characters
CHAR = 7.3  # the width of a character of the SVG's 12px monospace font, in pixels


@dataclass
class Arrow:
    time: float
    src: str
    dst: str
    label: str
    frame: int

    @property
    def text(self) -> str:
        return f"#{self.frame} {self.label}"


def arrows(frames: list[Frame], names: Names, label: Callable[[Packet], str | None] | None = None,
           link: bool = False, stop: Callable[[Packet], str | None] | None = None) -> list[Arrow]:
    """stop(pkt) may name the lifeline where a packet's journey ends (a traceroute probe dies at the
    router that takes its TTL to zero, though it is addressed further)."""
    isn: dict[tuple, int] = {}
    out = []
    for f in frames:
        src, dst = ends(f.pkt, names, link)
        dst = (stop(f.pkt) if stop else None) or dst
        own = label(f.pkt) if label else None
        out.append(Arrow(f.time, src, dst, own or _label(f.pkt, isn), f.number))
    return out


def message_arrows(convs: list[Conversation], names: Names, describer: Describer | None = None) -> list[Arrow]:
    """A dialogue as the course draws it: the handshake, one arrow per application message (labelled
    by the protocol's describer: a command, a reply), then the FINs or the RST."""
    out = []
    for conv in convs:
        c, s = names.node(conv.client.ip), names.node(conv.server.ip)
        if isinstance(conv, Connection):
            for f, a, b, what in ((conv.syn, c, s, f"SYN (to port {conv.server.port})"), (conv.syn_ack, s, c, "SYN-ACK"),
                                  (conv.established, c, s, "ACK")):
                if f is not None:
                    out.append(Arrow(f.time, a, b, what, f.number))
        for m in conv.messages(describer):
            last = max(m.frames, key=lambda f: f.time)
            src, dst = (c, s) if m.side == CLIENT else (s, c)
            out.append(Arrow(m.time, src, dst, message_label(m, describer), last.number))
        if isinstance(conv, Connection):
            for f, a, b in ((conv.up.fin, c, s), (conv.down.fin, s, c)):
                if f is not None:
                    out.append(Arrow(f.time, a, b, "FIN", f.number))
            if conv.reset is not None:
                a, b = (c, s) if conv.reset_by == CLIENT else (s, c)
                out.append(Arrow(conv.reset.time, a, b, "RST", conv.reset.number))
    return sorted(out, key=lambda a: (a.time, a.frame))


def message_label(m: Message, describer: Describer | None) -> str:
    if describer is not None and describer.splits:
        return describer.label(m)
    return snippet(m.data, 40).strip() + f" ({len(m.data)} bytes)"


def ends(p: Packet, names: Names, link: bool = False) -> tuple[str, str]:
    """The lifelines a frame joins: node names, BROADCAST, or an address no node has."""
    eth = p[Ether] if Ether in p else None
    bcast = eth is not None and eth.dst.lower() == BROADCAST_MAC
    if ARP in p and not link:
        src, dst = names.node(p[ARP].psrc, p[ARP].hwsrc), names.node(p[ARP].pdst)
    elif IP in p and not link:
        src = names.node(p[IP].src, eth.src if eth else None)
        dst = names.node(p[IP].dst, eth.dst if eth else None)
    elif eth is not None:
        src, dst = names.node(eth.src), names.node(eth.dst)
    else:
        src = dst = "?"
    return src, BROADCAST if bcast else dst


def _label(p: Packet, isn: dict[tuple, int]) -> str:
    if (d := for_packet(p)) is not None:
        return d.arrow(p)
    if TCP not in p or IP not in p or p[IP].frag:
        return short(p)
    t, ip = p[TCP], p[IP]
    flow, back = (ip.src, t.sport, ip.dst, t.dport), (ip.dst, t.dport, ip.src, t.sport)
    isn.setdefault(flow, t.seq)
    text = f"[{tcp_flags(t)}] seq={(t.seq - isn[flow]) % 2**32}"
    if t.flags.A:
        text += f" ack={(t.ack - isn[back]) % 2**32}" if back in isn else f" ack={t.ack}"
    data = bytes(t.payload)
    return text + (f" len={len(data)}{snippet(data, 20)}" if data else "")


def columns_for(found: list[Arrow], wanted: list[str]) -> list[str]:
    """The lifelines: those wanted, in that order, then the others as they appear; BROADCAST last
    unless wanted somewhere else."""
    cols = list(wanted)
    for a in found:
        for end in (a.src, a.dst):
            if end not in cols and end != BROADCAST:
                cols.append(end)
    if BROADCAST not in cols and any(a.dst == BROADCAST for a in found):
        cols.append(BROADCAST)
    return cols


def layout(found: list[Arrow], columns: list[str]) -> dict[str, int]:
    """Each lifeline's distance from the first, in characters: every label fits the span of its arrow
    (a dot, drawn for a frame to itself, spans the gap to its right)."""
    idx = {c: i for i, c in enumerate(columns)}
    gaps = [max(GAP, (len(a) + len(b)) // 2 + 3) for a, b in pairwise(columns)]
    for a in sorted(found, key=lambda a: abs(idx[a.src] - idx[a.dst])):
        lo, hi = sorted((idx[a.src], idx[a.dst]))
        hi = max(hi, min(lo + 1, len(gaps)))
        short_by = len(a.text) + 4 - sum(gaps[lo:hi])
        for k in range(lo, hi):  # spread what is missing over the gaps the arrow crosses
            share = max(0, -(-short_by // (hi - k)))
            gaps[k] += share
            short_by -= share
    return {c: sum(gaps[:i]) for i, c in enumerate(columns)}


def notes(found: list[Arrow]) -> list[str]:
    return [RELATIVE] if any(a.label.startswith("[") and " seq=" in a.label for a in found) else []


def text(found: list[Arrow], columns: list[str], title: str = "") -> str:
    left = 12  # the first lifeline; the time of each frame is printed before it
    pos = {c: left + x for c, x in layout(found, columns).items()}
    end = max(pos.values(), default=left) + 1
    lines = ([title] if title else []) + [f"({n})" for n in notes(found)]
    head = [" "] * (end + 24)
    for c, x in pos.items():
        start = max(0, x - len(c) // 2)
        head[start:start + len(c)] = c
    lines.append("".join(head).rstrip())
    t0 = found[0].time if found else 0.0

    def lifelines() -> list[str]:
        row = [" "] * end
        for x in pos.values():
            row[x] = "|"
        return row

    for a in found:
        row = lifelines()
        lo, hi = sorted((pos[a.src], pos[a.dst]))
        at = lo + 2
        row.extend(" " * max(0, at + len(a.text) - len(row)))
        row[at:at + len(a.text)] = a.text
        lines.append(f"{a.time - t0:9.6f} " + "".join(row)[10:].rstrip())
        row = lifelines()
        if lo == hi:
            row[lo] = "*"
        else:
            for x in range(lo + 1, hi):
                row[x] = "-"
            if pos[a.dst] > pos[a.src]:
                row[hi - 1] = ">"
            else:
                row[lo + 1] = "<"
        lines.append(" " * 10 + "".join(row)[10:].rstrip())
    return "\n".join(lines) + "\n"


def svg(found: list[Arrow], columns: list[str], title: str = "") -> str:
    left = 84 + CHAR * max(7, len(columns[0]) if columns else 0) / 2  # room for the times
    x = {c: round(left + CHAR * off) for c, off in layout(found, columns).items()}
    extra = notes(found)
    row_h, top = 34, 62 + 16 * len(extra)
    right = max([left] + [v + CHAR * len(c) / 2 for c, v in x.items()]
                + [min(x[a.src], x[a.dst]) + 6 + CHAR * len(a.text) for a in found])
    width = round(max([right, 10 + CHAR * len(title) * 14 / 12] + [10 + CHAR * len(n) for n in extra]) + 20)
    height = top + row_h * (len(found) + 1)
    t0 = found[0].time if found else 0.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="DejaVu Sans Mono, monospace" font-size="12">',
           '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="10" refY="4" orient="auto">'
           '<path d="M0,0 L10,4 L0,8 z" fill="#222"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    out += [f'<text x="10" y="{38 + 16 * i}" fill="#555">{escape(n)}</text>' for i, n in enumerate(extra)]
    out.append(f'<text x="10" y="{top - 12}" fill="#666">time (s)</text>')
    for c, cx in x.items():
        style = ' font-style="italic" fill="#555"' if c == BROADCAST else ' font-weight="bold"'
        out.append(f'<text x="{cx}" y="{top - 12}" text-anchor="middle"{style}>{escape(c)}</text>')
        out.append(f'<line x1="{cx}" y1="{top - 4}" x2="{cx}" y2="{height - 10}" stroke="#999" '
                   f'stroke-dasharray="4,3"/>')
    for i, a in enumerate(found):
        y = top + row_h * (i + 1) - 10
        x1, x2 = x[a.src], x[a.dst]
        out.append(f'<text x="10" y="{y}" fill="#666">{a.time - t0:.6f}</text>')
        if x1 == x2:
            out.append(f'<circle cx="{x1}" cy="{y}" r="4" fill="#222"/>')
        else:
            out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#222" marker-end="url(#head)"/>')
        # a white halo keeps a label legible where it crosses a lifeline
        out.append(f'<text x="{min(x1, x2) + 6}" y="{y - 5}" stroke="white" stroke-width="3" '
                   f'paint-order="stroke">{escape(a.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
