"""Bencoding (BEP 3): the encoder and a strict decoder.

The decoder refuses anything a canonical encoder would not write (leading zeros, "-0", unsorted or
duplicate dictionary keys, trailing bytes), because the info-hash is the SHA-1 of the bytes as sent and
two spellings of one value would give two torrents. Depth and string lengths are bounded, so hostile
input costs at most its own size.
"""

from __future__ import annotations

Value = int | bytes | list["Value"] | dict[bytes, "Value"]

MAX_DEPTH = 64


class BencodeError(ValueError):
    """Bytes that are not canonical bencoding; the message says what and at which offset."""


def encode(value: Value) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(v: object, out: list[bytes]) -> None:
    if isinstance(v, bool):
        raise TypeError("bencoding has no booleans; use 0 or 1")
    if isinstance(v, int):
        out.append(b"i%de" % v)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out.append(b"%d:" % len(v))
        out.append(bytes(v))
    elif isinstance(v, str):
        _encode(v.encode(), out)
    elif isinstance(v, (list, tuple)):
        out.append(b"l")
        for item in v:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(v, dict):
        out.append(b"d")
        keys = {(k.encode() if isinstance(k, str) else bytes(k)): val for k, val in v.items()}
        for k in sorted(keys):
            _encode(k, out)
            _encode(keys[k], out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(v).__name__}")


def decode(data: bytes, max_depth: int = MAX_DEPTH) -> Value:
    """The one value `data` holds; BencodeError if it is not exactly one canonical value."""
    value, end = decode_prefix(data, 0, max_depth)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


def decode_prefix(data: bytes, start: int = 0, max_depth: int = MAX_DEPTH) -> tuple[Value, int]:
    """One value starting at `start`, and the offset just after it (for callers that need the raw span,
    like the info dictionary whose bytes are hashed)."""
    return _Decoder(bytes(data), max_depth).value(start, 0)


class _Decoder:
    def __init__(self, data: bytes, max_depth: int):
        self.data = data
        self.max_depth = max_depth

    def value(self, i: int, depth: int) -> tuple[Value, int]:
        d = self.data
        if i >= len(d):
            raise BencodeError(f"truncated at offset {i}")
        c = d[i : i + 1]
        if c == b"i":
            return self.integer(i)
        if c.isdigit():
            return self.string(i)
        if depth >= self.max_depth:
            raise BencodeError(f"nested deeper than {self.max_depth} at offset {i}")
        if c == b"l":
            items: list[Value] = []
            i += 1
            while True:
                if i >= len(d):
                    raise BencodeError(f"list not closed at offset {i}")
                if d[i : i + 1] == b"e":
                    return items, i + 1
                v, i = self.value(i, depth + 1)
                items.append(v)
        if c == b"d":
            out: dict[bytes, Value] = {}
            last: bytes | None = None
            i += 1
            while True:
                if i >= len(d):
                    raise BencodeError(f"dictionary not closed at offset {i}")
                if d[i : i + 1] == b"e":
                    return out, i + 1
                if not d[i : i + 1].isdigit():
                    raise BencodeError(f"dictionary key is not a string at offset {i}")
                k, j = self.string(i)
                if last is not None and k <= last:
                    what = "duplicate" if k == last else "unsorted"
                    raise BencodeError(f"{what} dictionary key {k[:40]!r} at offset {i}")
                last = k
                out[k], i = self.value(j, depth + 1)
        raise BencodeError(f"unexpected byte {c!r} at offset {i}")

    def integer(self, i: int) -> tuple[int, int]:
        end = self.data.find(b"e", i + 1, i + 1 + 32)  # 32 digits: far beyond any real length or port
        if end < 0:
            raise BencodeError(f"integer not closed (or too long) at offset {i}")
        text = self.data[i + 1 : end]
        body = text[1:] if text.startswith(b"-") else text
        if not body.isdigit() or not body.isascii():
            raise BencodeError(f"bad integer {text[:20]!r} at offset {i}")
        if (body.startswith(b"0") and len(body) > 1) or text == b"-0":
            raise BencodeError(f"integer {text!r} is not canonical at offset {i}")
        return int(text), end + 1

    def string(self, i: int) -> tuple[bytes, int]:
        colon = self.data.find(b":", i, i + 21)
        if colon < 0:
            raise BencodeError(f"string length not closed at offset {i}")
        digits = self.data[i:colon]
        if not digits.isdigit() or not digits.isascii():
            raise BencodeError(f"bad string length {digits!r} at offset {i}")
        if digits.startswith(b"0") and len(digits) > 1:
            raise BencodeError(f"string length {digits!r} has a leading zero at offset {i}")
        n = int(digits)
        if colon + 1 + n > len(self.data):  # checked before slicing: a huge length allocates nothing
            raise BencodeError(f"string of {n} bytes runs past the end at offset {i}")
        return self.data[colon + 1 : colon + 1 + n], colon + 1 + n
