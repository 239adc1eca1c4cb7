"""DHCP (RFC 2131/2132) in the fields K&R figure 4.24 shows: the message type, xid, yiaddr, giaddr.

    dhcp("OFFER", relay, xid=0x6f0ac6ad, in_pool=("10.0.1.100", "10.0.1.199"))   # a predicate
    Transaction("lan1", [dhcp("DISCOVER", "0.0.0.0"), dhcp("OFFER"), ...], "DORA")  # one xid, taken from the capture

The ACKs seen in a capture name the addresses they lease: after one, laptop1's new address reads as
laptop1 in every frame line and ladder.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.packet import Packet, bind_bottom_up

from ..assertions import Assertion, InOrder, Outcome, Step
from ..match import Endpoint, Match, addressed, who
from . import Describer

if TYPE_CHECKING:
    from ..frames import Names, Traffic

NO_ADDRESS = "0.0.0.0"
KINDS = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}

# A relay and the server talk from port 67 to port 67 (RFC 2131 4.1); scapy before 2.6 decodes only
# 68>67 and 67>68 as BOOTP. bind_bottom_up, not bind_layers: decoding only, so what scapy builds for
# UDP()/BOOTP() stays 68>67. (68>68 never happens: clients only talk to servers and relays.)
bind_bottom_up(UDP, BOOTP, sport=67, dport=67)


def message_type(p: Packet) -> str | None:
    """DISCOVER, OFFER, ... from option 53, or None."""
    for opt in p[DHCP].options:
        if isinstance(opt, tuple) and opt[0] == "message-type":
            return KINDS.get(opt[1], f"type {opt[1]}")
    return None


def dhcp(kind: str | None = None, src: Endpoint = None, dst: Endpoint = None, *, xid: int | None = None,
         yiaddr: str | None = None, giaddr: str | None = None, ciaddr: str | None = None,
         chaddr: str | None = None, in_pool: tuple[str, str] | None = None, label: str = "") -> Match:
    """A DHCP message (of one kind: "DISCOVER", "OFFER", ...), by its IP ends and BOOTP fields
    (chaddr: the client's MAC, "02:..")."""
    def test(p: Packet) -> bool:
        if DHCP not in p or (kind is not None and message_type(p) != kind) or not addressed(p, src, dst):
            return False
        b = p[BOOTP]
        return ((xid is None or b.xid == xid) and (yiaddr is None or b.yiaddr == yiaddr)
                and (giaddr is None or b.giaddr == giaddr) and (ciaddr is None or b.ciaddr == ciaddr)
                and (chaddr is None or mac_of(b.chaddr) == chaddr.lower())
                and (in_pool is None or IPv4Address(in_pool[0]) <= IPv4Address(b.yiaddr) <= IPv4Address(in_pool[1])))

    where = f" {who(src)} > {who(dst)}" if src or dst else ""
    xid_text = f" xid 0x{xid:08x}" if xid is not None else ""
    return Match(label or f"DHCP {kind or 'message'}{where}{xid_text}", test)


def mac_of(chaddr: bytes) -> str:
    return ":".join(f"{b:02x}" for b in chaddr[:6])


class DhcpDescriber(Describer):
    name = "dhcp"
    transports = ("udp",)
    ports = (67, 68)

    def recognizes(self, pkt: Packet) -> bool:
        return DHCP in pkt

    def summary(self, pkt: Packet) -> str:
        """`DHCP OFFER xid 0x6f0ac6ad yiaddr 10.0.1.100 giaddr 10.0.1.1`."""
        b = pkt[BOOTP]
        text = f"DHCP {message_type(pkt)} xid 0x{b.xid:08x}"
        for field in ("yiaddr", "ciaddr", "giaddr"):
            if getattr(b, field) != NO_ADDRESS:
                text += f" {field} {getattr(b, field)}"
        return text

    def arrow(self, pkt: Packet) -> str:
        # the arrow starts at the host: say it has no address yet
        unaddressed = IP in pkt and pkt[IP].src == NO_ADDRESS
        return self.summary(pkt) + (f" from {NO_ADDRESS}" if unaddressed else "")

    def learn(self, pkt: Packet, names: Names) -> None:
        """Each ACK's yiaddr belongs to the node owning its chaddr."""
        if message_type(pkt) == "ACK" and pkt[BOOTP].yiaddr != NO_ADDRESS:
            names.lease(pkt[BOOTP].yiaddr, mac_of(pkt[BOOTP].chaddr))


DESCRIBER = DhcpDescriber()


class Transaction(Assertion):
    """DHCP messages of one transaction, in order: the first step's first packet fixes the transaction
    id (xid) that every later step must carry, so a scenario need not know it in advance."""

    def __init__(self, capture: str, steps: list[Match | Step], text: str, *, after: str | None = None,
                 before: str | None = None):
        self.capture, self.text, self.after, self.before = capture, text, after, before
        self.steps = [s if isinstance(s, Step) else Step(s) for s in steps]

    def evaluate(self, traffic: Traffic) -> Outcome:
        window = self._window(traffic, self.after, self.before)
        first = next((f for f in window if self.steps[0].match(f.pkt)), None)
        if first is None:
            return InOrder(self.capture, self.steps, self.text, after=self.after, before=self.before).evaluate(traffic)
        xid = first.pkt[BOOTP].xid
        same = Match(f"xid 0x{xid:08x}", lambda p: p[BOOTP].xid == xid)
        steps = [Step(s.match & same, s.short) for s in self.steps]
        out = InOrder(self.capture, steps, self.text, after=self.after, before=self.before).evaluate(traffic)
        if out.passed:
            out.why += f", all with xid 0x{xid:08x}"
        return out
