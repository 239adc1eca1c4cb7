"""The course's claims that are more than one packet pattern: the TCP handshake and teardown, ping's
request/reply pairs, and what fragmentation does to a datagram.
"""

from __future__ import annotations

from collections.abc import Callable

from scapy.layers.inet import ICMP, IP, TCP, UDP, defragment
from scapy.plist import PacketList

from .assertions import SHOWN, Assertion, InOrder, Outcome, Step
from .frames import Frame, Host, Traffic
from .match import Endpoint, ip_of, tcp


def tcp_handshake(capture: str, client: Host, server: Host, port: int, **window: str) -> InOrder:
    """SYN, SYN-ACK, ACK between client and server:port, all before the first data segment."""
    return InOrder(capture, [
        Step(tcp(client, server, dport=port, flags="S"), "SYN"),
        Step(tcp(server, client, sport=port, flags="SA"), "SYN-ACK"),
        Step(tcp(client, server, dport=port, flags="A", data=False), "ACK"),
        Step(tcp(client, server, dport=port, data=True).named(f"first data {client} > {server}:{port}")),
    ], f"TCP three-way handshake (SYN, SYN-ACK, ACK) {client.name} > {server.name}:{port} precedes the data",
        **window)


class TcpTeardown(Assertion):
    """Each side sends a FIN after the data, and the other side acknowledges it (ack = FIN's seq + 1)."""

    def __init__(self, capture: str, client: Host, server: Host, port: int, after: str | None = None):
        self.capture, self.client, self.server, self.port, self.after = capture, client, server, port, after
        self.text = f"TCP teardown: {client.name} and {server.name} each send a FIN that the other ACKs"

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, None)
        conn = [f for f in window if TCP in f.pkt and self.port in (f.pkt[TCP].sport, f.pkt[TCP].dport)
                and {f.pkt[IP].src, f.pkt[IP].dst} == {self.client.ip, self.server.ip}]
        rests: list[Frame] = []
        for a, b in ((self.client, self.server), (self.server, self.client)):
            fin = next((f for f in conn if f.pkt[IP].src == a.ip and "F" in str(f.pkt[TCP].flags)), None)
            if fin is None:
                return Outcome(self.text, False, f"expected a FIN from {a}; saw none", conn[-SHOWN:], self.capture)
            t = fin.pkt[TCP]
            want = (t.seq + len(t.payload) + 1) % 2**32
            ack = next((f for f in conn if f.time >= fin.time and f.pkt[IP].src == b.ip
                        and "A" in str(f.pkt[TCP].flags) and f.pkt[TCP].ack == want), None)
            if ack is None:
                return Outcome(self.text, False, f"expected {b} to ACK {a.name}'s FIN (ack={want}); saw none",
                               conn[-SHOWN:], self.capture)
            rests += [fin, ack]
        return Outcome(self.text, True, "both FINs acknowledged", sorted(rests, key=lambda f: f.number),
                       self.capture)


class EchoPairs(Assertion):
    """Every ICMP echo request src > dst has a reply dst > src with the same id and sequence number."""

    def __init__(self, capture: str, src: Host, dst: Host, count: int):
        self.capture, self.src, self.dst, self.count = capture, src, dst, count
        self.text = f"ping {src.name} > {dst.name}: each echo request has an echo reply with the same id and seq"

    def evaluate(self, traffic: Traffic) -> Outcome:
        frames = traffic.frames(self.capture)

        def echoes(src: Host, dst: Host, kind: int) -> list[Frame]:
            return [f for f in frames if ICMP in f.pkt and f.pkt[ICMP].type == kind
                    and f.pkt[IP].src == src.ip and f.pkt[IP].dst == dst.ip]

        requests, replies = echoes(self.src, self.dst, 8), echoes(self.dst, self.src, 0)
        if len(requests) < self.count:
            return Outcome(self.text, False, f"expected {self.count} echo requests from {self.src}; "
                           f"saw {len(requests)}", (requests + replies)[:SHOWN], self.capture)
        answered = {(f.pkt[ICMP].id, f.pkt[ICMP].seq) for f in replies}
        missing = [f for f in requests if (f.pkt[ICMP].id, f.pkt[ICMP].seq) not in answered]
        if missing:
            m = missing[0].pkt[ICMP]
            return Outcome(self.text, False, f"expected an echo reply with id={m.id} seq={m.seq} from "
                           f"{self.dst}; saw none", (requests + replies)[:SHOWN], self.capture)
        return Outcome(self.text, True, f"{len(requests)} requests, each answered",
                       sorted(requests + replies, key=lambda f: f.number)[:SHOWN], self.capture)


