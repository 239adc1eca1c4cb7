"""The DHCP server as a sans-I/O state machine (RFC 2131 sections 4.3 and 4.4; no sockets, no clock).

    server = DhcpServer(config, leases=journal.load())
    reply = server.handle(packet, now=time.time(), iface=IPv4Interface("10.0.3.60/24"))
    journal.append(server.take_changes())   # durable before the ACK goes out
    send(reply)

`iface` is the server's own address on the interface the request arrived on: it picks the pool of a
client on the server's own segment and is the default server identifier. Relayed requests pick their
pool by giaddr, renewals by ciaddr. Offers are held in memory only; a lease is written when ACKed.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Interface

from .leases import BOUND, DECLINED, RELEASED, Lease
from .packet import BROADCAST_FLAG, ZERO, DhcpPacket, MessageType, Op, Opt
from .pools import Pool, ServerConfig

log = logging.getLogger("dhcp.server")
LIMITED_BROADCAST = IPv4Address("255.255.255.255")


@dataclass
class Reply:
    """A reply and where RFC 2131 section 4.1 says it goes.

    to: "relay" (giaddr, port 67), "unicast" (ciaddr, port 68), "broadcast" (255.255.255.255 on the
    arrival link), "hardware" (yiaddr at chaddr on the arrival link: the client has no address yet).
    """

    packet: DhcpPacket
    to: str
    ip: IPv4Address

    @property
    def mac(self) -> bytes:
        return self.packet.chaddr


def client_key(pkt: DhcpPacket) -> str:
    cid = pkt.options.get(Opt.CLIENT_ID)
    return "id:" + cid.hex() if isinstance(cid, bytes) and cid else pkt.mac


class DhcpServer:
    def __init__(self, config: ServerConfig, leases: dict[IPv4Address, Lease] | None = None):
        self.config = config
        self.leases: dict[IPv4Address, Lease] = dict(leases or {})
        self.by_client: dict[str, IPv4Address] = {}
        for lease in sorted(self.leases.values(), key=lambda x: x.expires):
            if lease.state != DECLINED:
                self.by_client[lease.client] = lease.ip
        self.offers: dict[IPv4Address, tuple[str, float]] = {}  # address -> (client, held until)
        self._offer_of: dict[str, IPv4Address] = {}  # client -> address offered to it
        self._cursor = {p.name: int(p.first) for p in config.pools}
        self._returned: deque[IPv4Address] = deque()  # offered, never leased, offer lapsed: free again
        self._changes: list[Lease] = []

    def use(self, config: ServerConfig) -> None:
        """A new configuration (a reload): pools, options and times apply to the next request."""
        self.config = config
        self._cursor = {p.name: int(p.first) for p in config.pools}

    # ---- the one entry point ---------------------------------------------------------------------

    def handle(self, pkt: DhcpPacket, now: float, iface: IPv4Interface | None = None) -> Reply | None:
        if pkt.op != Op.BOOTREQUEST or pkt.message_type is None:
            return None
        mtype = pkt.message_type
        pool = self._pool(pkt, iface)
        sid = self.config.server_id or (iface.ip if iface else None)
        if sid is None:
            return None
        if pool is None:
            log.debug("%s from %s: no pool for this client's network; ignored", mtype.name, pkt.mac)
            return None
        handler = {
            MessageType.DISCOVER: self._discover,
            MessageType.REQUEST: self._request,
            MessageType.DECLINE: self._decline,
            MessageType.RELEASE: self._release,
            MessageType.INFORM: self._inform,
        }.get(mtype)
        return handler(pkt, pool, sid, now) if handler else None

    def take_changes(self) -> list[Lease]:
        """Leases changed since the last call: write them to disk before sending the replies."""
        out, self._changes = self._changes, []
        return out

    def expire(self, now: float) -> list[Lease]:
        """Forget lapsed offers; return the bound leases that have run out (their addresses are free)."""
        for ip in [ip for ip, (_, until) in self.offers.items() if until <= now]:
            client = self.offers.pop(ip)[0]
            if self._offer_of.get(client) == ip:
                del self._offer_of[client]
            self._returned.append(ip)
        return [x for x in self.leases.values() if x.state == BOUND and x.expires <= now]

    # ---- messages ----------------------------------------------------------------------------------

    def _discover(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, now: float) -> Reply | None:
        client = client_key(pkt)
        ip = self._choose(pool, client, pkt.mac, pkt.options.get(Opt.REQUESTED_IP), now)
        if ip is None:
            log.warning("DISCOVER from %s: pool %s is exhausted (%d addresses, none free); no offer",
                        pkt.mac, pool.name, pool.size)
            return None
        previous = self._offered_to(client)
        if previous is not None and previous != ip:
            del self.offers[previous]
            self._returned.append(previous)
        self.offers[ip] = (client, now + self.config.offer_hold)
        self._offer_of[client] = ip
        log.debug("DISCOVER from %s xid %08x: OFFER %s", pkt.mac, pkt.xid, ip)
        return self._reply(pkt, MessageType.OFFER, sid, pool, yiaddr=ip, lease=True)

    def _request(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, now: float) -> Reply | None:
        client = client_key(pkt)
        chosen = pkt.options.get(Opt.SERVER_ID)
        requested = pkt.options.get(Opt.REQUESTED_IP)
        if chosen is not None:  # SELECTING
            if chosen != sid:
                self._drop_offer(client)  # the client took another server's offer
                return None
            ip = requested if isinstance(requested, IPv4Address) else pkt.ciaddr
            if ip != ZERO and self._grantable(pool, ip, client, pkt.mac, now):
                return self._ack(pkt, pool, sid, ip, client, now)
            return self._nak(pkt, sid, f"{ip} is not available to you")
        if isinstance(requested, IPv4Address) and pkt.ciaddr == ZERO:  # INIT-REBOOT
            if requested not in pool.subnet:
                return self._nak(pkt, sid, f"{requested} is on the wrong network (here: {pool.subnet})")
            lease = self.leases.get(requested)
            if lease is None or lease.client != client:
                if lease is not None and lease.active(now):
                    return self._nak(pkt, sid, f"{requested} is leased to another client")
                return None  # no record of this client: stay silent (RFC 2131 section 4.3.2)
            if not pool.assignable(requested, pkt.mac):
                return self._nak(pkt, sid, f"{requested} is no longer assignable")
            return self._ack(pkt, pool, sid, requested, client, now)
        ip = pkt.ciaddr  # RENEWING (unicast) or REBINDING (broadcast)
        if ip == ZERO:
            return None
        if self._grantable(pool, ip, client, pkt.mac, now):
            return self._ack(pkt, pool, sid, ip, client, now)
        return self._nak(pkt, sid, f"{ip} is not leased to you")

    def _decline(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, now: float) -> None:
        ip = pkt.options.get(Opt.REQUESTED_IP)
        if pkt.options.get(Opt.SERVER_ID) not in (None, sid) or not isinstance(ip, IPv4Address):
            return None
        client = client_key(pkt)
        # RFC 2131 section 4.3.3: a DECLINE speaks for an address the server gave this very client; from
        # anyone else it would let a stranger empty the pool, or fill the journal with addresses of no pool
        lease = self.leases.get(ip)
        leased = lease is not None and lease.client == client and lease.state == BOUND and lease.active(now)
        offered = self.offers.get(ip, ("",))[0] == client
        if not (leased or offered) or ip not in pool.subnet:
            log.debug("DECLINE from %s for %s ignored: that address was not offered or leased to it", pkt.mac, ip)
            return None
        log.warning("DECLINE from %s: %s is in use by someone else; held out of pool %s for %d s",
                    pkt.mac, ip, pool.name, self.config.decline_hold)
        self._store(Lease(ip=ip, client="", mac="", expires=now + self.config.decline_hold, state=DECLINED))
        if self.by_client.get(client) == ip:
            del self.by_client[client]
        self.offers.pop(ip, None)
        return None

    def _release(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, now: float) -> None:
        lease = self.leases.get(pkt.ciaddr)
        if lease is not None and lease.client == client_key(pkt) and lease.state == BOUND:
            log.info("RELEASE from %s: %s is free again", pkt.mac, lease.ip)
            self._store(replace(lease, state=RELEASED, expires=now))
        return None

    def _inform(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, now: float) -> Reply:
        return self._reply(pkt, MessageType.ACK, sid, pool, yiaddr=ZERO, lease=False)

    # ---- addresses ---------------------------------------------------------------------------------

    def _pool(self, pkt: DhcpPacket, iface: IPv4Interface | None) -> Pool | None:
        if pkt.giaddr != ZERO:
            return self.config.pool_for(pkt.giaddr)
        if pkt.ciaddr != ZERO and pkt.message_type in (MessageType.REQUEST, MessageType.INFORM,
                                                        MessageType.RELEASE):
            return self.config.pool_for(pkt.ciaddr)
        return self.config.pool_for(iface.ip) if iface else None

    def _taken(self, ip: IPv4Address, client: str, now: float) -> bool:
        """Is the address someone else's right now (a live lease or a held offer)?"""
        lease = self.leases.get(ip)
        if lease is not None and lease.active(now) and lease.client != client:
            return True
        offer = self.offers.get(ip)
        return offer is not None and offer[0] != client and offer[1] > now

    def _grantable(self, pool: Pool, ip: IPv4Address, client: str, mac: str, now: float) -> bool:
        if ip not in pool.subnet or self._taken(ip, client, now):
            return False
        reserved = pool.reservations.get(mac)
        if reserved is not None:
            return ip == reserved
        return pool.dynamic(ip)

    def _choose(self, pool: Pool, client: str, mac: str, requested: object, now: float) -> IPv4Address | None:
        reserved = pool.reservations.get(mac)
        if reserved is not None:
            return reserved
        for ip in (self.by_client.get(client), self._offered_to(client), requested):
            if isinstance(ip, IPv4Address) and self._grantable(pool, ip, client, mac, now):
                return ip
        return self._never_used(pool, client, now) or self._reclaim(pool, client, now)

    def _never_used(self, pool: Pool, client: str, now: float) -> IPv4Address | None:
        """A free address never leased: first those whose offer lapsed, then the next past the cursor.

        The cursor only moves forward past addresses leased, offered or not dynamic, so finding one
        costs O(1) amortised however many offers are outstanding.
        """
        for _ in range(len(self._returned)):
            ip = self._returned.popleft()
            if ip in pool.subnet and ip not in self.leases and pool.dynamic(ip) and ip not in self.offers:
                return ip
            if ip not in pool.subnet:
                self._returned.append(ip)  # another pool's
        i, last = self._cursor[pool.name], int(pool.last)
        while i <= last:
            ip = IPv4Address(i)
            i += 1
            if ip not in self.leases and ip not in self.offers and pool.dynamic(ip):
                self._cursor[pool.name] = i
                return ip
        self._cursor[pool.name] = i
        return None

    def _reclaim(self, pool: Pool, client: str, now: float) -> IPv4Address | None:
        """The free address whose last lease ended longest ago: its old client is least likely back."""
        free = [x for x in self.leases.values()
                if x.ip in pool.subnet and not x.active(now) and pool.dynamic(x.ip)
                and not self._taken(x.ip, client, now)]
        if not free:
            return None
        lease = min(free, key=lambda x: x.expires)
        if lease.state == BOUND:
            log.info("lease of %s to %s expired; the address goes to %s", lease.ip, lease.mac, client)
        return lease.ip

    def _offered_to(self, client: str) -> IPv4Address | None:
        ip = self._offer_of.get(client)
        if ip is not None and self.offers.get(ip, ("",))[0] != client:
            del self._offer_of[client]  # the offer was withdrawn (the address was leased or declined)
            return None
        return ip

    def _drop_offer(self, client: str) -> None:
        ip = self._offered_to(client)
        if ip is not None:
            del self.offers[ip]
            del self._offer_of[client]
            self._returned.append(ip)

    # ---- replies -----------------------------------------------------------------------------------

    def _ack(self, pkt: DhcpPacket, pool: Pool, sid: IPv4Address, ip: IPv4Address, client: str,
             now: float) -> Reply:
        lease_time = pool.times()[0]
        host = pkt.options.get(Opt.HOSTNAME)
        old = self.by_client.get(client)
        if old is not None and old != ip:
            prev = self.leases.get(old)
            if prev is not None and prev.client == client and prev.state == BOUND:
                self._store(replace(prev, state=RELEASED, expires=now))
        self._store(Lease(ip=ip, client=client, mac=pkt.mac, expires=now + lease_time,
                          hostname=host if isinstance(host, str) else ""))
        self.by_client[client] = ip
        self.offers.pop(ip, None)
        self._offer_of.pop(client, None)
        log.info("%s: %s leased to %s for %d s", pkt.message_type.name if pkt.message_type else "?",
                 ip, pkt.mac, lease_time)
        return self._reply(pkt, MessageType.ACK, sid, pool, yiaddr=ip, lease=True)

    def _nak(self, pkt: DhcpPacket, sid: IPv4Address, why: str) -> Reply:
        log.info("REQUEST from %s: NAK (%s)", pkt.mac, why)
        out = self._base(pkt)
        out.options = {Opt.MESSAGE_TYPE: MessageType.NAK, Opt.SERVER_ID: sid, Opt.MESSAGE: why}
        if pkt.giaddr != ZERO:
            out.flags |= BROADCAST_FLAG  # the relay must broadcast it (RFC 2131 section 4.3.2)
            return Reply(out, "relay", pkt.giaddr)
        return Reply(out, "broadcast", LIMITED_BROADCAST)

    def _reply(self, pkt: DhcpPacket, mtype: MessageType, sid: IPv4Address, pool: Pool,
               yiaddr: IPv4Address, lease: bool) -> Reply:
        out = self._base(pkt)
        out.yiaddr = yiaddr
        opts: dict[int, object] = {Opt.MESSAGE_TYPE: mtype, Opt.SERVER_ID: sid}
        if lease:
            t, t1, t2 = pool.times()
            opts |= {Opt.LEASE_TIME: t, Opt.RENEWAL_TIME: t1, Opt.REBINDING_TIME: t2}
        out.options = opts | pool.options()
        if pkt.giaddr != ZERO:
            return Reply(out, "relay", pkt.giaddr)
        if pkt.ciaddr != ZERO:
            return Reply(out, "unicast", pkt.ciaddr)
        if pkt.broadcast or yiaddr == ZERO:
            return Reply(out, "broadcast", LIMITED_BROADCAST)
        return Reply(out, "hardware", yiaddr)

    @staticmethod
    def _base(pkt: DhcpPacket) -> DhcpPacket:
        return DhcpPacket(op=Op.BOOTREPLY, xid=pkt.xid, chaddr=pkt.chaddr, htype=pkt.htype, hlen=pkt.hlen,
                          flags=pkt.flags, giaddr=pkt.giaddr, ciaddr=pkt.ciaddr)

    def _store(self, lease: Lease) -> None:
        self.leases[lease.ip] = lease
        self._changes.append(lease)
