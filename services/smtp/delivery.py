"""The delivery agent (Postfix's queue manager, local and smtp agents in one): takes messages from the
MailQueue, puts those for local domains into the users' Maildirs, relays the others to their domain's MX,
retries with exponential back-off while the next hop fails, and bounces (RFC 3464) after `give_up` seconds
or at once on a permanent (5xx) refusal. A message leaves the queue only when every recipient is done."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from dataclasses import dataclass

from ..mail.maildrop import Maildrop
from .bounce import build_bounce
from .client import TransferError, transfer
from .mx import MXLookupError, next_hops
from .queue import MailQueue, QueuedMessage
from .session import Envelope, Message, Policy

log = logging.getLogger("services.smtp.delivery")


@dataclass
class Schedule:
    retry_min: float = 60.0      # first retry after this; doubles each time
    retry_max: float = 3600.0
    give_up: float = 5 * 86400.0
    relay_port: int = 25         # the port of the next hops (25 on the Internet)
    concurrency: int = 20


class DeliveryAgent:
    def __init__(self, queue: MailQueue, maildrop: Maildrop, policy: Policy, dns: tuple[str, int] | None,
                 schedule: Schedule, clock=time.time):
        self.queue, self.maildrop, self.policy, self.dns = queue, maildrop, policy, dns
        self.schedule, self.clock = schedule, clock
        self._timers: list[tuple[float, int, QueuedMessage]] = []
        self._n = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(schedule.concurrency)
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        for q in self.queue.load():
            log.info("queue: picked up %s for %s", q.queue_id, ", ".join(q.pending))
            self.later(q, q.state.next_try)
        self._tasks.add(asyncio.get_running_loop().create_task(self._run()))

    def submit(self, message: Message) -> None:
        """A message just stored by the server: deliver it now."""
        self.later(self.queue.entry(message, self.clock()), 0.0)

    def later(self, q: QueuedMessage, when: float) -> None:
        self._n += 1
        heapq.heappush(self._timers, (when, self._n, q))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            now = self.clock()
            while self._timers and self._timers[0][0] <= now:
                _, _, q = heapq.heappop(self._timers)
                await self._slots.acquire()
                task = asyncio.get_running_loop().create_task(self._attempt(q))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wake.clear()
            delay = self._timers[0][0] - self.clock() if self._timers else 3600.0
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, delay))
            except TimeoutError:
                pass

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _attempt(self, q: QueuedMessage) -> None:
        try:
            failed: dict[str, str] = {}
            local = [r for r in q.pending if self.policy.is_local(r.rpartition("@")[2])]
            if local and len(local) == len(q.pending) and q.data is not None:
                # the common case, all local and fresh: one trip to a thread delivers and dequeues
                await asyncio.to_thread(self._deliver_local, q, local, q.data, failed, True)
                if not failed:
                    return
            data, q.data = q.data if q.data is not None else await asyncio.to_thread(self.queue.read, q.queue_id), None
            local = [r for r in q.pending if self.policy.is_local(r.rpartition("@")[2])]
            if local:
                await asyncio.to_thread(self._deliver_local, q, local, data, failed)
            by_domain: dict[str, list[str]] = {}
            for r in q.pending:
                if r not in local:
                    by_domain.setdefault(r.rpartition("@")[2].lower(), []).append(r)
            for domain, rcpts in by_domain.items():
                await self._relay(q, domain, rcpts, data, failed)
            await self._finish(q, data, failed)
        except Exception:
            log.exception("delivery of %s failed; will retry", q.queue_id)
            q.state.next_try = self.clock() + self.schedule.retry_max
            self.later(q, q.state.next_try)
        finally:
            self._slots.release()

    def _deliver_local(self, q: QueuedMessage, rcpts: list[str], data: bytes, failed: dict[str, str],
                       dequeue: bool = False) -> None:
        for i, r in enumerate(q.envelope.rcpt_to):
            if r not in rcpts:
                continue
            user = r.rpartition("@")[0].lower()
            if self.maildrop.users and user not in self.maildrop.users:
                failed[r] = "5.1.1 mailbox does not exist"
                continue
            fresh = self.maildrop.deliver(user, data, f"{q.queue_id}.{i}")
            log.info("%s: delivered to %s's mailbox%s", q.queue_id, user, "" if fresh else " (already there)")
            q.state.done.append(r)
        if dequeue and not failed:
            self.queue.remove(q.queue_id)

    async def _relay(self, q: QueuedMessage, domain: str, rcpts: list[str], data: bytes,
                     failed: dict[str, str]) -> None:
        if self.dns is None:
            for r in rcpts:
                q.state.last_error[r] = "4.4.3 no DNS server to find the next hop"
            return
        try:
            hops = await next_hops(domain, self.dns)
        except MXLookupError as e:
            for r in rcpts:
                if e.permanent:
                    failed[r] = f"5.1.2 {e}"
                else:
                    q.state.last_error[r] = f"4.4.3 {e}"
            return
        for hop in hops:
            try:
                log.info("%s: relaying to %s (MX %d %s) for %s", q.queue_id, hop.address, hop.preference,
                         hop.name, ", ".join(rcpts))
                results = await transfer(hop.address, self.schedule.relay_port, self.policy.hostname,
                                         q.envelope.mail_from, rcpts, data)
            except TransferError as e:
                log.info("%s: %s (MX %s): %s", q.queue_id, hop.address, hop.name, e)
                if e.permanent:
                    for r in rcpts:
                        failed[r] = f"5.0.0 {hop.name} said: {e}"
                    return
                for r in rcpts:
                    q.state.last_error[r] = f"4.4.1 {hop.name}: {e}"
                continue  # the next MX, as RFC 5321 section 5.1 says
            for r, reply in results.items():
                if 200 <= reply.code < 300:
                    log.info("%s: relayed to %s for %s: %s", q.queue_id, hop.name, r, reply)
                    q.state.done.append(r)
                elif reply.code >= 500:
                    failed[r] = f"5.0.0 {hop.name} said: {reply}"
                else:
                    q.state.last_error[r] = f"4.0.0 {hop.name} said: {reply}"
            return

    async def _finish(self, q: QueuedMessage, data: bytes, failed: dict[str, str]) -> None:
        now = self.clock()
        if q.pending and not failed and now - q.state.arrival >= self.schedule.give_up:
            failed = {r: f"5.4.7 {q.state.last_error.get(r, 'not delivered')} (gave up after "
                         f"{self.schedule.give_up:.0f} s)" for r in q.pending}
        if failed:
            q.state.done += [r for r in failed if r not in q.state.done]
            await self._bounce(q, data, failed)
        if not q.pending:
            await asyncio.to_thread(self.queue.remove, q.queue_id)
            return
        q.state.attempts += 1
        wait = min(self.schedule.retry_min * 2 ** (q.state.attempts - 1), self.schedule.retry_max)
        q.state.next_try = now + wait
        await asyncio.to_thread(self.queue.save_state, q)
        log.info("%s: deferred for %s, next try in %.0f s", q.queue_id, ", ".join(q.pending), wait)
        self.later(q, q.state.next_try)

    async def _bounce(self, q: QueuedMessage, data: bytes, failed: dict[str, str]) -> None:
        log.info("%s: bouncing to <%s>: %s", q.queue_id, q.envelope.mail_from, failed)
        if not q.envelope.mail_from:
            return  # a bounce that cannot be delivered is dropped, never bounced (RFC 5321 section 4.5.5)
        report = build_bounce(self.policy.hostname, q.envelope.mail_from, q.queue_id, q.state.arrival, failed,
                              data, self.clock())
        message = Message(Envelope(mail_from="", rcpt_to=[q.envelope.mail_from], helo=self.policy.hostname,
                                   client="127.0.0.1"), report, self.queue.new_id())
        await self.queue.store(message)
        self.submit(message)
