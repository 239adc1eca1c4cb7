"""The relay agent on a router: one UDP socket on port 67, requests up to the servers, replies down.

Requests count only when they arrive on one of the client-side interfaces given with --iface;
replies are delivered on the interface whose address is their giaddr.
"""

from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Address

from .net import BROADCAST_MAC, Link, LinkError, LinkSocket, link_by_name, recv_with_link, udp_socket
from .packet import CLIENT_PORT, SERVER_PORT, DhcpPacket, MalformedPacket, Op
from .relay import toward_client, toward_server

log = logging.getLogger("dhcp.relay")


class RelayDaemon:
    def __init__(self, servers: list[IPv4Address], ifaces: list[str]):
        self.servers = servers
        self.client_links: dict[int, Link] = {}
        for name in ifaces:
            link = link_by_name(name)
            if link.address is None:
                raise LinkError(f"interface {name} has no IPv4 address: a relay needs one to put in giaddr")
            self.client_links[link.index] = link
        self.by_address = {lk.address.ip: lk for lk in self.client_links.values() if lk.address}
        self.down = {lk.index: LinkSocket(lk.name) for lk in self.client_links.values()}
        self.sock = udp_socket(SERVER_PORT, pktinfo=True, rcvbuf=1 << 20)

    def on_readable(self) -> None:
        while (got := recv_with_link(self.sock)) is not None:
            data, sender, index = got
            try:
                pkt = DhcpPacket.decode(data)
            except MalformedPacket as e:
                log.debug("malformed datagram from %s: %s", sender[0], e)
                continue
            try:
                if pkt.op == Op.BOOTREQUEST:
                    self._up(pkt, index)
                else:
                    self._down(pkt)
            except OSError as e:
                log.warning("cannot forward %s from %s: %s", pkt.message_type, pkt.mac, e)

    def _up(self, pkt: DhcpPacket, index: int) -> None:
        link = self.client_links.get(index)
        if link is None or link.address is None:
            return
        out = toward_server(pkt, link.address.ip)
        if out is None:
            return
        data = out.encode()
        for server in self.servers:
            self.sock.sendto(data, (str(server), SERVER_PORT))
        log.info("%s from %s on %s: relayed to %s with giaddr %s", pkt.message_type.name if pkt.message_type
                 else "BOOTP", pkt.mac, link.name, ", ".join(map(str, self.servers)), out.giaddr)

    def _down(self, pkt: DhcpPacket) -> None:
        where = toward_client(pkt, set(self.by_address))
        if where is None:
            return
        link = self.by_address[where.link]
        data = pkt.encode()
        if where.to == "unicast":
            self.sock.sendto(data, (str(where.ip), CLIENT_PORT))
        else:
            mac = BROADCAST_MAC if where.to == "broadcast" else pkt.chaddr[:6]
            self.down[link.index].send(where.link, where.ip, mac, SERVER_PORT, CLIENT_PORT, data)
        log.info("%s for %s: delivered on %s (%s %s)", pkt.message_type.name if pkt.message_type else "BOOTP",
                 pkt.mac, link.name, where.to, where.ip)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self.on_readable)
        log.info("relaying from %s to %s", ", ".join(lk.name for lk in self.client_links.values()),
                 ", ".join(map(str, self.servers)))
        try:
            await stop.wait()
        finally:
            loop.remove_reader(self.sock.fileno())
            self.sock.close()

