"""The DHCP server on a node: one UDP socket on port 67, the sans-I/O server, the lease journal.

Each wake-up drains every datagram waiting, answers them all, writes the batch of lease changes to
the journal with one sync, and only then sends the replies: an ACK never goes out for a lease that
is not on disk (group commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from ipaddress import IPv4Address

from .leases import LeaseJournal
from .net import BROADCAST_MAC, Link, LinkSocket, links, recv_with_link, udp_socket
from .packet import CLIENT_PORT, SERVER_PORT, DhcpPacket, MalformedPacket
from .pools import ServerConfig
from .server import DhcpServer, Reply

log = logging.getLogger("dhcp.server")
BATCH = 32  # replies sent per journal sync: larger batches sync less but send bigger bursts


class ServerDaemon:
    def __init__(self, config: ServerConfig, journal: LeaseJournal, port: int = SERVER_PORT):
        self.journal = journal
        self.server = DhcpServer(config, journal.load())
        self.port = port
        self.links: dict[int, Link] = links()
        self._link_sockets: dict[int, LinkSocket] = {}
        self.sock = udp_socket(port, pktinfo=True, rcvbuf=1 << 20)
        self.bad = 0
        self._lapsed: set[tuple[IPv4Address, float]] = set()

    def use(self, config: ServerConfig) -> None:
        """Serve the pools of `config` from now on (SIGHUP); leases already granted stay as they are."""
        self.server.use(config)
        log.info("configuration reloaded: pools %s", ", ".join(p.name for p in config.pools))

    def _link(self, index: int) -> Link | None:
        if index not in self.links:
            self.links = links()  # an interface appeared after start
        return self.links.get(index)

    def on_readable(self) -> None:
        replies: list[tuple[Reply, Link]] = []
        now = time.time()
        for _ in range(BATCH):
            got = recv_with_link(self.sock)
            if got is None:
                break
            data, sender, index = got
            link = self._link(index)
            if link is None or link.address is None:
                continue
            try:
                pkt = DhcpPacket.decode(data)
            except MalformedPacket as e:
                self.bad += 1
                log.debug("malformed datagram from %s: %s", sender[0], e)
                continue
            reply = self.server.handle(pkt, now, link.address)
            if reply is not None:
                replies.append((reply, link))
        changes = self.server.take_changes()
        if changes:
            self.journal.append(changes)
            self.journal.maybe_compact(self.server.leases)
        for reply, link in replies:
            try:
                self._send(reply, link)
            except OSError as e:
                log.warning("cannot send %s to %s: %s", reply.packet.message_type, reply.ip, e)

    def _send(self, reply: Reply, link: Link) -> None:
        data = reply.packet.encode()
        if reply.to == "relay":
            self.sock.sendto(data, (str(reply.ip), self.port))
        elif reply.to == "unicast":
            self.sock.sendto(data, (str(reply.ip), CLIENT_PORT))
        else:
            out = self._link_sockets.get(link.index)
            if out is None:
                out = self._link_sockets[link.index] = LinkSocket(link.name)
            mac = BROADCAST_MAC if reply.to == "broadcast" else reply.mac[:6]
            assert link.address is not None
            out.send(link.address.ip, reply.ip, mac, self.port, CLIENT_PORT, data)

    def housekeeping(self) -> None:
        lapsed = {(x.ip, x.expires) for x in self.server.expire(time.time())}
        for ip, _ in lapsed - self._lapsed:
            log.info("lease of %s expired; the address is free again", ip)
        self._lapsed = lapsed

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self.on_readable)
        pools = ", ".join(f"{p.name} ({p.first}-{p.last})" for p in self.server.config.pools)
        log.info("serving pools %s with %d lease(s) from %s", pools, len(self.server.leases), self.journal.path)
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    self.housekeeping()
        finally:
            loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.journal.close()
            for s in self._link_sockets.values():
                s.close()

