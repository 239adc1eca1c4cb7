"""Leases, and the journal that keeps them on disk across server restarts.

The journal is append-only JSON lines, one record per change; the last record for an address wins.
A batch of changes is written and fdatasync'ed before any ACK that depends on it is sent (group
commit: one sync per batch, not per client). A line cut short by a crash is skipped on load. When the
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
    def from_json(cls, line: str) -> Lease:
        d = json.loads(line)
        d["ip"] = IPv4Address(d["ip"])
        return cls(**d)


class LeaseJournal:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records = 0  # lines in the file now
        self._fd: int | None = None

    def load(self) -> dict[IPv4Address, Lease]:
        leases: dict[IPv4Address, Lease] = {}
        bad = 0
        try:
            with open(self.path) as f:
                for line in f:
                    self.records += 1
                    try:
                        lease = Lease.from_json(line)
                    except (ValueError, TypeError, KeyError):
                        bad += 1
                        continue
                    leases[lease.ip] = lease
        except FileNotFoundError:
            pass
        if bad:
            log.warning("%s: skipped %d damaged record(s) (a write cut short by a crash)", self.path, bad)
        return leases

    def append(self, leases: Iterable[Lease]) -> None:
        data = "".join(lease.to_json() + "\n" for lease in leases).encode()
        if not data:
            return
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

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
