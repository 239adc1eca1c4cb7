"""Message sequence (ladder) diagrams of captured frames: one lifeline per node, one arrow per frame,
as the textbook draws the TCP handshake. Text for the terminal, SVG for the results folder.

TCP sequence numbers are relative to each side's initial sequence number, as Wireshark shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet

from .frames import BROADCAST_MAC, Frame, Names, short, tcp_flags

BROADCAST = "(broadcast)"


@dataclass
class Arrow:
    time: float
    src: str
    dst: str
    label: str
    frame: int


def arrows(frames: list[Frame], names: Names, label: Callable[[Packet], str | None] | None = None) -> list[Arrow]:
    isn: dict[tuple, int] = {}
    out = []
    for f in frames:
        p = f.pkt
        bcast = Ether in p and p[Ether].dst.lower() == BROADCAST_MAC
        if ARP in p:
            src = names.node(p[ARP].psrc)
            dst = BROADCAST if bcast else names.node(p[ARP].pdst)
        elif IP in p:
            src = names.node(p[IP].src)
            dst = BROADCAST if bcast or p[IP].dst.endswith(".255") else names.node(p[IP].dst)
        else:
            src = names.node(p[Ether].src) if Ether in p else "?"
            dst = BROADCAST if bcast else (names.node(p[Ether].dst) if Ether in p else "?")
        own = label(p) if label else None
        out.append(Arrow(f.time, src, dst, own or _label(p, isn), f.number))
    return out


def _label(p, isn: dict[tuple, int]) -> str:
    if TCP not in p or IP not in p or p[IP].frag:
        return short(p)
    t, ip = p[TCP], p[IP]
    flow, back = (ip.src, t.sport, ip.dst, t.dport), (ip.dst, t.dport, ip.src, t.sport)
    isn.setdefault(flow, t.seq)
    text = f"[{tcp_flags(t)}] seq={(t.seq - isn[flow]) % 2**32}"
    if t.flags.A:
        text += f" ack={(t.ack - isn[back]) % 2**32}" if back in isn else f" ack={t.ack}"
    data = bytes(t.payload)
    if data:
        snippet = "".join(c if c.isprintable() else "." for c in data[:20].decode("ascii", "replace"))
        text += f" len={len(data)} {snippet!r}" + ("..." if len(data) > 20 else "")
    return text


def columns_for(found: list[Arrow], wanted: list[str]) -> list[str]:
    cols = list(wanted)
    for a in found:
        for end in (a.src, a.dst):
            if end not in cols and end != BROADCAST:
                cols.append(end)
    if any(a.dst == BROADCAST for a in found):
        cols.append(BROADCAST)
    return cols


def text(found: list[Arrow], columns: list[str], title: str = "") -> str:
    # wide enough for the labels, narrow enough that five lifelines fit a terminal
    width = max([18] + [len(a.label) + 8 for a in found])
    width = min(width, max(24, 100 // max(1, len(columns) - 1)))
    pos = {c: 12 + i * width for i, c in enumerate(columns)}
    end = pos[columns[-1]] + 1 if columns else 12
    lines = [title] if title else []
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
        label = f"#{a.frame} {a.label}"
        at = lo + 2
        row.extend(" " * max(0, at + len(label) - len(row)))
        row[at:at + len(label)] = label
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
    longest = max((len(a.label) + 5 for a in found), default=20)
    col_w, row_h, top, left = min(480, max(190, int(7.3 * longest) + 30)), 34, 70, 90
    width = left + col_w * max(1, len(columns)) + 120
    height = top + row_h * (len(found) + 1) + 20
    x = {c: left + col_w * i + col_w // 2 for i, c in enumerate(columns)}
    t0 = found[0].time if found else 0.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="12">',
           '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="10" refY="4" orient="auto">'
           '<path d="M0,0 L10,4 L0,8 z" fill="#222"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for c, cx in x.items():
        out.append(f'<text x="{cx}" y="50" text-anchor="middle" font-weight="bold">{escape(c)}</text>')
        out.append(f'<line x1="{cx}" y1="58" x2="{cx}" y2="{height - 10}" stroke="#999" stroke-dasharray="4,3"/>')
    for i, a in enumerate(found):
        y = top + row_h * (i + 1)
        x1, x2 = x[a.src], x[a.dst]
        out.append(f'<text x="10" y="{y}" fill="#666">{a.time - t0:.6f}</text>')
        if x1 == x2:
            out.append(f'<circle cx="{x1}" cy="{y}" r="4" fill="#222"/>')
        else:
            out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#222" marker-end="url(#head)"/>')
        out.append(f'<text x="{min(x1, x2) + 6}" y="{y - 5}">#{a.frame} {escape(a.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
