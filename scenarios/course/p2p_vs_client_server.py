"""P2P against client-server: one file to N = 2, 4, 8 and 16 peers, from a web server and then through a
swarm; the distribution time measured on the captures against the textbook's lower bounds.

Kurose & Ross 2.5.1. The server's link is u_s, each peer's access link u_i = d_i (the lab's segment
rates). Client-server: every peer fetches the file over HTTP at once (curl), so the server sends N
copies: D_cs >= max(N F/u_s, F/d_min), linear in N. P2P: peers and a seed in a swarm (the project's
BitTorrent peer), where every leecher uploads too: D_P2P >= max(F/u_s, F/d_min, N F/(u_s + sum u_i)),
which flattens as N grows. Each time runs from the first request (the first GET; the first connection
to the seed, whose peers have already found each other through the tracker) to the last byte of the file
reaching the last peer. The swarm beats the server
from N = 4, and from N = 8 most bytes are uploaded by leechers, not by the seed. The results hold
`distribution.svg` (time against N, both architectures, measured and bound) and `distribution.json`.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import IP, TCP

from scenarios.framework.assertions import Assertion, Outcome
from scenarios.framework.describers.bittorrent import PEER_PORT
from scenarios.framework.frames import Traffic
from services.bittorrent import metainfo

LAB = "swarm"
ROUNDS = (2, 4, 8, 16)
SEGMENTS = [f"acc{i}" for i in range(1, max(ROUNDS) + 1)]
SIZE, PIECE = 1024 * 1024, 32 * 1024
BULK = 1000  # a frame this large on the peer wire carries a block of a piece (control messages are tiny)
FILE_NAME = "lecture.mp4"


@dataclass
class Round:
    n: int
    cs: float | None = None  # seconds, measured
    p2p: float | None = None
    cs_bytes_short: list[str] = field(default_factory=list)  # peers whose HTTP body was not the whole file
    p2p_missing: list[str] = field(default_factory=list)  # peers that received less than the file
    seed_bytes: int = 0
    leecher_bytes: int = 0


def sent(conn, sender_ip: str) -> int:
    """How many bytes one direction of a connection carried, from sequence numbers: the sender's highest
    byte, or the receiver's highest ACK if the capture missed the last data frames, counted from the
    SYN (or from the first byte seen when the capture missed the SYN)."""
    out = [f.pkt for f in conn.frames if f.pkt[IP].src == sender_ip]
    back = [f.pkt for f in conn.frames if f.pkt[IP].src != sender_ip and f.pkt[TCP].flags & 0x10]
    if not out:
        return 0
    syn = next((p[TCP].seq for p in out if p[TCP].flags & 0x02), None)
    base = syn + 1 if syn is not None else min(p[TCP].seq for p in out)
    tops = [(p[TCP].seq - base) % 2**32 + len(p[TCP].payload) for p in out if len(p[TCP].payload)]
    tops += [(p[TCP].ack - base) % 2**32 for p in back]
    top = max(tops, default=0)
    fin = any(p[TCP].flags & 0x01 for p in out)
    return top - 1 if fin and top else top  # a FIN takes one sequence number


class Distribution:
    """The measurements, made once from the captures, shared by the assertions below."""

    def __init__(self, peers: dict[str, str], server_ip: str, torrent: metainfo.Torrent, rates: tuple[float, float],
                 folder: Path):
        self.peers, self.server_ip, self.torrent, self.folder = peers, server_ip, torrent, folder
        self.u_s, self.u_i = rates
        self.rounds: list[Round] | None = None

    def bounds(self, n: int) -> tuple[float, float]:
        f = 8 * self.torrent.length
        d_min = self.u_i
        cs = max(n * f / self.u_s, f / d_min)
        p2p = max(f / self.u_s, f / d_min, n * f / (self.u_s + n * self.u_i))
        return cs, p2p

    def measure(self, traffic: Traffic) -> list[Round]:
        if self.rounds is None:
            self.rounds = [self._round(traffic, n) for n in ROUNDS]
            self._write()
        return self.rounds

    def _round(self, traffic: Traffic, n: int) -> Round:
        # Bytes and times come from sequence numbers and frame times, not from the reassembled stream:
        # a frame the capture missed (tcpdump under load) must not hide the bytes after it.
        r = Round(n)
        names = list(self.peers)[:n]
        starts, ends = [], []
        for p in names:
            cap = f"acc{p[1:]}"
            conns = [c for c in traffic.connections(cap, after=f"cs{n}", before=f"cs{n}-end")
                     if c.server.port == 80 and c.client.ip == self.peers[p] and c.up.frames]
            for c in conns:
                starts.append(c.up.frames[0].time)  # the GET
                ends.append(max(f.time for f in c.down.frames) if c.down.frames else float("inf"))
            body = sum(sent(c, c.server.ip) - len(c.down.data.partition(b"\r\n\r\n")[0]) - 4 for c in conns)
            if body < self.torrent.length:
                r.cs_bytes_short.append(f"{p} ({body} bytes)")
        r.cs = max(ends) - min(starts) if starts and ends else None
        starts, ends, counted = [], [], set()
        for p in names:
            cap, ip = f"acc{p[1:]}", self.peers[p]
            received = 0
            for c in traffic.connections(cap, after=f"p2p{n}", before=f"p2p{n}-end"):
                if PEER_PORT not in (c.client.port, c.server.port):
                    continue
                mine, theirs = (c.up, c.down) if c.client.ip == ip else (c.down, c.up)
                other_ip = c.server.ip if c.client.ip == ip else c.client.ip
                if other_ip == self.server_ip and c.syn is not None:
                    starts.append(c.syn.time)
                got = sent(c, other_ip)
                received += got
                ends += [f.time for f in theirs.frames if len(f.pkt[TCP].payload) >= BULK]
                if (c.client, c.server, other_ip) not in counted:  # a leecher-leecher link is on two captures
                    counted.add((c.client, c.server, other_ip))
                    if other_ip == self.server_ip:
                        r.seed_bytes += got
                    else:
                        r.leecher_bytes += got
            if received < self.torrent.length:
                r.p2p_missing.append(f"{p} ({received} bytes)")
        r.p2p = max(ends) - min(starts) if starts and ends else None
        return r

    def table(self) -> list[dict]:
        rows = []
        for r in self.rounds or []:
            cs_b, p2p_b = self.bounds(r.n)
            rows.append({"N": r.n, "client_server_s": r.cs, "client_server_bound_s": round(cs_b, 3),
                         "client_server_ratio": round(r.cs / cs_b, 2) if r.cs else None,
                         "p2p_s": r.p2p, "p2p_bound_s": round(p2p_b, 3),
                         "p2p_ratio": round(r.p2p / p2p_b, 2) if r.p2p else None,
                         "seed_bytes": r.seed_bytes, "leecher_bytes": r.leecher_bytes})
        return rows

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        rows = self.table()
        (self.folder / "distribution.json").write_text(json.dumps(
            {"F_bytes": self.torrent.length, "u_s_bps": self.u_s, "u_i_bps": self.u_i, "rounds": rows}, indent=1))
        (self.folder / "distribution.svg").write_text(plot(rows))


def plot(rows: list[dict]) -> str:
    """The course's figure: distribution time against N, client-server and P2P, measured and bound."""
    w, h, left, bottom, top, right = 640, 420, 60, 50, 30, 150
    ns = [r["N"] for r in rows]
    ymax = max([v for r in rows for v in (r["client_server_s"], r["client_server_bound_s"], r["p2p_s"],
                                          r["p2p_bound_s"]) if v] + [1.0]) * 1.1
    nmax = max(ns + [1])

    def x(n: float) -> float:
        return left + (w - left - right) * n / nmax

    def y(t: float) -> float:
        return h - bottom - (h - bottom - top) * t / ymax

    series = [("client_server_s", "client-server, measured", "#c0392b", ""),
              ("client_server_bound_s", "client-server, bound", "#c0392b", "6,4"),
              ("p2p_s", "P2P, measured", "#2471a3", ""),
              ("p2p_bound_s", "P2P, bound", "#2471a3", "6,4")]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">Distribution time of one file to N peers</text>',
           f'<line x1="{left}" y1="{y(0)}" x2="{x(nmax)}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(ymax)}" stroke="black"/>',
           f'<text x="{(left + x(nmax)) / 2}" y="{h - 12}" text-anchor="middle">N (peers)</text>',
           f'<text x="14" y="{(top + h - bottom) / 2}" transform="rotate(-90 14 {(top + h - bottom) / 2})" '
           f'text-anchor="middle">seconds</text>']
    for n in ns:
        out.append(f'<text x="{x(n)}" y="{y(0) + 16}" text-anchor="middle">{n}</text>')
    step = max(1, round(ymax / 6))
    for t in range(0, int(ymax) + 1, step):
        out.append(f'<text x="{left - 6}" y="{y(t) + 4}" text-anchor="end">{t}</text>'
                   f'<line x1="{left}" y1="{y(t)}" x2="{x(nmax)}" y2="{y(t)}" stroke="#eee"/>')
    for i, (key, label, colour, dash) in enumerate(series):
        pts = [(x(r["N"]), y(r[key])) for r in rows if r[key] is not None]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in pts if not dash]
        ly = top + 10 + 20 * i
        out.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 40}" y2="{ly}" stroke="{colour}" '
                   f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                   f'<text x="{w - right + 46}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


