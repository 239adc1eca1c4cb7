"""Leases, and the journal that keeps them on disk across server restarts.

The journal is append-only JSON lines, one record per change; the last record for an address wins.
A batch of changes is written and fdatasync'ed before any ACK that depends on it is sent (group
commit: one sync per batch, not per client). On load, a damaged record (a line cut short by a crash,
bytes that are not UTF-8, a field of the wrong type) is skipped and reported, and every good one kept. When the
journal grows well past the live leases it is rewritten whole, atomically (temp file, fsync, rename,
fsync of the folder).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

log = logging.getLogger("dhcp.leases")

BOUND, RELEASED, DECLINED = "bound", "released", "declined"
FIELDS = {"ip", "client", "mac", "expires", "state", "hostname"}
REQUIRED = {"ip", "client", "mac", "expires"}
MAX_REPORTED = 20  # damaged records said one line each; past this, one line with the count


@dataclass
class Lease:
    ip: IPv4Address
    client: str  # client identifier (option 61) in hex, else the MAC
    mac: str
    expires: float  # wall-clock seconds
    state: str = BOUND
    hostname: str = ""

    def active(self, now: float) -> bool:
        """Does this lease keep the address from anyone else right now?"""
        return self.state in (BOUND, DECLINED) and self.expires > now

    def to_json(self) -> str:
        return json.dumps({"ip": str(self.ip), "client": self.client, "mac": self.mac, "expires": self.expires,
                           "state": self.state, "hostname": self.hostname}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str | bytes) -> Lease:
        """A lease from one journal line; ValueError saying what is wrong with it, whatever the line holds."""
        try:
            d = json.loads(line)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise ValueError(f"not a JSON record ({e.__class__.__name__})") from None
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if set(d) - FIELDS or set(d) < REQUIRED:
            raise ValueError(f"fields {sorted(map(str, d))}, expected {sorted(FIELDS)}")
        for name in ("ip", "client", "mac", "state", "hostname"):
            if name in d and not isinstance(d[name], str):
                raise ValueError(f"{name} is {type(d[name]).__name__}, not a string")
        expires = d["expires"]
        if isinstance(expires, bool) or not isinstance(expires, int | float) or expires != expires:
            raise ValueError(f"expires is {expires!r}, not a number of seconds")
        if d.get("state", BOUND) not in (BOUND, RELEASED, DECLINED):
            raise ValueError(f"state {d['state']!r} is none of {BOUND}, {RELEASED}, {DECLINED}")
        d["ip"] = IPv4Address(d["ip"])  # a ValueError of its own for a bad address
        return cls(**d)


class LeaseJournal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records = 0  # lines in the file now
        self._fd: int | None = None
        self._cut = False

    def load(self) -> dict[IPv4Address, Lease]:
        """Every good record (the last for each address wins). A damaged one (a line cut short by a crash,
        a byte that is not UTF-8, a field of the wrong type) is skipped and said in one line, up to
        MAX_REPORTED of them; the server starts with the rest."""
        leases: dict[IPv4Address, Lease] = {}
        bad = 0
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return leases
        self._cut = bool(data) and not data.endswith(b"\n")  # the next append starts a line of its own
        for number, line in enumerate(data.splitlines(), 1):
            self.records += 1
            if not line.strip():
                continue
            try:
                lease = Lease.from_json(line)
            except ValueError as e:
                bad += 1
                if bad <= MAX_REPORTED:
                    log.warning("%s:%d: damaged lease record skipped: %s", self.path, number, e)
                continue
            leases[lease.ip] = lease
        if bad > MAX_REPORTED:
            log.warning("%s: %d more damaged lease records skipped", self.path, bad - MAX_REPORTED)
        return leases

    def append(self, leases: Iterable[Lease]) -> None:
        data = "".join(lease.to_json() + "\n" for lease in leases).encode()
        if not data:
            return
        if self._cut:
            data, self._cut = b"\n" + data, False
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, data)
        os.fdatasync(self._fd)
        self.records += data.count(b"\n")

    def maybe_compact(self, live: dict[IPv4Address, Lease]) -> bool:
        if self.records <= max(1000, 4 * len(live)):
            return False
        self.compact(live.values())
        return True

    def compact(self, leases: Iterable[Lease]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        lines = [lease.to_json() + "\n" for lease in leases]
        with open(tmp, "w") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.close()
        self.records = len(lines)
        self._cut = False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
