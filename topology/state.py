"""The lab record: the lab model, what a backend made for it (recorded before it makes it, so `down` can
remove exactly that) and the services started on its nodes.

The record lives under /run/wirelab (tmpfs: it goes with the namespaces at reboot). It is written
before the first kernel object is made, so even after `kill -9` halfway through `up` the names to
remove are known.

Two commands must not make or remove the same lab at once: `admission()` (one lock file,
/run/wirelab.lock, held for a moment) guards the check that a lab is not up and the writing of its
first record, and the process bringing a lab up holds its lab's `owner.lock` until it is done, so a
second `up` or a `down` can tell "coming up" from "left half-made by a crash".
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .model import Lab

RUN_DIR = Path(os.environ.get("WIRELAB_RUN", "/run/wirelab"))


@dataclass
class ServiceRecord:
    node: str
    name: str
    pid: int  # the backend's handle of the service's supervisor (a host pid on netns and docker)
    log: str
    argv: list[str]  # the whole command, placeholders filled in
    iface: str | None = None
    args: list[str] = field(default_factory=list)  # the lab file's (or scenario's) extra arguments
    restart: str = "on-failure"
    status: str = ""  # the supervisor's status file (JSON): running, restarting or exited, and restarts

    @property
    def label(self) -> str:
        return self.name + (f" ({self.iface})" if self.iface else "")


@dataclass
class LabState:
    name: str
    hash: str
    backend: str
    source: str | None
    lab: Lab
    status: str = "starting"  # starting -> up; anything else after a crash is still cleaned by down
    created: float = field(default_factory=time.time)
    objects: dict = field(default_factory=dict)  # backend-specific names of what it made
    services: list[ServiceRecord] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return lab_dir(self.name)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {"name": self.name, "hash": self.hash, "backend": self.backend, "source": self.source,
                "status": self.status, "created": self.created, "lab": self.lab.to_dict(),
                "objects": self.objects, "services": [asdict(s) for s in self.services]}
        tmp = self.dir / f"state.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.dir / "state.json")

    @classmethod
    def load(cls, name: str) -> LabState | None:
        path = lab_dir(name) / "state.json"
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, NotADirectoryError):
            return None
        data["services"] = [ServiceRecord(**s) for s in data.get("services", [])]
        data["lab"] = Lab.from_dict(data["lab"])
        return cls(**data)

    def node_dir(self, node: str) -> Path:
        """A writable folder for one node's service data (leases, spools, mailboxes, host keys). It
        outlives every service on the node and is removed with the lab by `down`."""
        d = self.dir / "nodes" / node
        d.mkdir(parents=True, exist_ok=True)
        return d


@contextmanager
def admission() -> Iterator[None]:
    """Exclusive, briefly: deciding whether a lab may come up or go down, and making its first record."""
    RUN_DIR.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(RUN_DIR.parent / (RUN_DIR.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def hold_owner(state: LabState) -> int:
    """Mark this process as the one bringing the lab up (released when it ends or calls release_owner)."""
    state.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state.dir / "owner.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def release_owner(fd: int) -> None:
    os.close(fd)


def being_made(name: str) -> bool:
    """Is another live command bringing this lab up right now?"""
    try:
        fd = os.open(lab_dir(name) / "owner.lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def prepare_run_dir() -> None:
    """Keep wirelab's runtime files in memory, as they belong: where /run is not a tmpfs (some VMs and
    containers), mount one on /run/wirelab, marked so that the last `down` unmounts it again.
    Called under admission()."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if _fstype(RUN_DIR) == "tmpfs" or all_labs():
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "wirelab", str(RUN_DIR)], check=True)
    (RUN_DIR / MOUNT_MARKER).touch()


def release_run_dir() -> None:
    """Unmount the tmpfs prepare_run_dir() mounted, once no lab is left in it. Called under admission()."""
    if (RUN_DIR / MOUNT_MARKER).exists() and not all_labs() and not any((RUN_DIR / "labs").glob("*")):
        subprocess.run(["umount", str(RUN_DIR)], check=False)


MOUNT_MARKER = ".mounted-by-wirelab"


def _fstype(path: Path) -> str:
    """The file system type holding path ("tmpfs", "ext2/ext3", ...)."""
    proc = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return proc.stdout.strip()


def lab_dir(name: str) -> Path:
    return RUN_DIR / "labs" / name


def all_labs() -> list[str]:
    base = RUN_DIR / "labs"
    return sorted(p.name for p in base.iterdir() if (p / "state.json").exists()) if base.exists() else []