class Measured(Assertion):
    def __init__(self, text: str, dist: Distribution, check):
        self.text, self.dist, self.check, self.capture = text, dist, check, "acc1"

    def evaluate(self, traffic: Traffic) -> Outcome:
        passed, why = self.check(self.dist, self.dist.measure(traffic))
        return Outcome(self.text, passed, why, capture=self.capture)


def _fmt(t: float | None) -> str:
    return f"{t:.2f} s" if t is not None else "not measured"


def whole_file(dist: Distribution, rounds: list[Round]) -> tuple[bool, str]:
    for r in rounds:
        if r.cs_bytes_short:
            return False, f"N={r.n}, client-server: {', '.join(r.cs_bytes_short)} instead of {dist.torrent.length}"
        if r.p2p_missing:
            return False, f"N={r.n}, P2P: {', '.join(r.p2p_missing)}"
    return True, f"{sum(ROUNDS)} copies of {dist.torrent.length} bytes each way"


def p2p_wins(dist: Distribution, rounds: list[Round]) -> tuple[bool, str]:
    parts, ok = [], True
    for r in rounds:
        cs_b, p2p_b = dist.bounds(r.n)
        parts.append(f"N={r.n}: client-server {_fmt(r.cs)} ({r.cs / cs_b if r.cs else 0:.2f}x its bound "
                     f"{cs_b:.2f} s), P2P {_fmt(r.p2p)} ({r.p2p / p2p_b if r.p2p else 0:.2f}x its bound {p2p_b:.2f} s)")
        if r.n >= 4 and (r.cs is None or r.p2p is None or r.p2p >= r.cs):
            ok = False
    return ok, "; ".join(parts)


