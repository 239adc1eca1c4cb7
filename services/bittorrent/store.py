"""The piece store: a torrent's pieces on disk, each checked against its SHA-1 before it counts.

Blocks of a piece are held in memory until the piece is whole; only a piece whose hash matches is
written, so what is on disk is always good data. Resuming is checking: every piece already on disk
is hashed at start, and the good ones are had (libtorrent's "checking files").
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Hashable
from pathlib import Path

from .metainfo import Torrent, content_path


class PieceStore:
    def __init__(self, torrent: Torrent, folder: str | Path):
        self.torrent = torrent
        self.fds: list[tuple[int, int, int]] = []  # (fd, start offset, length)
        for entry in torrent.files:
            path = content_path(torrent, folder, entry)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if os.fstat(fd).st_size > entry.length:
                os.ftruncate(fd, entry.length)
            self.fds.append((fd, entry.offset, entry.length))
        self.pending: dict[int, bytearray] = {}
        self.senders: dict[int, dict[int, Hashable]] = {}  # piece -> block offset -> who sent it

    def close(self) -> None:
        for fd, _, _ in self.fds:
            os.close(fd)
        self.fds = []

    def _spans(self, offset: int, length: int):
        end = offset + length
        for fd, start, size in self.fds:
            lo, hi = max(offset, start), min(end, start + size)
            if lo < hi:
                yield fd, lo - start, lo - offset, hi - lo

    def read(self, index: int, begin: int, length: int) -> bytes:
        offset = index * self.torrent.piece_length + begin
        out = bytearray(length)
        for fd, at, pos, n in self._spans(offset, length):
            chunk = os.pread(fd, n, at)
            out[pos : pos + len(chunk)] = chunk
        return bytes(out)

    def _write(self, index: int, data: bytes) -> None:
        offset = index * self.torrent.piece_length
        for fd, at, pos, n in self._spans(offset, len(data)):
            os.pwrite(fd, data[pos : pos + n], at)

    def check(self, index: int) -> bool:
        """Does the piece on disk match its hash?"""
        data = self.read(index, 0, self.torrent.piece_size(index))
        return hashlib.sha1(data).digest() == self.torrent.hashes[index]

    def check_all(self) -> set[int]:
        """The pieces already on disk and good: where a download resumes from."""
        sizes = [os.fstat(fd).st_size for fd, _, _ in self.fds]
        have = set()
        for index in range(self.torrent.num_pieces):
            start = index * self.torrent.piece_length
            end = start + self.torrent.piece_size(index)
            # a piece past the end of a short file cannot be there: skip the read
            if all(size >= min(end, st + ln) - st
                   for size, (_, st, ln) in zip(sizes, self.fds, strict=True) if st < end and st + ln > start):
                if self.check(index):
                    have.add(index)
        return have

    def add_block(self, index: int, begin: int, data: bytes, sender: Hashable) -> None:
        size = self.torrent.piece_size(index)
        if begin + len(data) > size:
            raise ValueError(f"block {index}:{begin}+{len(data)} runs past the piece's {size} bytes")
        buf = self.pending.setdefault(index, bytearray(size))
        buf[begin : begin + len(data)] = data
        self.senders.setdefault(index, {})[begin] = sender

    def finish(self, index: int) -> tuple[bool, set[Hashable]]:
        """The piece is whole: write it if its hash matches. Returns (good, who sent its blocks)."""
        data = self.pending.pop(index)
        senders = set(self.senders.pop(index, {}).values())
        if hashlib.sha1(data).digest() != self.torrent.hashes[index]:
            return False, senders
        self._write(index, bytes(data))
        return True, senders

    def drop(self, index: int) -> None:
        self.pending.pop(index, None)
        self.senders.pop(index, None)
