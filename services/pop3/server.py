"""The thin asyncio shell around POP3Session: a Protocol per connection and the idle timeout (RFC 1939: at
least 10 minutes; the session then ends without UPDATE, so nothing is deleted)."""

from __future__ import annotations

import asyncio

from ..mail.maildrop import Maildrop
from .session import CLOSE, POP3Session, password_checker


class POP3Server:
    def __init__(self, maildrop: Maildrop, accounts: dict[str, str], hostname: str, idle_timeout: float = 600.0):
        self.maildrop, self.hostname, self.idle_timeout = maildrop, hostname, idle_timeout
        self.check = password_checker(accounts)

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self)


class _Connection(asyncio.Protocol):
    def __init__(self, server: POP3Server):
        self.server = server
        self.session = POP3Session(server.check, server.maildrop.open_mailbox, server.hostname)
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.session.greeting())
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.server.idle_timeout, self._idle)

    def _idle(self) -> None:
        self.transport.write(b"-ERR idle timeout, closing connection\r\n")
        self.session.abort()
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._arm()
        out = []
        for ev in self.session.receive(data):
            if ev is CLOSE:
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            out.append(ev)
        if out:
            self.transport.write(b"".join(out))

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.session.abort()  # no QUIT: the mailbox is released and nothing is deleted
