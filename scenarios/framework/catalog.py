"""Finding scenarios: every module of `scenarios.course` with a module-level `LAB` and `run(ctx)` is one,
and so is every module an outside package names in the `wirelab.scenarios` entry-point group. No list
of scenarios is kept anywhere: a new module is found."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
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


COURSE = "scenarios.course"
ENTRY_POINTS = "wirelab.scenarios"  # name = "package.module" of a scenario outside this package


def _modules() -> list[tuple[str, ModuleType]]:
    course = importlib.import_module(COURSE)
    found = [(info.name, importlib.import_module(f"{COURSE}.{info.name}"))
             for info in pkgutil.iter_modules(course.__path__)]
    found += [(ep.name, importlib.import_module(ep.value)) for ep in entry_points(group=ENTRY_POINTS)]
    return found


@cache
def catalog() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for module_name, mod in _modules():
        if not (isinstance(getattr(mod, "LAB", None), str) and callable(getattr(mod, "run", None))):
            continue
        name = getattr(mod, "NAME", module_name.replace("_", "-"))
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
