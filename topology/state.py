"""What a backend made for a lab, recorded before it makes it, so `down` can remove exactly that.

The record lives under /run/wirelab (tmpfs: it goes with the namespaces at reboot). It is written
before the first kernel object is made, so even after `kill -9` halfway through `up` the names to
remove are known.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RUN_DIR = Path(os.environ.get("WIRELAB_RUN", "/run/wirelab"))


@dataclass
class ServiceRecord:
    node: str
    name: str
    pid: int
    log: str
    argv: list[str]  # the whole command, placeholders filled in
    iface: str | None = None
    args: list[str] = field(default_factory=list)  # the lab file's (or scenario's) extra arguments
    restart: str = "on-failure"


@dataclass
class LabState:
    name: str
    hash: str
    backend: str
    source: str | None
    status: str = "starting"  # starting -> up; anything else after a crash is still cleaned by down
    created: float = field(default_factory=time.time)
    lab: dict = field(default_factory=dict)  # Lab.to_dict() with addresses filled in
    objects: dict = field(default_factory=dict)  # backend-specific names of what it made
    services: list[ServiceRecord] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return lab_dir(self.name)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.dir / "state.json")

    @classmethod
    def load(cls, name: str) -> LabState | None:
        path = lab_dir(name) / "state.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        data["services"] = [ServiceRecord(**s) for s in data.get("services", [])]
        return cls(**data)

    def node_dir(self, node: str) -> Path:
        """A writable folder for one node's service data (leases, spools, logs)."""
        d = self.dir / "nodes" / node
        d.mkdir(parents=True, exist_ok=True)
        return d


def prepare_run_dir() -> None:
    """Keep wirelab's runtime files in memory, as they belong: where /run is not a tmpfs (some VMs and
    containers), mount one on /run/wirelab, marked so that the last `down` unmounts it again."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if _fstype(RUN_DIR) == "tmpfs" or all_labs():
        return
    import subprocess

    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=256m", "wirelab", str(RUN_DIR)], check=True)
    (RUN_DIR / MOUNT_MARKER).touch()


def release_run_dir() -> None:
    """Unmount the tmpfs prepare_run_dir() mounted, once no lab is left in it."""
    if (RUN_DIR / MOUNT_MARKER).exists() and not all_labs() and not any((RUN_DIR / "labs").glob("*")):
        import subprocess

        subprocess.run(["umount", str(RUN_DIR)], check=False)


MOUNT_MARKER = ".mounted-by-wirelab"


def _fstype(path: Path) -> str:
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _dev, mnt, fstype = line.split()[:3]
        if (str(path) == mnt or str(path).startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, kind = mnt, fstype
    return kind


def lab_dir(name: str) -> Path:
    return RUN_DIR / "labs" / name


def all_labs() -> list[str]:
    base = RUN_DIR / "labs"
    return sorted(p.name for p in base.iterdir() if (p / "state.json").exists()) if base.exists() else []
