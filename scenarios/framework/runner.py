"""Running scenarios: each lab up once for all the scenarios that use it, captures on its segments
around each scenario, assertions evaluated from the pcaps, the lab down again.

Only `topology.lab` is used to reach the lab, so a scenario runs unchanged on any backend.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from topology import lab as labs
from topology.capture import Capture
from topology.errors import WirelabError
from topology.loader import load
from topology.model import Lab
from topology.progress import Progress
from topology.state import LabState

from . import ladder
from .assertions import Outcome
from .catalog import Scenario
from .context import Context
from .frames import Frame, Names, Traffic


@dataclass
class LadderResult:
    title: str
    text: str
    svg: str  # path of the SVG file


@dataclass
class ScenarioResult:
    name: str
    lab: str
    about: str
    backend: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    commands: list[dict] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)  # capture name -> pcap path
    dropped: dict[str, int] = field(default_factory=dict)
    ladders: list[LadderResult] = field(default_factory=list)
    duration: float = 0.0
    names: Names | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.outcomes) and all(o.passed for o in self.outcomes)


def run(scenarios: list[Scenario], out: Path, backend: str | None = None, lab: Lab | None = None,
        prepare: Callable[[labs.RunningLab], None] | None = None,
        say: Callable[[ScenarioResult], None] | None = None,
        progress: Progress | None = None) -> list[ScenarioResult]:
    """Run scenarios grouped by lab, each lab brought up once and taken down after (a lab that is
    already up is used as it is and left up). `lab` replaces the scenarios' lab (a modified copy);
    `prepare` runs on the lab once it is up, before the scenarios (e.g. to break something on purpose)."""
    groups: dict[str, list[Scenario]] = {}
    for sc in scenarios:
        groups.setdefault(sc.lab, []).append(sc)
    if lab is not None and len(groups) > 1:
        raise WirelabError("a replacement lab can only stand in for one lab; run these scenarios separately")
    results: list[ScenarioResult] = []
    backend = backend or labs.DEFAULT_BACKEND
    for lab_ref, group in groups.items():
        model = lab or load(lab_ref)
        # a lab someone already has up is used as it is, and left up afterwards
        already_up = LabState.load(model.name) is not None
        progress = progress or Progress(quiet=True)
        progress.note(f"using lab {model.name}, which is already up (it stays up)" if already_up
                      else f"bringing lab {model.name} up ({backend})")
        try:
            running = labs.attach(model.name) if already_up else labs.up(model, backend=backend, progress=progress)
        except WirelabError as e:
            for i, sc in enumerate(group):
                said = str(e) if i == 0 else f"see {group[0].name}"
                results.append(ScenarioResult(sc.name, model.name, sc.about, backend,
                                              error=f"lab {model.name} did not come up: {said}"))
                if say:
                    say(results[-1])
            continue
        try:
            if prepare:
                prepare(running)
            for sc in group:
                results.append(run_one(sc, running, out / sc.name, backend))
                if say:
                    say(results[-1])
        finally:
            if not already_up:
                labs.down(model.name)
                progress.note(f"lab {model.name} taken down")
    return results


def run_one(sc: Scenario, running: labs.RunningLab, folder: Path, backend: str) -> ScenarioResult:
    folder.mkdir(parents=True, exist_ok=True)
    result = ScenarioResult(sc.name, running.name, sc.about, backend, names=Names(running.nodes))
    ctx = Context(running, folder)
    started = time.monotonic()
    try:
        for seg in sc.segments or list(running.segments):
            ctx.captures[seg] = Capture(running, seg, folder / f"{seg}.pcap").start()
        sc.run(ctx)
    except WirelabError as e:
        result.error = str(e)
    except Exception as e:  # a scenario's own bug: report it with where it happened, keep going
        where = traceback.extract_tb(e.__traceback__)[-1]
        result.error = f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"
    finally:
        for rec in ctx.services:
            running.stop_service(rec)
        _stop_all(list(ctx.captures.values()))
    result.duration = time.monotonic() - started
    result.commands = ctx.describe_commands()
    result.captures = {name: str(cap.path) for name, cap in ctx.captures.items()}
    result.dropped = {name: cap.dropped for name, cap in ctx.captures.items() if cap.dropped}
    early = [cap for cap in ctx.captures.values() if cap.ended_early]
    if early and result.error is None:  # its assertions would rest on a partial capture
        said = " ".join(early[0].stderr[-2:]).strip() or f"exit status {early[0].proc.returncode}"
        result.error = f"the capture on {early[0].where} ended before the scenario did: {said}"
    traffic = Traffic({name: [Frame(name, i + 1, float(p.time), p) for i, p in enumerate(cap.packets())]
                       for name, cap in ctx.captures.items()}, result.names, ctx.marks)
    result.names.learn(f.pkt for frames in traffic.captures.values() for f in frames)
    for a in ctx.assertions:
        try:
            result.outcomes.append(a.evaluate(traffic))
        except Exception as e:
            result.outcomes.append(Outcome(a.text, False, f"could not evaluate: {_said(e)}", capture=a.capture))
    if not ctx.assertions and result.error is None:
        result.error = "the scenario made no assertions"
    for i, spec in enumerate(ctx.ladders):
        try:
            found = spec.arrows(traffic, result.names)
        except LookupError as e:  # a scenario's mistake (a capture or mark it never made): say so
            result.error = result.error or f"ladder {spec.title!r}: {_said(e)}"
            continue
        cols = ladder.columns_for(found, spec.columns)
        path = folder / f"ladder{'-' + str(i + 1) if i else ''}.svg"
        path.write_text(ladder.svg(found, cols, spec.title))
        result.ladders.append(LadderResult(spec.title, ladder.text(found, cols, spec.title), str(path)))
    if result.ladders:
        (folder / "ladder.txt").write_text("\n".join(lad.text for lad in result.ladders))
    return result


def _said(e: Exception) -> str:
    # Traffic's LookupError (no such capture or mark) is written for people; anything else is a bug
    return e.args[0] if type(e) is LookupError and e.args else f"{type(e).__name__}: {e}"


def _stop_all(captures: list[Capture]) -> None:
    threads = [threading.Thread(target=c.stop) for c in captures]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
