"""Finding scenarios: every module in this package with a module-level `LAB` and `run(ctx)` is one."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from topology.errors import WirelabError


@dataclass(frozen=True)
class Scenario:
    name: str  # the module's name with '-' for '_', or its NAME
    lab: str  # a lab name under topology/labs/ or a path
    about: str  # the docstring's first paragraph: what it shows
    module: ModuleType
    segments: tuple[str, ...] | None  # captured segments; None: all of the lab's

    @property
    def run(self) -> Callable:
        return self.module.run

    @property
    def doc(self) -> str:
        return (self.module.__doc__ or "").strip()


@cache
def catalog() -> dict[str, Scenario]:
    import scenarios

    found: dict[str, Scenario] = {}
    for info in pkgutil.iter_modules(scenarios.__path__):
        mod = importlib.import_module(f"scenarios.{info.name}")
        if not (isinstance(getattr(mod, "LAB", None), str) and callable(getattr(mod, "run", None))):
            continue
        name = getattr(mod, "NAME", info.name.replace("_", "-"))
        about = " ".join((mod.__doc__ or "").strip().split("\n\n")[0].split())  # the first paragraph
        segs = getattr(mod, "SEGMENTS", None)
        found[name] = Scenario(name, mod.LAB, about, mod, tuple(segs) if segs else None)
    return dict(sorted(found.items()))


def select(names: list[str] | tuple[str, ...] = (), all_: bool = False, lab: str | None = None) -> list[Scenario]:
    """The scenarios named, all of them, or those that use `lab`; unknown names are a user error."""
    known = catalog()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WirelabError(f"no scenario named {unknown[0]!r}; scenarios: {', '.join(known)} "
                           f"(see `wirelab scenario list`)")
    chosen = list(known.values()) if all_ else [known[n] for n in names]
    if lab:
        chosen = [s for s in (chosen if (names or all_) else known.values()) if s.lab == lab]
        if not chosen:
            labs = ", ".join(sorted({s.lab for s in known.values()}))
            raise WirelabError(f"no scenario uses lab {lab!r}; labs with scenarios: {labs}")
    if not chosen:
        raise WirelabError("name scenarios to run, or use --all or --lab LAB (see `wirelab scenario list`)")
    return chosen
