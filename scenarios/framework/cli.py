"""`wirelab scenario list` and `wirelab scenario run`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from topology import lab as labs
from topology.errors import WirelabError
from topology.loader import load
from topology.progress import Progress


@click.group()
def scenario() -> None:
    """Run scenarios: traffic driven in a lab, asserted from captures."""


@scenario.command("list")
def list_() -> None:
    """Name, lab and what each scenario shows."""
    from .catalog import catalog

    found = catalog()
    width = max((len(n) for n in found), default=4)
    lab_width = max((len(s.lab) for s in found.values()), default=3)
    for name, sc in found.items():
        click.echo(f"{name:{width}}  {sc.lab:{lab_width}}  {sc.about}")


@scenario.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="every scenario")
@click.option("--lab", default=None, help="the scenarios that use this lab (e.g. campus)")
@click.option("--backend", "-b", default=None, help="netns, docker or mininet: any installed backend (default: $WIRELAB_BACKEND, else /etc/wirelab/backend, else netns)")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="results folder (default results/<timestamp>/)")
@click.option("--lab-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="run on this lab file instead of the scenarios' own lab (e.g. your copy of campus)")
@click.option("--ladders/--no-ladders", default=None,
              help="print the ladder diagrams (default: when one scenario runs)")
def run(names: tuple[str, ...], all_: bool, lab: str | None, backend: str | None, out: str | None,
        lab_file: str | None, ladders: bool | None) -> None:
    """Run scenarios; exits 1 when any assertion fails."""
    from . import report, runner
    from .catalog import select

    chosen = select(names, all_, lab)
    model = None
    if lab_file:
        if len({s.lab for s in chosen}) > 1:
            raise WirelabError("--lab-file stands in for one lab; choose scenarios of one lab (e.g. --lab campus)")
        model = load(lab_file)
    folder = Path(out or f"results/{time.strftime('%Y%m%d-%H%M%S')}")
    try:  # before any lab comes up
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WirelabError(f"cannot write results into {folder}: {e.strerror}; choose another folder with --out") from None
    backend = backend or labs.DEFAULT_BACKEND
    color = sys.stdout.isatty()
    show = ladders if ladders is not None else len(chosen) == 1
    by_lab = [model.name] if model else sorted({s.lab for s in chosen})
    click.echo(f"{len(chosen)} scenario{'s' * (len(chosen) != 1)} on {', '.join(by_lab)} ({backend})")

    def say(result: runner.ScenarioResult) -> None:
        click.echo(report.line(result, color))
        if show:
            for lad in result.ladders:
                click.echo("\n" + lad.text)

    results = runner.run(chosen, folder, backend=backend, lab=model, say=say, progress=Progress())
    report.write(results, folder, backend)
    click.echo("\n" + report.summary(results, folder, color), nl=False)
    if not all(r.passed for r in results):
        sys.exit(1)
