"""The contract every backend implements (netns, docker; later Mininet and a distributed engine), and
the registry that finds backends through the `wirelab.backends` entry point.

A backend makes a lab's nodes and segments, and owns every process on its nodes: it starts a command on
a node with its output in a log, signals it, says whether it lives, waits for it, lists what runs on a
node and which ports a process listens on, and gives the argv that runs a command in a node or beside a
segment's bridge (captures). Nothing outside `topology/backends/` sees a host pid or reads /proc: a
started command is known by an opaque `handle`, which only its backend understands.

Adding a backend is a new package with a `Backend` subclass and one entry point:

    [project.entry-points."wirelab.backends"]
    mybackend = "mypackage.backend:MyBackend"
"""

from __future__ import annotations

import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar

from .errors import WirelabError
from .model import Lab
from .progress import Progress
from .state import LabState


@dataclass(frozen=True)
class Process:
    """A process running on a node, as `ps` shows it. `handle` is the backend's own name for it."""

    handle: int
    command: str
    group: int | None = None  # the handle of the service (or other started command) it belongs to


class Backend(ABC):
    name: ClassVar[str]

    # the lab --------------------------------------------------------------------------------------

    def check(self, lab: Lab) -> None:
        """Refuse, with a clear reason, a lab this backend or this host cannot realise. Makes nothing."""
        return None

    @abstractmethod
    def plan(self, lab: Lab, state: LabState) -> None:
        """Fill state.objects with the names of everything `up` will make (saved before making it)."""

    @abstractmethod
    def up(self, lab: Lab, state: LabState, progress: Progress) -> None:
        """Make the nodes and segments; addresses and routes configured; services are not started here."""

    @abstractmethod
    def down(self, state: LabState, progress: Progress) -> None:
        """Remove what state.objects names, whatever of it exists, and every process on the lab's nodes.
        Idempotent; never touches anything else."""

    # running commands -----------------------------------------------------------------------------

    @abstractmethod
    def node_argv(self, state: LabState, node: str, argv: list[str], *, interactive: bool = False) -> list[str]:
        """The host argv that runs argv inside node (its network, hostname and files), as the caller's
        child: its exit status, output and signals pass through."""

    @abstractmethod
    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        """The host argv that runs argv where the segment's bridge is visible (for captures)."""

    @abstractmethod
    def bridge(self, state: LabState, segment: str) -> str:
        """The bridge interface's name, as seen by segment_argv."""

    # processes on nodes ---------------------------------------------------------------------------

    @abstractmethod
    def spawn(self, state: LabState, node: str, argv: list[str], *, log: Path,
              env: dict[str, str] | None = None) -> int:
        """Start argv on node in the background, its stdout and stderr appended to log; returns a handle.
        The command outlives this wirelab process (a service), and ends with the lab at the latest."""

    @abstractmethod
    def alive(self, state: LabState, handle: int) -> bool:
        """Does the command started as `handle` still run?"""

    @abstractmethod
    def signal(self, state: LabState, handle: int, sig: int) -> None:
        """Send sig to the command started as `handle` and everything it started. Gone already: no error."""

    WAIT_POLL = 0.02  # seconds between looks in `wait`; a backend whose `alive` is costly looks less often

    def wait(self, state: LabState, handle: int, timeout: float) -> bool:
        """Wait until the command has ended (True) or timeout seconds have passed (False). By default it
        asks `alive` until then; a backend that can block on the end instead overrides this."""
        deadline = time.monotonic() + timeout
        while self.alive(state, handle):
            if time.monotonic() > deadline:
                return False
            time.sleep(self.WAIT_POLL)
        return True

    @abstractmethod
    def processes(self, state: LabState, node: str) -> list[Process]:
        """What runs on node: its own processes (not the backend's plumbing)."""

    @abstractmethod
    def listening(self, state: LabState, node: str, handle: int | None = None) -> set[tuple[str, int]]:
        """The ("tcp"|"udp", port) sockets listening on node; with handle, only those held by that
        command or the processes it started (another service on the same port does not count)."""

    @abstractmethod
    def interrupt(self, state: LabState, proc: subprocess.Popen, sig: int) -> None:
        """Signal a command started from node_argv or segment_argv (the caller's child, in a session of
        its own: a capture's tcpdump) and whatever it forked to run in the node. Ended already: no error."""

    @abstractmethod
    def read_file(self, state: LabState, node: str, path: str) -> bytes | None:
        """A file a node's processes wrote (a service's log, its supervisor's status), None if absent.
        Paths are as spawn's log and the {data} placeholder name them."""

    # values for services --------------------------------------------------------------------------

    def placeholders(self, state: LabState, node: str) -> dict[str, str]:
        """Values for a service argv's placeholders, as the node sees them."""
        lab_dir = str(Path(state.source).parent) if state.source else ""
        return {"python": sys.executable, "node": node, "lab_dir": lab_dir,
                "data": str(state.node_dir(node))}


@cache
def backends() -> dict[str, str]:
    """Installed backends: name -> "module:Class" (entry point `wirelab.backends`)."""
    return {ep.name: ep.value for ep in entry_points(group="wirelab.backends")}


def get_backend(name: str) -> Backend:
    found = backends()
    if name not in found:
        known = ", ".join(sorted(found)) or "none (is wirelab installed? run make setup)"
        raise WirelabError(f"unknown backend {name!r}; choose one of: {known}")
    ep = next(ep for ep in entry_points(group="wirelab.backends") if ep.name == name)
    try:
        cls = ep.load()
    except ModuleNotFoundError as e:
        raise WirelabError(f"backend {name!r} is not available in this install ({e})") from None
    return cls()
