"""The resolver on the network: the sans-I/O `Resolver` plus the upstream I/O that drives its resolutions.

Clients asking the same question while it is being resolved share one resolution (a burst of lookups of
a name not yet cached costs one walk down the hierarchy, not one per client).
"""

from __future__ import annotations

import asyncio
import logging

from .resolution import Outcome, Query
from .resolver import Pending, Resolver
from .upstream import exchange

log = logging.getLogger("services.dns.resolver")
MAX_INFLIGHT = 2000  # distinct questions being resolved at once; more get SERVFAIL, not memory


class ResolverService:
    def __init__(self, resolver: Resolver, upstream_port: int = 53, timeout: float = 2.0):
        self.resolver = resolver
        self.upstream_port = upstream_port
        self.timeout = timeout
        self._inflight: dict[tuple, asyncio.Future[Outcome]] = {}

    def handle(self, data: bytes, client: str, tcp: bool) -> bytes | None | asyncio.Future:
        out = self.resolver.handle(data, client, tcp)
        if out is None or isinstance(out, bytes):
            return out
        return asyncio.ensure_future(self._finish(out))

    async def _finish(self, pending: Pending) -> bytes:
        shared = self._inflight.get(pending.key)
        if shared is None:
            if len(self._inflight) >= MAX_INFLIGHT:
                return self.resolver.servfail(pending)
            shared = asyncio.ensure_future(self._drive(pending))
            self._inflight[pending.key] = shared
            shared.add_done_callback(lambda _f, key=pending.key: self._inflight.pop(key, None))
        outcome = await asyncio.shield(shared)
        return self.resolver.reply(pending, outcome)

    async def _drive(self, pending: Pending) -> Outcome:
        step = pending.first
        while isinstance(step, Query):
            reply = await exchange(step.server, step.wire, step.tcp, self.upstream_port, self.timeout,
                                   self.resolver.rng)
            if reply is None:
                log.info("no reply from %s for %s %s%s", step.server, step.qname, step.qtype,
                         " over TCP" if step.tcp else "")
            step = pending.resolution.next(reply)
        assert isinstance(step, Outcome)
        return step
