"""FTP data connections on asyncio's socket API: opened actively (the server connects from its port 20) or
passively (the server listens on a port of its range and accepts only the client that asked), then the
bytes of one transfer: sendfile for binary RETR, large buffers for STOR, CRLF conversion for TYPE A."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import itertools
import os
import random
import socket
from pathlib import Path

CHUNK = 1 << 20  # per read and write: few system calls per megabyte
SCAN = 1024  # passive ports tried in turn after the random draws
SENDFILE_CHUNK = 64 << 10  # per sendfile call (see _sendfile); progress is noted between calls


class LocalError(Exception):
    """The server's own file failed (451, or 452 when the disk is full)."""

    def __init__(self, e: OSError) -> None:
        super().__init__(e.strerror or str(e))
        self.code = 452 if e.errno in (errno.ENOSPC, errno.EDQUOT) else 451


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def connect_active(local: str, source_port: int, target: tuple[str, int], timeout: float) -> socket.socket:
    """Connect from (local, source_port) to the client's address and port (PORT/EPRT). Port 20 is shared by
    every active transfer of the server, so it is bound with SO_REUSEADDR (no one listens on it)."""
    sock = socket.socket(_family(local), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((local, source_port))
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, target), timeout)
        return sock
    except BaseException:
        sock.close()
        raise


class PassiveListener:
    """A listening socket on a free port of the passive range, for one transfer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]

    @classmethod
    def open(cls, local: str, ports: range, rng: random.Random) -> PassiveListener | None:
        # a random port, one a third party cannot guess, and no pile-up on the range's start; then, should a
        # few random tries all be taken, the ports that follow a random place in turn (a bounded number: a
        # range that full is answered 425, not searched port by port within the event loop)
        n = len(ports)
        if n == 0:
            return None
        start = rng.randrange(n)
        tries = itertools.chain((ports[rng.randrange(n)] for _ in range(min(8, n))),
                                (ports[(start + i) % n] for i in range(min(n, SCAN))))
        for port in tries:
            sock = socket.socket(_family(local), socket.SOCK_STREAM)
            try:
                sock.bind((local, port))
                sock.listen(4)
                sock.setblocking(False)
                return cls(sock)
            except OSError:
                sock.close()
        return None

    def waiting(self, peer: str) -> socket.socket | None:
        """The client's connection if it is already there (it connected before sending its command)."""
        while True:
            try:
                conn, addr = self.sock.accept()
            except BlockingIOError:
                return None
            if _plain(addr[0]) == peer:
                conn.setblocking(False)
                return conn
            conn.close()

    async def accept(self, peer: str, timeout: float) -> socket.socket:
        """The first connection from `peer`; anyone else is closed unheard (passive port theft)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while True:
                conn, addr = await loop.sock_accept(self.sock)
                if _plain(addr[0]) == peer:
                    conn.setblocking(False)
                    return conn
                conn.close()

    def close(self) -> None:
        self.sock.close()


def _plain(addr: str) -> str:
    return addr.removeprefix("::ffff:") if "." in addr else addr


class Progress:
    """Bytes moved and when last: the data idle timeout watches it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.at = asyncio.get_running_loop().time()

    def add(self, n: int) -> None:
        self.bytes += n
        self.at = asyncio.get_running_loop().time()


async def send_bytes(sock: socket.socket, data: bytes, progress: Progress) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)
    progress.add(len(data))


async def send_file(sock: socket.socket, path: Path, offset: int, ascii: bool, progress: Progress) -> None:
    loop = asyncio.get_running_loop()
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, around awaits
    except OSError as e:
        raise LocalError(e) from None
    with f:
        if not ascii:
            size = os.fstat(f.fileno()).st_size
            if offset < size and await _sendfile(loop, sock, f.fileno(), offset, size, progress) < size:
                raise LocalError(OSError(errno.EIO, "the file got shorter while it was being sent"))
            return
        f.seek(offset)
        while chunk := f.read(CHUNK):
            await loop.sock_sendall(sock, chunk.replace(b"\n", b"\r\n"))
            progress.add(len(chunk))


async def _sendfile(loop: asyncio.AbstractEventLoop, sock: socket.socket, fd: int, offset: int, end: int,
                    progress: Progress) -> int:
    """The file's bytes from `offset` to `end` to the socket by sendfile(2), the kernel copying page cache to
    socket: one call of SENDFILE_CHUNK each time the socket can take more, from one callback the loop keeps
    (no task switch and no epoll change per call). Short calls keep a loopback receiver's queue short: an
    8 MiB call measured 1.5x slower than 64 KiB ones. Returns where it stopped (short of `end` when the
    file shrank meanwhile)."""
    done = loop.create_future()
    out = sock.fileno()

    def writable() -> None:
        nonlocal offset
        if done.done():
            return
        try:
            sent = os.sendfile(out, fd, offset, min(SENDFILE_CHUNK, end - offset))
        except BlockingIOError:
            return
        except OSError as e:  # the client's side (426), or the file's (451: a disk error)
            done.set_exception(e if isinstance(e, ConnectionError) or e.errno == errno.ENOTCONN else LocalError(e))
            return
        offset += sent
        progress.add(sent)
        if sent == 0 or offset >= end:
            done.set_result(offset)

    loop.add_writer(out, writable)
    try:
        return await done
    finally:
        loop.remove_writer(out)


class CrlfDecoder:
    """TYPE A received: CRLF becomes LF; a CR at a chunk's end waits to see whether LF follows."""

    def __init__(self) -> None:
        self._cr = False

    def feed(self, data: bytes) -> bytes:
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data.endswith(b"\r"):
            data, self._cr = data[:-1], True
        return data.replace(b"\r\n", b"\n")

    def end(self) -> bytes:
        return b"\r" if self._cr else b""


async def receive_file(sock: socket.socket, path: Path, kind: str, offset: int, ascii: bool,
                       progress: Progress) -> None:
    """Write what arrives into `path` until the client closes the data connection (end of file, MODE S)."""
    loop = asyncio.get_running_loop()
    flags = os.O_WRONLY | os.O_CREAT | {"stor": 0 if offset else os.O_TRUNC, "appe": os.O_APPEND,
                                        "stou": os.O_EXCL}[kind]
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        raise LocalError(e) from None
    try:
        if kind == "stor" and offset:
            os.ftruncate(fd, offset)  # REST then STOR resumes: what follows the offset is replaced
            os.lseek(fd, offset, os.SEEK_SET)
        if not ascii and kind != "appe" and hasattr(os, "splice"):  # (splice refuses O_APPEND files)
            await _splice_to_file(sock, fd, progress)
            return
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        decoder = CrlfDecoder() if ascii else None
        while n := await loop.sock_recv_into(sock, buf):
            progress.add(n)
            _write_all(fd, decoder.feed(bytes(view[:n])) if decoder else view[:n])
        if decoder:
            _write_all(fd, decoder.end())
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError as e:
        raise LocalError(e) from None


async def _splice_to_file(sock: socket.socket, fd: int, progress: Progress) -> None:
    """Socket to file through a pipe in the kernel (splice(2)): the bytes never pass through Python."""
    loop = asyncio.get_running_loop()
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # a smaller pipe only means more calls
        while True:
            try:
                n = os.splice(sock.fileno(), w, CHUNK, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                await _readable(loop, sock.fileno())
                continue
            if n == 0:
                return  # the client closed: end of file
            progress.add(n)
            while n:
                try:
                    n -= os.splice(r, fd, n, flags=os.SPLICE_F_MOVE)
                except OSError as e:
                    raise LocalError(e) from None
    finally:
        os.close(r)
        os.close(w)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)
