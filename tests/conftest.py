"""Shared fixtures: lab tests bring real labs up and always take them down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from topology import lab as labs
from topology.loader import load, loads
from topology.model import Lab

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="lab tests need root (namespaces, bridges)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "lab" in item.keywords and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="lab tests need root"))


@pytest.fixture
def lab_up() -> Iterator[Callable[..., labs.RunningLab]]:
    """lab_up(lab_or_yaml_or_name, backend=None) brings a lab up; every lab it made is taken down after."""
    made: list[str] = []

    def bring_up(spec: Lab | str, backend: str | None = None, **kw) -> labs.RunningLab:
        lab = spec if isinstance(spec, Lab) else (loads(spec) if "\n" in spec else load(spec))
        made.append(lab.name)
        return labs.up(lab, backend=backend, **kw)

    yield bring_up
    for name in made:
        labs.down(name)


def wirelab_exe() -> str:
    """The installed `wirelab` command: beside this Python (the venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "wirelab")
    return beside if os.path.exists(beside) else (shutil.which("wirelab") or "wirelab")


def wirelab(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `wirelab` command, as a user would."""
    return subprocess.run([wirelab_exe(), *args], capture_output=True, text=True, input=input, timeout=timeout)
