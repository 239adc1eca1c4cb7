"""Running a scenario on a copy of its lab, for the tests that break a scenario on purpose and check
that it then fails (tests/test_scenarios.py, and each protocol's own scenario tests):

    from scenario_runs import copy_of, failed, run_scenario

    def test_smtp_fails_when_the_server_refuses_relaying(tmp_path):
        why = failed(run_scenario("smtp", tmp_path, prepare=lambda running: ...))
        assert list(why) == ["..."]

Copies get other names (`sc-<scenario>`), so these tests never clash with a lab a person has up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from scenarios.framework.catalog import catalog
from scenarios.framework.runner import ScenarioResult, run
from topology import lab as labs
from topology.loader import LABS_DIR, loads
from topology.model import Lab


def copy_of(lab: str, name: str, edit: Callable[[dict], None] | None = None) -> Lab:
    data = yaml.safe_load((LABS_DIR / f"{lab}.yaml").read_text())
    data["name"] = name
    if edit:
        edit(data)
    # the copy keeps the original's folder, so files the lab names beside it ({lab_dir}/...) are found
    return loads(yaml.safe_dump(data), f"{name}.yaml", source=LABS_DIR / f"{lab}.yaml")


def write_copy(lab: str, name: str, folder: Path, edit: Callable[[dict], None] | None = None) -> Path:
    """A copy of a lab file in folder, with the files it names beside it ({lab_dir}/<lab>.d/)."""
    data = yaml.safe_load((LABS_DIR / f"{lab}.yaml").read_text())
    data["name"] = name
    if edit:
        edit(data)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    beside = LABS_DIR / f"{lab}.d"
    if beside.exists() and not (folder / beside.name).exists():
        (folder / beside.name).symlink_to(beside)
    return path


def run_scenario(name: str, tmp_path: Path, lab: Lab | None = None,
                 prepare: Callable[[labs.RunningLab], None] | None = None) -> ScenarioResult:
    sc = catalog()[name]
    lab = lab or copy_of(sc.lab, f"sc-{name}"[:15])
    [result] = run([sc], tmp_path, lab=lab, prepare=prepare)
    return result


def failed(result: ScenarioResult) -> dict[str, str]:
    """The failed assertions: text -> why."""
    assert result.error is None, result.error
    return {o.text: o.why for o in result.outcomes if not o.passed}
