"""The DHCP client as a sans-I/O state machine (RFC 2131 section 4.4, figure 5; no sockets, no clock).

    client = DhcpClient(mac)
    actions = client.start(now)            # then client.receive(packet, now) and client.tick(now)
    for a in actions: ...                  # Send(packet, to=None|server), Bind(lease), Unbind()
    wake up at client.deadline

INIT -> SELECTING (DISCOVER broadcast) -> REQUESTING (REQUEST broadcast, same xid) -> BOUND;
at T1 RENEWING (REQUEST unicast to the server), at T2 REBINDING (REQUEST broadcast), at expiry back
to INIT. `now` is a monotonic clock in seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv4Network

from .packet import ZERO, DhcpPacket, MessageType, Op, Opt


class State(Enum):
    INIT = "INIT"
    SELECTING = "SELECTING"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    RENEWING = "RENEWING"
    REBINDING = "REBINDING"


@dataclass
class ClientLease:
    address: IPv4Address
    netmask: IPv4Address
    server: IPv4Address
    lease_time: int
    t1: int
    t2: int
    bound_at: float
    routers: list[IPv4Address] = field(default_factory=list)
    dns: list[IPv4Address] = field(default_factory=list)
    domain: str | None = None

    @property
    def prefix(self) -> int:
        return IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen

    @classmethod
    def from_ack(cls, ack: DhcpPacket, now: float) -> ClientLease:
        o = ack.options
        t = int(o.get(Opt.LEASE_TIME, 3600))  # type: ignore[call-overload]
        return cls(address=ack.yiaddr, netmask=o.get(Opt.SUBNET_MASK, IPv4Address("255.255.255.0")),  # type: ignore[arg-type]
                   server=o.get(Opt.SERVER_ID, ZERO), lease_time=t,  # type: ignore[arg-type]
                   t1=int(o.get(Opt.RENEWAL_TIME, t // 2)),  # type: ignore[call-overload]
                   t2=int(o.get(Opt.REBINDING_TIME, t * 7 // 8)),  # type: ignore[call-overload]
                   bound_at=now, routers=list(o.get(Opt.ROUTER, [])),  # type: ignore[call-overload]
                   dns=list(o.get(Opt.DNS_SERVERS, [])),  # type: ignore[call-overload]
                   domain=o.get(Opt.DOMAIN_NAME))  # type: ignore[arg-type]


@dataclass
class Send:
    packet: DhcpPacket
    to: IPv4Address | None = None  # None: broadcast on the link (from ciaddr, or 0.0.0.0 with no address)


@dataclass
class Bind:
    lease: ClientLease


@dataclass
class Unbind:
    address: IPv4Address
    why: str


Action = Send | Bind | Unbind
PARAMETERS = [Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS_SERVERS, Opt.DOMAIN_NAME, Opt.LEASE_TIME,
              Opt.RENEWAL_TIME, Opt.REBINDING_TIME]


class DhcpClient:
    def __init__(self, mac: bytes, *, hostname: str | None = None, rng: random.Random | None = None,
                 first_retry: float = 1.0, max_retry: float = 16.0, request_tries: int = 4):
        # RFC 2131 suggests 4 s, doubling to 64 s; a lab starts its clients beside its servers, so the
        # first DISCOVER often goes out before the server listens: retry sooner.
        self.mac, self.hostname = mac, hostname
        self.rng = rng or random.Random()
        self.first_retry, self.max_retry, self.request_tries = first_retry, max_retry, request_tries
        self.state = State.INIT
        self.lease: ClientLease | None = None
        self.xid = 0
        self.deadline: float | None = None
        self._tries = 0
        self._started = 0.0
        self._offer: DhcpPacket | None = None

    # ---- events ------------------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        self.state, self._offer, self._tries, self._started = State.SELECTING, None, 0, now
        self.xid = self.rng.getrandbits(32)
        return self._send_discover(now)

    def receive(self, pkt: DhcpPacket, now: float) -> list[Action]:
        if pkt.op != Op.BOOTREPLY or pkt.xid != self.xid or pkt.chaddr[:6] != self.mac:
            return []
        mtype = pkt.message_type
        if self.state == State.SELECTING and mtype == MessageType.OFFER and pkt.yiaddr != ZERO:
            self.state, self._offer, self._tries = State.REQUESTING, pkt, 0
            return self._send_request(now)
        if self.state in (State.REQUESTING, State.RENEWING, State.REBINDING):
            if mtype == MessageType.ACK and pkt.yiaddr != ZERO:
                return self._bound(pkt, now)
            if mtype == MessageType.NAK:
                return self._restart(now, "the server said NAK: "
                                     + str(pkt.options.get(Opt.MESSAGE, "no reason given")))
        return []

    def tick(self, now: float) -> list[Action]:
        if self.deadline is None or now < self.deadline:
            return []
        if self.state == State.INIT:
            return self.start(now)
        if self.state == State.SELECTING:
            return self._send_discover(now)
        if self.state == State.REQUESTING:
            if self._tries >= self.request_tries:
                return self._restart(now, "no ACK to REQUEST")
            return self._send_request(now)
        lease = self.lease
        assert lease is not None
        t2, end = lease.bound_at + lease.t2, lease.bound_at + lease.lease_time
        if now >= end:
            return self._restart(now, f"lease of {lease.address} expired")
        if now >= t2:
            if self.state != State.REBINDING:
                self.state, self.xid = State.REBINDING, self.rng.getrandbits(32)
            return self._send_renewal(now, broadcast=True, until=end)
        if self.state == State.BOUND:
            self.state, self.xid = State.RENEWING, self.rng.getrandbits(32)
        return self._send_renewal(now, broadcast=False, until=t2)

    def renew(self, now: float) -> list[Action]:
        """Renew now rather than at T1 (as `udhcpc` does on SIGUSR1): a REQUEST unicast to the server."""
        if self.lease is None or self.state != State.BOUND:
            return []
        self.state, self.xid = State.RENEWING, self.rng.getrandbits(32)
        return self._send_renewal(now, broadcast=False, until=self.lease.bound_at + self.lease.t2)

    def release(self, now: float) -> list[Action]:
        """Give the lease back (on shutdown): RELEASE unicast to the server, then stop using it."""
        if self.lease is None or self.state not in (State.BOUND, State.RENEWING, State.REBINDING):
            return []
        lease = self.lease
        pkt = self._packet(MessageType.RELEASE, ciaddr=lease.address)
        pkt.options[Opt.SERVER_ID] = lease.server
        self.state, self.lease, self.deadline = State.INIT, None, None
        return [Send(pkt, to=lease.server), Unbind(lease.address, "released")]

    def decline(self, now: float) -> list[Action]:
        """The offered address answered ARP: tell the server (DECLINE) and start again."""
        if self.lease is None:
            return []
        lease = self.lease
        pkt = self._packet(MessageType.DECLINE)
        pkt.options[Opt.REQUESTED_IP] = lease.address
        pkt.options[Opt.SERVER_ID] = lease.server
        self.lease, self.state, self.deadline = None, State.INIT, now + 10
        return [Send(pkt), Unbind(lease.address, "declined: in use by another host")]

    # ---- steps -------------------------------------------------------------------------------------

    def _send_discover(self, now: float) -> list[Action]:
        pkt = self._packet(MessageType.DISCOVER)
        pkt.secs = min(int(now - self._started), 0xFFFF)
        self._backoff(now)
        return [Send(pkt)]

    def _send_request(self, now: float) -> list[Action]:
        offer = self._offer
        assert offer is not None
        pkt = self._packet(MessageType.REQUEST)
        pkt.secs = min(int(now - self._started), 0xFFFF)
        pkt.options[Opt.REQUESTED_IP] = offer.yiaddr
        pkt.options[Opt.SERVER_ID] = offer.options.get(Opt.SERVER_ID, offer.siaddr)
        self._backoff(now)
        return [Send(pkt)]

    def _send_renewal(self, now: float, broadcast: bool, until: float) -> list[Action]:
        lease = self.lease
        assert lease is not None
        pkt = self._packet(MessageType.REQUEST, ciaddr=lease.address)
        # RFC 2131 section 4.4.5: wait half the time left until T2 (or expiry), at least 60 s;
        # scaled down for short test leases.
        self.deadline = now + max(min(60.0, lease.lease_time / 8), (until - now) / 2)
        self.deadline = min(self.deadline, until) if until > now else until
        return [Send(pkt, to=None if broadcast else lease.server)]

    def _bound(self, ack: DhcpPacket, now: float) -> list[Action]:
        self.lease = ClientLease.from_ack(ack, now)
        if self.lease.server == ZERO and self._offer is not None:
            self.lease.server = self._offer.options.get(Opt.SERVER_ID, ZERO)  # type: ignore[assignment]
        self.state, self._tries = State.BOUND, 0
        self.deadline = now + self.lease.t1
        return [Bind(self.lease)]

    def _restart(self, now: float, why: str) -> list[Action]:
        out: list[Action] = []
        if self.lease is not None:
            out.append(Unbind(self.lease.address, why))
        self.lease, self.state, self._offer = None, State.INIT, None
        self.deadline = now + self.first_retry  # RFC 2131 section 3.1: wait before restarting
        return out

    def _backoff(self, now: float) -> None:
        wait = min(self.first_retry * 2 ** self._tries, self.max_retry)
        self.deadline = now + wait + self.rng.uniform(-0.1, 0.1) * wait
        self._tries += 1

    def _packet(self, mtype: MessageType, ciaddr: IPv4Address = ZERO) -> DhcpPacket:
        opts: dict[int, object] = {Opt.MESSAGE_TYPE: mtype}
        if mtype in (MessageType.DISCOVER, MessageType.REQUEST):
            opts[Opt.PARAMETER_LIST] = PARAMETERS
            if self.hostname:
                opts[Opt.HOSTNAME] = self.hostname
        return DhcpPacket(op=Op.BOOTREQUEST, xid=self.xid, chaddr=self.mac, ciaddr=ciaddr, options=opts)
