"""The FTP server's asyncio shell: a control connection per client runs a Session and does what its events
ask (reply, pause, open a passive listener, run a transfer, abort it, close), with the idle timeouts."""

from __future__ import annotations

import asyncio
import logging
import random
import resource
import socket
from collections import deque
from dataclasses import dataclass

from .accounts import Accounts
from .commands import Reply
from .datachannel import (
    LocalError,
    PassiveListener,
    Progress,
    connect_active,
    receive_file,
    send_bytes,
    send_file,
)
from .events import Abort, Close, ClosePassive, Event, Limits, OpenPassive, Pause, Transfer
from .session import Session

log = logging.getLogger("services.ftp")


@dataclass(frozen=True)
class ServerConfig:
    accounts: Accounts
    limits: Limits = Limits()
    passive_ports: range = range(50000, 51000)
    data_port: int = 20  # active transfers leave from here (RFC 959 3.2: L-1 of the control port)
    idle: float = 300.0  # control connection: seconds without a command
    data_idle: float = 60.0  # data connection: seconds without a byte, or without the client connecting
    max_sessions: int = 0  # more get 421 and are closed; 0: as many as the descriptor limit allows


def sessions_allowed(config: ServerConfig) -> int:
    """config.max_sessions, or what the descriptor limit allows: a session may hold three (control, data
    and passive listener), and the process keeps a few for itself. Turning the rest away with a 421 is
    what RFC 959 offers a busy server; running out of descriptors would refuse them with no word at all
    (libuv accepts and drops what it cannot hold) or leave them hanging in the backlog (asyncio)."""
    if config.max_sessions > 0:
        return config.max_sessions
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, (soft - min(32, soft // 4)) // 3)


class ControlConnection(asyncio.Protocol):
    """One client's control connection: bytes to the session, its events done. A protocol, not a stream
    task: a login costs no task and no timer per command (the idle timeout is one timer, re-armed). On
    uvloop, reads land in the loop's one shared buffer and come here as bytes of their own size."""

    def __init__(self, config: ServerConfig, rng: random.Random, connections: set[ControlConnection],
                 allowed: int = 1 << 20) -> None:
        self.config, self.rng, self.connections, self.allowed = config, rng, connections, allowed
        self.turned_away = False
        self.listener: PassiveListener | None = None
        self.transfer: asyncio.Task | None = None
        self.aborting = False
        self.closed = False
        self._paused: list[Event] | None = None  # events waiting out a Pause
        self._held: list[bytes] = []  # bytes that came during a Pause
        self._reading = True
        self._write_paused = False
        self._receiving = False

    # --- asyncio.Protocol -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        if len(self.connections) >= self.allowed:
            self.turned_away = True
            log.warning("%s: turned away: %d sessions already", transport.get_extra_info("peername")[0],
                        len(self.connections))
            transport.write(Reply.of(421, f"Too many sessions ({self.allowed}); try again later.").encode())
            transport.close()
            return
        sock = transport.get_extra_info("socket")
        # ABOR sent as urgent data (Python's ftplib does) must stay in the stream, not be lost out of band
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)  # (asyncio and uvloop set TCP_NODELAY)
        self.peer = _plain(transport.get_extra_info("peername")[0])
        self.local = _plain(transport.get_extra_info("sockname")[0])
        self.session = Session(self.config.accounts, self.peer, self.local, self.config.limits)
        self.connections.add(self)
        self.last = self.loop.time()
        self._idle = self.loop.call_later(self.config.idle, self._check_idle)
        self.act(self.session.start())

    def data_received(self, data: bytes) -> None:
        if self.turned_away:
            return
        self.last = self.loop.time()
        if self._paused is not None:
            self._held.append(data)
            return
        self.act(self.session.receive(data))
        self._flow()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.turned_away:
            return
        self.closed = True
        self.session.closed = True  # commands still queued behind a transfer die with the connection
        self._idle.cancel()
        self.connections.discard(self)
        if self.transfer is not None and not self._receiving:
            self.transfer.cancel()  # the client is gone: nobody reads what would be sent
        # an upload goes on to the data connection's end (or its idle timeout): bytes the client's
        # kernel saw acknowledged are kept, whatever became of the control connection
        self._drop_listener()

    def pause_writing(self) -> None:  # a client that sends commands but never reads the replies
        if self.turned_away:
            return
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        if self.turned_away:
            return
        self._write_paused = False
        self._flow()

    # --- doing what the session asks ------------------------------------------------------------------
    def act(self, events: list[Event]) -> None:
        if self._paused is not None:
            self._paused += events
            return
        todo = deque(events)
        while todo and not self.transport.is_closing():
            ev = todo.popleft()
            if isinstance(ev, Reply):
                self.transport.write(ev.encode())
            elif isinstance(ev, Pause):
                self._paused = list(todo)
                self.loop.call_later(ev.seconds, self._resume)
                return
            elif isinstance(ev, Close):
                self.closed = True
                self.transport.close()  # after what is buffered has been sent
            elif isinstance(ev, ClosePassive):
                self._drop_listener()
            elif isinstance(ev, OpenPassive):
                self.listener = PassiveListener.open(self.local, self.config.passive_ports, self.rng)
                todo.extend(self.session.passive_listening(self.listener.port) if self.listener
                            else self.session.passive_failed())
            elif isinstance(ev, Transfer):
                self.aborting = False
                self._receiving = ev.kind in ("stor", "appe", "stou")
                self.transfer = self.loop.create_task(self._transfer(ev))
            elif isinstance(ev, Abort):
                if self.transfer is not None:
                    self.aborting = True
                    self.transfer.cancel()

    def _resume(self) -> None:
        events, self._paused = self._paused or [], None
        self.act(events)
        held, self._held = b"".join(self._held), []
        if held and not self.closed:
            self.data_received(held)

    def _flow(self) -> None:
        # bounded memory: stop reading while replies pile up unread, or while commands pile up behind a
        # transfer, and read again once they have gone
        on = not self._write_paused and len(self.session.held) < 64
        if on != self._reading and not self.transport.is_closing():
            (self.transport.resume_reading if on else self.transport.pause_reading)()
            self._reading = on

    def _check_idle(self) -> None:
        waited = self.loop.time() - self.last
        if self.transfer is not None or self._paused is not None or waited < self.config.idle:
            self._idle = self.loop.call_later(max(self.config.idle - waited, 0.05), self._check_idle)
            return
        log.info("%s: idle for %ss, closed", self.peer, self.config.idle)
        self.act(self.session.timed_out())

    def shut_down(self) -> None:
        if not self.closed:
            self.act(self.session.shutting_down())

    def _drop_listener(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    async def _transfer(self, t: Transfer) -> None:
        task = asyncio.current_task()
        idle = self.config.data_idle
        stalled = False
        sock: socket.socket | None = None
        progress = Progress()
        loop = asyncio.get_running_loop()

        def watchdog() -> None:
            nonlocal stalled, timer
            waited = loop.time() - progress.at
            if waited >= idle:
                stalled = True
                task.cancel()
            else:
                timer = loop.call_later(idle - waited, watchdog)

        timer: asyncio.TimerHandle | None = None
        try:
            opening = t.opening
            try:
                if t.active is not None:
                    sock = await connect_active(self.local, self.config.data_port, t.active, idle)
                elif self.listener is None:
                    raise OSError("no passive listener")
                elif (sock := self.listener.waiting(self.peer)) is not None:
                    opening = t.already_open
                else:
                    sock = await self.listener.accept(self.peer, idle)
            except (OSError, TimeoutError) as e:
                log.info("%s: no data connection: %s", self.peer, e or "timed out")
                events = self.session.transfer_failed(425, "Can't open data connection.")
            else:
                self._drop_listener()  # one data connection per transfer
                self.transport.write(opening.encode())
                progress.add(0)
                timer = loop.call_later(idle, watchdog)
                events = await self._move(t, sock, progress)
        except asyncio.CancelledError:
            if not (self.aborting or stalled) or self.closed:
                raise  # the control connection is gone: nothing to tell anyone
            task.uncancel()
            events = (self.session.transfer_aborted() if self.aborting else
                      self.session.transfer_failed(426, "Data connection idle too long; transfer aborted."))
        finally:
            if timer is not None:
                timer.cancel()
            if sock is not None:
                sock.close()
            self._drop_listener()
            self.transfer = None
        log.info("%s: %s %s: %d bytes", self.peer, t.kind.upper(), t.path or "listing", progress.bytes)
        self.last = loop.time()
        self.act(events)
        self._flow()

    async def _move(self, t: Transfer, sock: socket.socket, progress: Progress) -> list[Event]:
        try:
            if t.kind == "list":
                await send_bytes(sock, t.listing, progress)
            elif t.kind == "retr":
                await send_file(sock, t.path, t.offset, t.ascii, progress)
            else:
                await receive_file(sock, t.path, t.kind, t.offset, t.ascii, progress)
        except LocalError as e:
            return self.session.transfer_failed(e.code, f"Local error: {e}.")
        except (ConnectionError, OSError):
            return self.session.transfer_failed(426, "Connection closed; transfer aborted.")
        sock.close()  # MODE S: closing is the end of file the client waits for before the 226
        return self.session.transfer_done(t.kind)


def _plain(addr: str) -> str:
    return addr.removeprefix("::ffff:") if "." in addr else addr


class FtpServer:
    def __init__(self, config: ServerConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.SystemRandom()
        self.connections: set[ControlConnection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        # one protocol object per connection and no task per connection (on uvloop, the daemon's loop when
        # installed, libuv does the accepting; the greeting is connection_made's)
        self.allowed = allowed = sessions_allowed(self.config)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: ControlConnection(self.config, self.rng, self.connections, allowed), host, port,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET, backlog=512, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # stop listening; the sessions below are told and closed here
            self._server = None
        for conn in list(self.connections):
            conn.shut_down()
        for conn in list(self.connections):
            if conn.transfer is not None:
                await asyncio.gather(conn.transfer, return_exceptions=True)
