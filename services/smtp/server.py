"""The thin asyncio shell around SMTPSession: one Protocol per connection, the idle timeout, and the hand-off
of each message to the MailQueue (250 only once it is on disk) and then to the delivery agent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .queue import MailQueue
from .session import CLOSE, Message, Policy, SMTPSession

log = logging.getLogger("services.smtp.server")
MAX_CLIENTS = 1000


class SMTPServer:
    def __init__(self, policy: Policy, queue: MailQueue, accepted: Callable[[Message], None],
                 idle_timeout: float = 300.0):
        self.policy, self.queue, self.accepted, self.idle_timeout = policy, queue, accepted, idle_timeout
        self.clients = 0

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self)


class _Connection(asyncio.Protocol):
    def __init__(self, server: SMTPServer):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: SMTPSession | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        srv = self.server
        srv.clients += 1
        peer = transport.get_extra_info("peername") or ("?", 0)
        if srv.clients > MAX_CLIENTS:
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self.session = SMTPSession(srv.policy, peer[0], new_id=srv.queue.new_id)
        transport.write(self.session.greeting())
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.server.idle_timeout, self._idle)

    def _idle(self) -> None:
        if self.session is not None:
            self._handle(self.session.timeout())

    def data_received(self, data: bytes) -> None:
        if self.session is None:
            return
        self._arm()
        self._handle(self.session.receive(data))

    def _handle(self, events: list) -> None:
        out = []
        for ev in events:
            if isinstance(ev, bytes):
                out.append(ev)
            elif isinstance(ev, Message):
                self.transport.pause_reading()  # the session holds further input until the message is stored
                asyncio.get_running_loop().create_task(self._store(ev))
            elif ev is CLOSE:
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        if out:
            self.transport.write(b"".join(out))

    async def _store(self, message: Message) -> None:
        try:
            await self.server.queue.store(message)
        except OSError:
            events = self.session.not_stored()
        else:
            log.info("%s: from <%s> to %s, %d bytes, client %s", message.queue_id, message.envelope.mail_from,
                     ",".join(message.envelope.rcpt_to), len(message.data), message.envelope.client)
            self.server.accepted(message)
            events = self.session.stored(message.queue_id)
        if self.transport.is_closing():
            return
        self.transport.resume_reading()
        self._handle(events)

    def connection_lost(self, exc) -> None:
        self.server.clients -= 1
        if self.timer is not None:
            self.timer.cancel()