def leechers_upload(dist: Distribution, rounds: list[Round]) -> tuple[bool, str]:
    parts, ok = [], True
    for r in rounds:
        total = r.seed_bytes + r.leecher_bytes
        share = r.leecher_bytes / total if total else 0.0
        parts.append(f"N={r.n}: {share:.0%} of {total} bytes on the peer wire from leechers")
        if r.n >= 8 and share <= 0.5:
            ok = False
    return ok, "; ".join(parts)


def run(ctx) -> None:
    server, tracker = ctx.host("server"), ctx.host("tracker")
    peers = {f"p{i}": ctx.host(f"p{i}").ip for i in range(1, max(ROUNDS) + 1)}
    rates = (ctx.lab.segments["core"].rate.bits_per_second, ctx.lab.segments["acc1"].rate.bits_per_second)
    # The file (for the web server and the seed) and the .torrent in the server's data folder; each peer
    # gets the .torrent in its own and downloads into it. Data folders are the same path in a node.
    www = ctx.data("server") / "p2p-www"
    made = [www, *(ctx.data(p) / "p2p" for p in peers)]
    try:
        www.mkdir(parents=True, exist_ok=True)
        (www / FILE_NAME).write_bytes(os.urandom(SIZE))
        torrent = ctx.data("server") / "p2p-lecture.torrent"
        ctx.python("server", ["-m", "services.bittorrent", "make", str(www / FILE_NAME), "--announce",
                              f"http://{tracker.ip}:6969/announce", "--piece-length", str(PIECE),
                              "-o", str(torrent)], check=True)
        t = metainfo.load(torrent)
        for p in peers:
            (ctx.data(p) / "p2p").mkdir(parents=True, exist_ok=True)
            shutil.copy(torrent, ctx.data(p) / "p2p" / "lecture.torrent")
        web = ctx.start_service("server", "http-origin", ["--root", str(www)])
        for n in ROUNDS:
            ctx.mark(f"cs{n}")
            with ThreadPoolExecutor(n) as pool:  # every client asks at once
                list(pool.map(lambda p: ctx.run(p, ["curl", "-sS", "-o", "/dev/null", f"http://{server.ip}/{FILE_NAME}"],
                                                check=True, timeout=120), list(peers)[:n]))
            ctx.mark(f"cs{n}-end")
        ctx.stop_service(web)
        for n in ROUNDS:
            ctx.mark(f"p2p{n}")
            recs = [ctx.start_service(p, "bt-peer", [str(ctx.data(p) / "p2p" / "lecture.torrent"), "--dir",
                                                     str(ctx.data(p) / "p2p" / f"round-{n}"), "--rechoke", "2"])
                    for p in list(peers)[:n]]
            # a peer's log goes on from round to round: only what it says from now on counts (it cannot
            # have completed yet: the seed is not there)
            said = [len(ctx.service_log(rec)) for rec in recs]
            seed = ctx.start_service("server", "bt-peer", [str(torrent), "--dir", str(www), "--rechoke", "2"])
            for rec, since in zip(recs, said, strict=True):
                ctx.wait_log(rec, "download complete", since=since, timeout=60)
            for rec in [seed, *recs]:
                ctx.stop_service(rec)
            ctx.mark(f"p2p{n}-end")
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
    dist = Distribution(peers, server.ip, t, rates, ctx.folder)
    ctx.expect(
        Measured("every peer gets the whole file from the server, and at least as many bytes from the swarm",
                 dist, whole_file),
        Measured("the swarm distributes the file faster than the server from N = 4 (times against the "
                 "textbook's bounds)", dist, p2p_wins),
        Measured("at N >= 8 most of the bytes are uploaded by leechers, not by the seed", dist, leechers_upload),
    )
