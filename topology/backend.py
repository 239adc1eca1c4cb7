"""The interface every backend implements (netns now; docker; later a distributed engine).

A backend makes nodes and segments for a lab and gives the host an argv that runs a command inside a
node or beside a segment's bridge. Everything else (services, exec, shell, capture, ps) is built on
those in `topology.lab`, the same for every backend.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from .errors import WirelabError
from .model import Lab
from .progress import Progress
from .state import LabState


class Backend(ABC):
    name: ClassVar[str]
    shares_host_pids: ClassVar[bool] = False  # do pids seen inside a node equal the host's?

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
        """Remove what state.objects names, whatever of it exists. Idempotent; never touches anything else."""

    @abstractmethod
    def node_argv(self, state: LabState, node: str, argv: list[str], *, interactive: bool = False) -> list[str]:
        """The host argv that runs argv inside node (its network, hostname and files)."""

    @abstractmethod
    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        """The host argv that runs argv where the segment's bridge is visible (for captures)."""

    @abstractmethod
    def bridge(self, state: LabState, segment: str) -> str:
        """The bridge interface's name, as seen by segment_argv."""

    @abstractmethod
    def node_pids(self, state: LabState, node: str) -> list[int]:
        """Host pids of the processes running in node."""

    def placeholders(self, state: LabState, node: str) -> dict[str, str]:
        """Values for a service argv's placeholders, as the node sees them."""
        lab_dir = str(Path(state.source).parent) if state.source else ""
        return {"python": sys.executable, "node": node, "lab_dir": lab_dir,
                "data": str(state.node_dir(node))}


_BACKENDS: dict[str, str] = {
    "netns": "topology.backends.netns:NetnsBackend",
    "docker": "topology.backends.docker:DockerBackend",
}


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise WirelabError(f"unknown backend {name!r}; choose one of: {', '.join(_BACKENDS)}")
    module, cls = _BACKENDS[name].split(":")
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise WirelabError(f"backend {name!r} is not available in this install ({e})") from None
    return getattr(mod, cls)()