class Fragments(Assertion):
    """A claim about the fragments of the one datagram src > dst seen in a window of a capture."""

    def __init__(self, capture: str, src: Endpoint, dst: Endpoint, text: str,
                 check: Callable[[list[Frame]], str | None], after: str | None = None,
                 before: str | None = None):
        self.capture, self.src, self.dst, self.text, self.check = capture, src, dst, text, check
        self.after, self.before = after, before

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, self.before)
        frags = [f for f in window if IP in f.pkt and f.pkt[IP].src == ip_of(self.src)
                 and f.pkt[IP].dst == ip_of(self.dst) and (f.pkt[IP].flags.MF or f.pkt[IP].frag)]
        if len(frags) < 2:
            return Outcome(self.text, False, f"expected the datagram {self.src} > {self.dst} in fragments on "
                           f"{self.capture}; saw {len(frags) or 'none'}",
                           [f for f in window if IP in f.pkt][:SHOWN], self.capture)
        problem = self.check(frags)
        return Outcome(self.text, problem is None, problem or f"{len(frags)} fragments", frags[:SHOWN],
                       self.capture)


def fit_mtu(mtu: int) -> Callable[[list[Frame]], str | None]:
    def check(frags: list[Frame]) -> str | None:
        big = next((f for f in frags if f.pkt[IP].len > mtu), None)
        return f"frame {big.number} is {big.pkt[IP].len} bytes, more than the MTU {mtu}" if big else None
    return check


def offsets_in_eighths(frags: list[Frame]) -> str | None:
    """Offsets count 8-byte units, each continuing where the previous fragment's data ended."""
    at = 0
    for f in sorted(frags, key=lambda f: f.pkt[IP].frag):
        ip = f.pkt[IP]
        if ip.frag * 8 != at:
            return f"frame {f.number} has offset {ip.frag} ({ip.frag * 8} bytes); expected {at // 8} ({at} bytes)"
        data = ip.len - ip.ihl * 4
        if ip.flags.MF and data % 8:
            return f"frame {f.number} carries {data} bytes, not a multiple of 8, yet is not the last"
        at += data
    return None


def more_fragments_flags(frags: list[Frame]) -> str | None:
    ordered = sorted(frags, key=lambda f: f.pkt[IP].frag)
    bad = next((f for f in ordered[:-1] if not f.pkt[IP].flags.MF), None)
    if bad:
        return f"frame {bad.number} (offset {bad.pkt[IP].frag}) lacks MF, but more fragments follow"
    if ordered[-1].pkt[IP].flags.MF:
        return f"the last fragment (frame {ordered[-1].number}) still has MF set"
    return None


def one_identification(frags: list[Frame]) -> str | None:
    ids = sorted({f.pkt[IP].id for f in frags})
    return f"fragments carry {len(ids)} identifications: {ids}" if len(ids) > 1 else None


def reassembles_to(data: bytes) -> Callable[[list[Frame]], str | None]:
    def check(frags: list[Frame]) -> str | None:
        whole = [p for p in defragment(PacketList([f.pkt.copy() for f in frags])) if UDP in p]
        if not whole:
            return "the fragments do not reassemble into a UDP datagram (a piece is missing)"
        got = bytes(whole[0][UDP].payload)
        if got != data:
            return f"reassembled {len(got)} bytes of data; expected the {len(data)} bytes sent"
        return None
    return check
