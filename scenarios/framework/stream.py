"""The TCP connections and UDP exchanges of a capture, reassembled into two-way dialogues.

    for conn in tcp_connections(frames):           # frames: one capture's Frames, in capture order
        conn.client, conn.server                   # End("10.0.1.11", 40312), End("10.0.3.10", 25)
        conn.up.data, conn.down.data               # the bytes each way, in order (client > server first)
        conn.up.frames_for(0, 4)                   # every frame that carried bytes 0..3, retransmissions too
        conn.messages(describer)                   # application messages of both sides, in time order

A direction's bytes are placed by sequence number, unwrapped across 2**32, so segments that come out of
order, overlap, or are sent again all land where they belong. When two segments carry different bytes
for one range, the first one captured wins (as most stacks keep what they already queued). The bytes
delivered are those before the first hole: what the receiving application could have read.

A connection begins with its SYN (the client is who sent it). A capture that missed the SYN still
yields the connection: from a SYN-ACK the client is known; with no handshake at all, the end with the
higher (ephemeral) port is taken for the client and `handshake` is False. A new SYN on a 4-tuple whose
connection closed (FINs, RST), or with a new initial sequence number, begins a new connection.

UDP datagrams between two ends form one `UdpExchange`; its client is the end that spoke first.
IP fragments are left out (a UDP datagram in fragments is checked with textbook.Fragments).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from scapy.layers.inet import IP, TCP, UDP

from .frames import Frame

if TYPE_CHECKING:
    from .describers import Describer

MOD = 2**32
CLIENT, SERVER = "client", "server"


@dataclass(frozen=True, order=True)
class End:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Send:
    """Bytes one side sent, as first carried by one frame (`offset` counts from the direction's first byte)."""

    offset: int
    data: bytes
    frame: Frame

    @property
    def time(self) -> float:
        return self.frame.time


@dataclass
class Message:
    """An application message (a command, a reply, a turn of talk) of one side of a dialogue."""

    side: str  # CLIENT or SERVER
    data: bytes
    offset: int  # where it starts in its direction's bytes
    time: float  # when its last byte had arrived, all earlier bytes included (what the peer could read)
    frames: list[Frame]  # every frame that carried part of it
    complete: bool = True  # False: the bytes ended before the message did

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace").rstrip("\r\n")


class Flow:
    """One direction of a TCP connection: its bytes placed by sequence number."""

    def __init__(self) -> None:
        self.isn: int | None = None  # the SYN's sequence number, when the SYN was seen
        self._syn = 0  # the same, unwrapped
        self._ref: int | None = None  # the last unwrapped sequence number, to unwrap the next one
        self._starts: list[int] = []  # unwrapped start of each piece, sorted; pieces never overlap
        self._pieces: dict[int, tuple[bytes, Frame]] = {}
        self._carriers: list[tuple[int, int, Frame]] = []  # every segment's range, retransmissions too
        self.fin: Frame | None = None
        self._done: tuple[int, bytes, list[Send], list[float]] | None = None

    def unwrap(self, seq: int) -> int:
        if self._ref is None:
            self._ref = seq
            return seq
        d = (seq - self._ref) % MOD
        self._ref += d - MOD if d >= MOD // 2 else d
        return self._ref

    def syn(self, seq: int) -> None:
        if self.isn is None:
            self.isn = seq
            self._syn = self.unwrap(seq)

    def add(self, seq: int, data: bytes, frame: Frame) -> None:
        start = self.unwrap(seq)
        if not data:
            return
        self._done = None
        end = start + len(data)
        self._carriers.append((start, end, frame))
        new, at = [], start
        i = max(0, bisect_right(self._starts, start) - 1)
        while at < end:  # fill only what no earlier segment covered: the first bytes captured win
            if i < len(self._starts) and self._starts[i] < end:
                p_start = self._starts[i]
                if p_start > at:
                    new.append((at, data[at - start:p_start - start]))
                at = max(at, p_start + len(self._pieces[p_start][0]))
                i += 1
            else:
                new.append((at, data[at - start:]))
                break
        for s, d in new:
            insort(self._starts, s)
            self._pieces[s] = (d, frame)

    def _base(self) -> int | None:
        if self.isn is not None:
            return self._syn + 1
        return self._starts[0] if self._starts else None

    def _assemble(self) -> tuple[int, bytes, list[Send], list[float]]:
        if self._done is None:
            base = self._base()
            sends: list[Send] = []
            ready: list[float] = []  # for each send: when it and everything before it had arrived
            chunks, at, latest = [], base, float("-inf")
            for start in self._starts:
                data, frame = self._pieces[start]
                if base is None or start + len(data) <= base:
                    continue
                if start > at:
                    break  # a hole: nothing after it reached the application
                data = data[at - start:] if start < at else data
                latest = max(latest, frame.time)
                sends.append(Send(at - base, data, frame))
                ready.append(latest)
                chunks.append(data)
                at += len(data)
            self._done = (base or 0, b"".join(chunks), sends, ready)
        return self._done

    @property
    def data(self) -> bytes:
        """The bytes in order, up to the first hole."""
        return self._assemble()[1]

    @property
    def sends(self) -> list[Send]:
        """The delivered bytes as the frames that first carried them, in order."""
        return self._assemble()[2]

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """Byte ranges (offsets) never captured, between bytes that were."""
        base = self._assemble()[0]
        out, at = [], base
        for start in self._starts:
            if start > at:
                out.append((at - base, start - base))
            at = max(at, start + len(self._pieces[start][0]))
        return out

    def frames_for(self, start: int, end: int) -> list[Frame]:
        """Every frame that carried any of the bytes start..end-1 (offsets), first captures and resends."""
        base = self._assemble()[0]
        lo, hi = base + start, base + end
        found = {f.number: f for s, e, f in self._carriers if s < hi and e > lo}
        return [found[n] for n in sorted(found)]

    def ready_at(self, offset: int) -> float:
        """When byte `offset`, and every byte before it, had arrived."""
        _, _, sends, ready = self._assemble()
        i = bisect_right([s.offset for s in sends], offset) - 1
        if i < 0 or offset >= sends[i].offset + len(sends[i].data):
            raise IndexError(f"byte {offset} never arrived in order")
        return ready[i]

    @property
    def ready_times(self) -> list[float]:
        """For each send: when it, and every byte before it, had arrived."""
        return self._assemble()[3]

    @property
    def frames(self) -> list[Frame]:
        return [f for _, _, f in self._carriers]


class Conversation(Protocol):
    """What a TCP connection and a UDP exchange both are: two ends and their messages."""

    client: End
    server: End
    frames: list[Frame]

    def messages(self, describer: Describer | None = None) -> list[Message]: ...


@dataclass
class Connection:
    client: End
    server: End
    up: Flow = field(default_factory=Flow)  # client > server
    down: Flow = field(default_factory=Flow)  # server > client
    frames: list[Frame] = field(default_factory=list)
    syn: Frame | None = None
    syn_ack: Frame | None = None
    established: Frame | None = None  # the client's ACK of the SYN-ACK
    reset: Frame | None = None
    reset_by: str | None = None
    closed: Frame | None = None  # the ACK of the second FIN, or the RST
    transport = "tcp"

    @property
    def handshake(self) -> bool:
        """SYN, SYN-ACK and ACK were all captured."""
        return None not in (self.syn, self.syn_ack, self.established)

    def flow(self, side: str) -> Flow:
        return self.up if side == CLIENT else self.down

    def finished(self) -> bool:
        return self.reset is not None or (self.up.fin is not None and self.down.fin is not None)

    def messages(self, describer: Describer | None = None) -> list[Message]:
        """Both sides' messages, in the order they were complete. Without a describer (or one that does
        not split bytes), a message is a turn: what one side sent before the other side spoke."""
        if describer is None or not describer.splits:
            return _turns(self)
        out = []
        for side in (CLIENT, SERVER):
            flow = self.flow(side)
            data, at = flow.data, 0
            ends = describer.split(data, side)
            rest = [len(data)] if data and (not ends or ends[-1] < len(data)) else []
            for i, end in enumerate(ends + rest):
                out.append(Message(side, data[at:end], at, flow.ready_at(end - 1), flow.frames_for(at, end),
                                   complete=i < len(ends)))
                at = end
        return sorted(out, key=lambda m: m.time)

    def __str__(self) -> str:
        return f"{self.client} > {self.server}"


def _turns(conn: Connection) -> list[Message]:
    sends = sorted([(t, CLIENT, s) for s, t in zip(conn.up.sends, conn.up.ready_times, strict=True)]
                   + [(t, SERVER, s) for s, t in zip(conn.down.sends, conn.down.ready_times, strict=True)],
                   key=lambda x: x[0])
    out: list[Message] = []
    for t, side, s in sends:
        if out and out[-1].side == side:
            last = out[-1]
            out[-1] = Message(side, last.data + s.data, last.offset, t, [])
        else:
            out.append(Message(side, s.data, s.offset, t, []))
    for m in out:
        m.frames = conn.flow(m.side).frames_for(m.offset, m.offset + len(m.data))
    return out


def tcp_connections(frames: Iterable[Frame]) -> list[Connection]:
    """Every TCP connection in these frames, in the order each began."""
    found: list[Connection] = []
    current: dict[tuple[End, End], Connection] = {}
    for f in frames:
        p = f.pkt
        if IP not in p or TCP not in p or p[IP].frag or p[IP].flags.MF:
            continue
        t = p[TCP]
        src, dst = End(p[IP].src, t.sport), End(p[IP].dst, t.dport)
        key = (min(src, dst), max(src, dst))
        flags = str(t.flags)
        conn = current.get(key)
        syn, ack = "S" in flags, "A" in flags
        if syn and not ack:
            if conn is None or conn.client != src or conn.up.isn != t.seq:  # not a retransmitted SYN
                conn = current[key] = Connection(src, dst)
                found.append(conn)
        elif syn and ack:
            if conn is None or conn.server != src or conn.down.isn not in (None, t.seq) or (
                    conn.syn is None and conn.finished()):
                conn = current[key] = Connection(dst, src)
                found.append(conn)
        elif conn is None:
            client, server = (src, dst) if src.port > dst.port or (src.port == dst.port and src < dst) else (dst, src)
            conn = current[key] = Connection(client, server)
            found.append(conn)
        _take(conn, f, src, flags)
    return found


def _take(conn: Connection, f: Frame, src: End, flags: str) -> None:
    t = f.pkt[TCP]
    side = CLIENT if src == conn.client else SERVER
    flow, other = conn.flow(side), conn.flow(SERVER if side == CLIENT else CLIENT)
    conn.frames.append(f)
    data = bytes(t.payload)
    if "S" in flags:
        flow.syn(t.seq)
        if side == CLIENT:
            conn.syn = conn.syn or f
        else:
            conn.syn_ack = conn.syn_ack or f
        flow.add(t.seq + 1, data, f)  # data on a SYN (TCP Fast Open) follows the SYN's own number
    else:
        flow.add(t.seq, data, f)
    if "A" in flags and side == CLIENT and conn.established is None and conn.syn_ack is not None \
            and t.ack == (conn.syn_ack.pkt[TCP].seq + 1) % MOD:
        conn.established = f
    if "F" in flags and flow.fin is None:
        flow.fin = f
    if "R" in flags and conn.reset is None:
        conn.reset, conn.reset_by = f, side
        conn.closed = conn.closed or f
    if "A" in flags and other.fin is not None and flow.fin is not None and conn.closed is None:
        fin = other.fin.pkt[TCP]
        # the ACK of the second FIN (the other side's, sent after this side's) ends the connection
        if t.ack == (fin.seq + len(fin.payload) + 1) % MOD and other.fin.number > flow.fin.number:
            conn.closed = f


@dataclass
class Datagram:
    side: str
    data: bytes
    frame: Frame

    @property
    def time(self) -> float:
        return self.frame.time


@dataclass
class UdpExchange:
    """The datagrams between two UDP ends; the client spoke first."""

    client: End
    server: End
    datagrams: list[Datagram] = field(default_factory=list)
    transport = "udp"

    @property
    def frames(self) -> list[Frame]:
        return [d.frame for d in self.datagrams]

    def messages(self, describer: Describer | None = None) -> list[Message]:
        """One message per datagram."""
        return [Message(d.side, d.data, 0, d.time, [d.frame]) for d in self.datagrams]

    def __str__(self) -> str:
        return f"{self.client} > {self.server} (UDP)"


def udp_exchanges(frames: Iterable[Frame]) -> list[UdpExchange]:
    """Every pair of UDP ends that exchanged datagrams, in the order each began."""
    found: dict[tuple[End, End], UdpExchange] = {}
    for f in frames:
        p = f.pkt
        if IP not in p or UDP not in p or p[IP].frag or p[IP].flags.MF:
            continue
        src, dst = End(p[IP].src, p[UDP].sport), End(p[IP].dst, p[UDP].dport)
        key = (min(src, dst), max(src, dst))
        ex = found.setdefault(key, UdpExchange(src, dst))
        ex.datagrams.append(Datagram(CLIENT if src == ex.client else SERVER, bytes(p[UDP].payload), f))
    return list(found.values())
