"""Finding the next hop for a mail domain in DNS (RFC 5321 section 5.1): its MX records, lowest preference
first, each exchange's addresses; with no MX, the domain's own address (the implicit MX). Queries go over UDP
to one resolver (the first `nameserver` of /etc/resolv.conf, or --dns), built and parsed by dnslib.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

from dnslib import QTYPE, RCODE, DNSRecord


class MXLookupError(Exception):
    """The lookup failed; `permanent` when the domain does not exist (bounce), else try again later."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Hop:
    preference: int
    name: str
    address: str


def resolver_from_resolv_conf(path: str = "/etc/resolv.conf") -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1]
    except OSError:
        pass
    return None


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self, qid: int):
        self.qid = qid
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = DNSRecord.parse(data)
        except Exception:  # garbage on our port: keep waiting for the real reply
            return
        if reply.header.id == self.qid and not self.answer.done():
            self.answer.set_result(reply)


async def query(server: tuple[str, int], name: str, qtype: str, timeout: float = 2.0,
                tries: int = 3) -> DNSRecord:
    loop = asyncio.get_running_loop()
    for _ in range(tries):
        q = DNSRecord.question(name, qtype)
        q.header.id = random.randrange(1 << 16)
        transport, proto = await loop.create_datagram_endpoint(lambda q=q: _Exchange(q.header.id),
                                                               remote_addr=server)
        try:
            transport.sendto(q.pack())
            return await asyncio.wait_for(proto.answer, timeout)
        except TimeoutError:
            continue
        finally:
            transport.close()
    raise MXLookupError(f"no answer from the DNS server {server[0]} for {name}/{qtype}")


async def next_hops(domain: str, server: tuple[str, int]) -> list[Hop]:
    """Where to send mail for domain, in the order to try."""
    reply = await query(server, domain, "MX")
    rcode = reply.header.rcode
    if rcode == RCODE.NXDOMAIN:
        raise MXLookupError(f"domain {domain} does not exist (NXDOMAIN)", permanent=True)
    if rcode != RCODE.NOERROR:
        raise MXLookupError(f"DNS lookup of {domain}/MX failed: {RCODE.get(rcode)}")
    mxs = sorted(((rr.rdata.preference, str(rr.rdata.label).rstrip(".")) for rr in reply.rr
                  if rr.rtype == QTYPE.MX), key=lambda p: p[0])
    if not mxs:
        mxs = [(0, domain)]  # no MX: the domain's own address is the implicit MX
    glue = {str(rr.rname).rstrip(".").lower(): str(rr.rdata) for rr in reply.ar if rr.rtype == QTYPE.A}
    hops: list[Hop] = []
    for pref, name in mxs:
        if name == "":
            raise MXLookupError(f"domain {domain} accepts no mail (null MX)", permanent=True)
        addrs = [glue[name.lower()]] if name.lower() in glue else []
        if not addrs:
            try:
                a = await query(server, name, "A")
            except MXLookupError:
                continue  # this exchange cannot be found now: the next one may do
            addrs = [str(rr.rdata) for rr in a.rr if rr.rtype == QTYPE.A]
        hops += [Hop(pref, name, addr) for addr in addrs]
    if not hops:
        raise MXLookupError(f"no address for any mail exchanger of {domain}")
    return hops
