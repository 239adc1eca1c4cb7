"""Metainfo (.torrent) files, BEP 3: single-file and multi-file torrents, the info-hash, and making one.

A torrent's content is one byte string (the files laid end to end, in the order of `files`), cut into
pieces of `piece_length` bytes; `pieces` holds each piece's SHA-1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import bencode

BLOCK = 16 * 1024


class MetainfoError(ValueError):
    """A .torrent that cannot be used; the message names the field."""


@dataclass(frozen=True)
class FileEntry:
    path: tuple[str, ...]  # relative, under the torrent's name for a multi-file torrent
    length: int
    offset: int  # where it starts in the torrent's byte string


@dataclass(frozen=True)
class Torrent:
    announce: str
    name: str
    piece_length: int
    hashes: tuple[bytes, ...]
    files: tuple[FileEntry, ...]
    info_hash: bytes
    multi_file: bool
    announce_list: tuple[tuple[str, ...], ...] = ()

    @property
    def length(self) -> int:
        return sum(f.length for f in self.files)

    @property
    def num_pieces(self) -> int:
        return len(self.hashes)

    def piece_size(self, index: int) -> int:
        if index == self.num_pieces - 1:
            return self.length - index * self.piece_length
        return self.piece_length

    def trackers(self) -> list[str]:
        """Every announce URL, BEP 12's tiers first, without repeats."""
        seen: list[str] = []
        for tier in self.announce_list:
            seen += [u for u in tier if u not in seen]
        if self.announce and self.announce not in seen:
            seen.append(self.announce)
        return seen


def _text(v: object, field: str) -> str:
    if not isinstance(v, bytes):
        raise MetainfoError(f"{field} must be a string")
    try:
        return v.decode()
    except UnicodeDecodeError:
        raise MetainfoError(f"{field} is not UTF-8") from None


def _safe_component(part: str, field: str) -> str:
    # a path from a stranger's torrent must stay inside the download folder
    if part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise MetainfoError(f"{field} has an unsafe path component {part!r}")
    return part


def parse(data: bytes) -> Torrent:
    """A Torrent from .torrent bytes; MetainfoError (or BencodeError) with the reason if it is unusable."""
    top = bencode.decode(data)
    if not isinstance(top, dict) or not isinstance(top.get(b"info"), dict):
        raise MetainfoError("a torrent is a dictionary with an `info` dictionary")
    info_hash = hashlib.sha1(_info_bytes(data)).digest()
    info = top[b"info"]
    announce = _text(top[b"announce"], "announce") if b"announce" in top else ""
    tiers: list[tuple[str, ...]] = []
    for tier in top.get(b"announce-list", []) if isinstance(top.get(b"announce-list"), list) else []:
        if isinstance(tier, list):
            tiers.append(tuple(_text(u, "announce-list") for u in tier))
    name = _safe_component(_text(info.get(b"name"), "info.name"), "info.name")
    plen = info.get(b"piece length")
    if not isinstance(plen, int) or plen <= 0 or plen > 64 * 1024 * 1024:
        raise MetainfoError("info.piece length must be a positive size up to 64 MiB")
    pieces = info.get(b"pieces")
    if not isinstance(pieces, bytes) or len(pieces) % 20:
        raise MetainfoError("info.pieces must be a string of 20-byte SHA-1 hashes")
    hashes = tuple(pieces[i : i + 20] for i in range(0, len(pieces), 20))
    files: list[FileEntry] = []
    if b"files" in info:
        if b"length" in info:
            raise MetainfoError("info has both `length` and `files`")
        if not isinstance(info[b"files"], list) or not info[b"files"]:
            raise MetainfoError("info.files must be a non-empty list")
        offset = 0
        for n, f in enumerate(info[b"files"]):
            if not isinstance(f, dict) or not isinstance(f.get(b"length"), int) or f[b"length"] < 0:
                raise MetainfoError(f"info.files[{n}] needs a length")
            parts = f.get(b"path")
            if not isinstance(parts, list) or not parts:
                raise MetainfoError(f"info.files[{n}].path must be a non-empty list")
            path = tuple(_safe_component(_text(p, f"info.files[{n}].path"), f"info.files[{n}].path") for p in parts)
            files.append(FileEntry(path, f[b"length"], offset))
            offset += f[b"length"]
        multi = True
    else:
        length = info.get(b"length")
        if not isinstance(length, int) or length < 0:
            raise MetainfoError("info.length must be a size")
        files.append(FileEntry((name,), length, 0))
        multi = False
    total = sum(f.length for f in files)
    if len(hashes) != (total + plen - 1) // plen:
        raise MetainfoError(f"info.pieces holds {len(hashes)} hashes; {total} bytes in pieces of {plen} need "
                            f"{(total + plen - 1) // plen}")
    return Torrent(announce, name, plen, hashes, tuple(files), info_hash, multi, tuple(tiers))


def _info_bytes(data: bytes) -> bytes:
    # the info-hash covers the info dictionary's bytes exactly as they were sent
    i = 1
    while data[i : i + 1] != b"e":
        key, i = bencode.decode_prefix(data, i)
        start = i
        _, i = bencode.decode_prefix(data, i)
        if key == b"info":
            return data[start:i]
    raise MetainfoError("no info dictionary")


def load(path: str | Path) -> Torrent:
    return parse(Path(path).read_bytes())


def _piece_length_for(total: int) -> int:
    # about 1000 pieces, within 32 KiB..4 MiB: fewer pieces mean fewer haves to send to every peer
    size = 2 * BLOCK
    while total // size > 1000 and size < 4 * 1024 * 1024:
        size *= 2
    return size


def make(source: str | Path, announce: str, piece_length: int | None = None,
         name: str | None = None) -> bytes:
    """The .torrent bytes for a file or a folder (every regular file under it, sorted by path)."""
    src = Path(source)
    if src.is_dir():
        paths = sorted(p for p in src.rglob("*") if p.is_file())
        entries = [(p, [str(x) for x in p.relative_to(src).parts]) for p in paths]
        if not entries:
            raise MetainfoError(f"{src} holds no files")
    elif src.is_file():
        entries = [(src, [src.name])]
    else:
        raise MetainfoError(f"{src}: no such file or folder")
    total = sum(p.stat().st_size for p, _ in entries)
    plen = piece_length or _piece_length_for(total)
    if plen % BLOCK:
        raise MetainfoError("the piece length must be a multiple of 16 KiB")
    hashes, buf = [], bytearray()
    for p, _ in entries:
        with open(p, "rb") as f:
            while chunk := f.read(plen - len(buf)):
                buf += chunk
                if len(buf) == plen:
                    hashes.append(hashlib.sha1(buf).digest())
                    buf.clear()
    if buf:
        hashes.append(hashlib.sha1(buf).digest())
    info: dict = {"name": name or src.name, "piece length": plen, "pieces": b"".join(hashes)}
    if src.is_dir():
        info["files"] = [{"length": p.stat().st_size, "path": parts} for p, parts in entries]
    else:
        info["length"] = total
    return bencode.encode({"announce": announce, "created by": "wirelab", "info": info})


def content_path(torrent: Torrent, folder: str | Path, entry: FileEntry) -> Path:
    """Where one file of the torrent lives under a download folder."""
    base = Path(folder)
    return base.joinpath(torrent.name, *entry.path) if torrent.multi_file else base / torrent.name


