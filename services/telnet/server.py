"""The Telnet server's thin asyncio shell: one ServerSession per connection, the password checked off the
event loop, the shell on a pty whose master is watched by the loop. When the client goes away the shell's
process group is hung up and reaped; when the shell exits the connection is closed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from pathlib import Path

from . import terminal
from .accounts import Accounts, home_of
from .session import (
    WAIT_TTYPE,
    Action,
    CheckPassword,
    Close,
    Delay,
    Resize,
    ServerSession,
    ShellInput,
    StartShell,
    Trace,
)

log = logging.getLogger("services.telnet")
LOGIN_TIMEOUT = 60.0      # seconds to log in, as login(1) gives
TTYPE_WAIT = 2.0          # seconds to wait for a terminal type a client agreed to send
MAX_CLIENTS = 64
HIGH_WATER = 64 * 1024    # stop reading the shell while this much waits for a slow client


class _Login:
    """One connection's I/O around its ServerSession."""

    def __init__(self, server: TelnetServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server, self.reader, self.writer = server, reader, writer
        self.peer = (writer.get_extra_info("peername") or ("?", 0))[0]
        self.session = ServerSession(server.node, fail_delay=server.fail_delay, terminal_type=server.terminal_type)
        self.proc = None
        self.master = -1
        self.to_shell = bytearray()
        self.shell_done = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def run(self) -> None:
        try:
            await self._act(self.session.start())
            deadline = self.loop.time() + LOGIN_TIMEOUT
            while not self.writer.is_closing():
                wait = None
                if self.session.state == WAIT_TTYPE:
                    wait = TTYPE_WAIT
                elif self.proc is None:
                    wait = deadline - self.loop.time()
                reading = asyncio.ensure_future(self.reader.read(4096))
                ended = asyncio.ensure_future(self.shell_done.wait())
                done, _ = await asyncio.wait({reading, ended}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                ended.cancel()
                if reading not in done:
                    reading.cancel()
                    if ended in done:
                        break  # the shell exited: the session is over
                    if self.session.state == WAIT_TTYPE:
                        await self._act(self.session.give_up_waiting())
                        continue
                    self.writer.write(b"\r\nLogin timed out\r\n")
                    break
                data = reading.result()
                if not data:
                    break
                await self._act(self.session.receive(data))
        except (ConnectionError, OSError) as e:
            log.info("%s: connection lost: %s", self.peer, e)
        finally:
            await self._end()

    async def _act(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Trace):
                log.debug("%s: %s", self.peer, a)
            elif isinstance(a, CheckPassword):
                self._flush()
                ok = await self.loop.run_in_executor(None, self.server.accounts.verify, a.user, a.password)
                if ok:
                    log.info("%s logged in from %s", a.user, self.peer)
                else:
                    log.warning("login refused for %r from %s: wrong user name or password", a.user, self.peer)
                await self._act(self.session.password_checked(ok))
            elif isinstance(a, Delay):
                self._flush()
                await asyncio.sleep(a.seconds)
                await self._act(self.session.retry())
            elif isinstance(a, StartShell):
                self._start_shell(a)
            elif isinstance(a, ShellInput):
                self._to_shell(a.data)
            elif isinstance(a, Resize) and self.master >= 0:
                terminal.set_window(self.master, a.columns, a.rows)
            elif isinstance(a, Close):
                log.info("%s: closing: %s", self.peer, a.reason)
                self._flush()
                self.writer.close()
        self._flush()
        await self.writer.drain()

    def _flush(self) -> None:
        out = self.session.data_to_send()
        if out and not self.writer.is_closing():
            self.writer.write(out)

    def _start_shell(self, a: StartShell) -> None:
        home = home_of(self.server.homes, a.user)
        env = terminal.login_environment(a.user, home, a.term.lower(), self.server.node)
        self.proc, self.master = terminal.spawn([terminal.SHELL, "--noprofile", "--norc", "-i"], env, home,
                                                a.window)
        log.info("%s: shell %d for %s (TERM=%s, window %s)", self.peer, self.proc.pid, a.user, env["TERM"],
                 "x".join(map(str, a.window)) if a.window else "unknown")
        self.loop.add_reader(self.master, self._from_shell)

    def _from_shell(self) -> None:
        try:
            data = os.read(self.master, 16384)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: every process holding the pty's other side has gone
            data = b""
            if e.errno != errno.EIO:
                log.warning("%s: reading the shell: %s", self.peer, e)
        if not data:
            self.loop.remove_reader(self.master)
            self.shell_done.set()
            return
        self.session.shell_output(data)
        self._flush()
        transport = self.writer.transport
        if transport.get_write_buffer_size() > HIGH_WATER:  # a slow client: let the shell wait for it
            self.loop.remove_reader(self.master)
            self.loop.create_task(self._resume_reading())

    async def _resume_reading(self) -> None:
        try:
            await self.writer.drain()
        except ConnectionError:
            return
        if self.master >= 0 and not self.shell_done.is_set():
            self.loop.add_reader(self.master, self._from_shell)

    def _to_shell(self, data: bytes) -> None:
        if self.master < 0:
            return
        pending = not self.to_shell
        self.to_shell += data
        if pending:
            self._write_shell()

    def _write_shell(self) -> None:
        try:
            n = os.write(self.master, self.to_shell)
        except BlockingIOError:
            n = 0
        except OSError:
            self.to_shell.clear()
            n = 0
        del self.to_shell[:n]
        if self.to_shell:
            self.loop.add_writer(self.master, self._write_shell)
        else:
            self.loop.remove_writer(self.master)

    async def _end(self) -> None:
        if self.master >= 0:
            self.loop.remove_reader(self.master)
            self.loop.remove_writer(self.master)
        if self.proc is not None:
            await self.loop.run_in_executor(None, terminal.end, self.proc)
            log.info("%s: shell %d ended (status %s)", self.peer, self.proc.pid, self.proc.returncode)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        self._flush()
        self.writer.close()


class TelnetServer:
    def __init__(self, accounts: Accounts, homes: Path, node: str, fail_delay: float = 2.0,
                 terminal_type: bool = True) -> None:
        self.accounts, self.homes, self.node, self.fail_delay = accounts, homes, node, fail_delay
        self.terminal_type = terminal_type
        self.clients = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            writer.write(b"too many sessions; try again later\r\n")
            writer.close()
            return
        self.clients += 1
        try:
            await _Login(self, reader, writer).run()
        finally:
            self.clients -= 1

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, reuse_address=True)
