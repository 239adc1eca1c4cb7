"""The DHCP client on one interface of a node: gets a lease, puts it on the interface, keeps it.

Until it holds an address the client can neither send from one nor receive unicast through the
kernel, so it speaks through an AF_PACKET socket (broadcast from 0.0.0.0, replies to its MAC).
Renewals go to the server by ordinary unicast UDP. SIGUSR1 renews at once; SIGTERM releases the lease.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from ipaddress import IPv4Address
from pathlib import Path

from .client import Bind, ClientLease, DhcpClient, Send, Unbind
from .net import BROADCAST_MAC, LinkSocket, link_by_name, udp_socket
from .packet import CLIENT_PORT, SERVER_PORT, DhcpPacket, MalformedPacket

log = logging.getLogger("dhcp.client")
LIMITED_BROADCAST = IPv4Address("255.255.255.255")


class ClientDaemon:
    def __init__(self, iface: str, resolv_conf: str | None = "/etc/resolv.conf", default_route: bool = True,
                 first_retry: float = 1.0):
        self.iface = iface
        self.resolv_conf = resolv_conf
        self.default_route = default_route
        link = link_by_name(iface)
        self.core = DhcpClient(link.mac, hostname=socket.gethostname(), first_retry=first_retry)
        self.raw = LinkSocket(iface, port=CLIENT_PORT)
        self.udp = udp_socket(CLIENT_PORT, device=iface)  # unicast renewals; its queue is drained
        self.inbox: asyncio.Queue[DhcpPacket | None] = asyncio.Queue()
        self.bound: ClientLease | None = None
        self._renew_now = False

    def renew_now(self) -> None:
        self._renew_now = True
        self.inbox.put_nowait(None)  # wake the loop

    def _on_raw(self) -> None:
        for _src, _dst, _sport, dport, payload in self.raw.receive():
            if dport != CLIENT_PORT:
                continue
            try:
                self.inbox.put_nowait(DhcpPacket.decode(payload))
            except MalformedPacket as e:
                log.debug("malformed reply: %s", e)

    def _drain_udp(self) -> None:
        try:
            while True:
                self.udp.recv(65535)  # the same replies also came up the AF_PACKET socket
        except BlockingIOError:
            pass

    async def _ip(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode:
            log.warning("ip %s: %s", " ".join(args), err.decode().strip())

    async def perform(self, actions: list) -> None:
        for a in actions:
            if isinstance(a, Send):
                await self._send(a)
            elif isinstance(a, Bind):
                await self._bind(a.lease)
            elif isinstance(a, Unbind):
                await self._unbind(a.address, a.why)

    async def _send(self, a: Send) -> None:
        data = a.packet.encode()
        mtype = a.packet.message_type.name if a.packet.message_type else "?"
        if a.to is None:
            self.raw.send(a.packet.ciaddr, LIMITED_BROADCAST, BROADCAST_MAC, CLIENT_PORT, SERVER_PORT, data)
            log.info("%s xid %08x broadcast on %s", mtype, a.packet.xid, self.iface)
        else:
            try:
                self.udp.sendto(data, (str(a.to), SERVER_PORT))
                log.info("%s xid %08x unicast to %s", mtype, a.packet.xid, a.to)
            except OSError as e:
                log.warning("%s to %s: %s", mtype, a.to, e)

    async def _bind(self, lease: ClientLease) -> None:
        old = self.bound
        if old is not None and old.address != lease.address:
            await self._ip("addr", "del", f"{old.address}/{old.prefix}", "dev", self.iface)
        t = str(lease.lease_time)
        await self._ip("addr", "replace", f"{lease.address}/{lease.prefix}", "brd", "+", "dev", self.iface,
                       "valid_lft", t, "preferred_lft", t)
        if self.default_route and lease.routers:
            await self._ip("route", "replace", "default", "via", str(lease.routers[0]), "dev", self.iface)
        if self.resolv_conf and lease.dns:
            lines = [f"nameserver {d}" for d in lease.dns] + ([f"search {lease.domain}"] if lease.domain else [])
            # In place (truncate, write): in a netns node /etc/resolv.conf is a bind mount, not renamable.
            with open(Path(self.resolv_conf), "w") as f:
                f.write(f"# from DHCP server {lease.server} on {self.iface}\n" + "\n".join(lines) + "\n")
        verb = "renewed" if old is not None and old.address == lease.address else "bound"
        log.info("%s %s/%d on %s from server %s: lease %d s, renew (T1) in %d s, rebind (T2) in %d s",
                 verb, lease.address, lease.prefix, self.iface, lease.server, lease.lease_time, lease.t1, lease.t2)
        self.bound = lease

    async def _unbind(self, address: IPv4Address, why: str) -> None:
        lease = self.bound
        prefix = lease.prefix if lease else 32
        await self._ip("addr", "del", f"{address}/{prefix}", "dev", self.iface)
        self.bound = None
        log.info("gave up %s on %s: %s", address, self.iface, why)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        await self._ip("link", "set", self.iface, "up")
        loop.add_reader(self.raw.fileno(), self._on_raw)
        loop.add_reader(self.udp.fileno(), self._drain_udp)
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(lambda _: self.inbox.put_nowait(None))
        try:
            await self.perform(self.core.start(time.monotonic()))
            while not stop.is_set():
                deadline = self.core.deadline
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    pkt = await asyncio.wait_for(self.inbox.get(), timeout)
                except TimeoutError:
                    pkt = None
                if stop.is_set():
                    break
                now = time.monotonic()
                if pkt is not None:
                    await self.perform(self.core.receive(pkt, now))
                if self._renew_now:
                    self._renew_now = False
                    await self.perform(self.core.renew(now))
                await self.perform(self.core.tick(now))
            await self.perform(self.core.release(time.monotonic()))
        finally:
            stopper.cancel()
            loop.remove_reader(self.raw.fileno())
            loop.remove_reader(self.udp.fileno())
            self.raw.close()
            self.udp.close()

