"""The course's Telnet client: connects to any TCP port, prints every negotiation as it happens
("RCVD DO TERMINAL-TYPE", "SENT WILL TERMINAL-TYPE", ...) on stderr and the session on stdout.

It only answers: it agrees to send its terminal type and window size and lets the server echo and
suppress go-aheads, and refuses everything else, so against a port that is not Telnet (`client mail 25`)
nothing but the typed lines goes out. With a terminal on stdin it goes character-at-a-time (raw) while
the server echoes, and line-at-a-time otherwise; from a pipe or a file it sends each line (with CR LF)
once the server has answered the previous one or `pace` seconds have passed, then waits for the server
to close (say QUIT, or exit). ^] quits a terminal session.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable

from .codes import ECHO, NAWS, SGA, TTYPE
from .connection import Data, Malformed, TelnetConnection, Trace
from .options import Changed

ESCAPE = 0x1D  # ^]
QUIET = 0.1    # seconds of silence that end a server's answer, when typing from a pipe


class TelnetClient:
    def __init__(self, host: str, port: int, *, term: str, window: tuple[int, int],
                 show: Callable[[str], None], output: Callable[[bytes], None]) -> None:
        self.host, self.port = host, port
        self.conn = TelnetConnection(local={TTYPE, NAWS, SGA}, remote={ECHO, SGA}, terminal_type=term, window=window)
        self.show, self.output = show, output
        self.heard = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None
        self.on_echo_change: Callable[[bool], None] = lambda remote_echo: None

    def handle(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, Trace):
                self.show(str(ev))
            elif isinstance(ev, Data):
                self.output(ev.data)
                self.heard.set()
            elif isinstance(ev, Malformed):
                self.show(f"(ignored: {ev.reason})")
            elif isinstance(ev, Changed) and ev.option == ECHO and ev.side == "him":
                self.on_echo_change(ev.enabled)

    def send(self, data: bytes) -> None:
        self.conn.send(data)
        self._flush()

    def resize(self, columns: int, rows: int) -> None:
        self.handle(self.conn.set_window(columns, rows))
        self._flush()

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and self.writer is not None and not self.writer.is_closing():
            self.writer.write(out)

    async def connect(self, timeout: float) -> asyncio.StreamReader:
        reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        return reader

    async def pump(self, reader: asyncio.StreamReader) -> None:
        """Read the server until it closes."""
        while data := await reader.read(65536):
            self.handle(self.conn.receive(data))
            self._flush()
            assert self.writer is not None
            await self.writer.drain()


async def run_lines(client: TelnetClient, reader: asyncio.StreamReader, lines: list[bytes], pace: float,
                    linger: float) -> None:
    """Send lines as a person at the keyboard would: each once the server has answered the one before
    and paused (or after `pace` seconds), then read until the server closes (at most `linger` seconds). No half-close: a
    Telnet server takes the end of input for the end of the session, as it would a hang-up."""
    pumping = asyncio.ensure_future(client.pump(reader))
    loop = asyncio.get_running_loop()
    try:
        for line in lines:
            # the answer to the last line: its first bytes, then until the server has paused QUIET seconds
            # (a prompt comes right after an echo), `pace` seconds at most in all
            deadline = loop.time() + pace
            client.heard.clear()
            wait = pace
            while wait > 0:
                try:
                    await asyncio.wait_for(client.heard.wait(), wait)
                except TimeoutError:
                    break
                client.heard.clear()
                wait = min(QUIET, deadline - loop.time())
            if pumping.done():
                break
            client.send(line.rstrip(b"\r\n") + b"\r\n")
        await asyncio.wait_for(asyncio.shield(pumping), linger)
    except TimeoutError:
        client.show(f"(server still open after {linger:g} s: closing)")
    finally:
        pumping.cancel()


async def run_terminal(client: TelnetClient, reader: asyncio.StreamReader) -> None:
    """A person at a terminal: raw while the server echoes, cooked otherwise."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    cooked = termios.tcgetattr(fd)
    quit_ = asyncio.Event()

    def echo_changed(remote_echo: bool) -> None:
        if remote_echo:
            tty.setraw(fd, termios.TCSANOW)
        else:
            termios.tcsetattr(fd, termios.TCSANOW, cooked)

    def typed(data: bytes) -> None:
        if not data or ESCAPE in data:
            quit_.set()
            return
        raw = client.conn.options.enabled_him(ECHO)
        client.send(data if raw else data.replace(b"\n", b"\r\n"))

    def keyboard() -> None:
        while True:
            try:
                data = os.read(fd, 1024)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(typed, data)
            if not data:
                return

    client.on_echo_change = echo_changed
    loop.add_signal_handler(signal.SIGWINCH, lambda: client.resize(*os.get_terminal_size()))
    threading.Thread(target=keyboard, daemon=True).start()
    pumping = asyncio.ensure_future(client.pump(reader))
    quitting = asyncio.ensure_future(quit_.wait())
    try:
        await asyncio.wait({pumping, quitting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, cooked)
        pumping.cancel()
        quitting.cancel()
