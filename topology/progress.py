"""Progress for long operations: a live bar on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True, highlight=False)


class Progress:
    """Named steps with optional counts. `quiet` prints nothing (tests, benchmarks)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self._status = None

    @contextmanager
    def step(self, what: str, total: int | None = None) -> Iterator[None]:
        start = time.perf_counter()
        if self.quiet:
            yield
            return
        if console.is_terminal:
            with console.status(f"{what}{f' ({total})' if total else ''} ..."):
                yield
        else:
            yield
        took = (time.perf_counter() - start) * 1000
        count = f" {total}" if total is not None else ""
        console.print(f"  [green]✓[/] {what}{count} [dim]{took:.0f} ms[/]")

    def note(self, text: str) -> None:
        if not self.quiet:
            console.print(f"  {text}")

    def done(self, text: str) -> None:
        if not self.quiet:
            took = time.perf_counter() - self.t0
            console.print(f"[bold]{text}[/] [dim]in {took:.2f} s[/]")

