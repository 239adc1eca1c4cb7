"""A class: one sealed instance of a lab per student, on the swarm backend.

    wirelab class up campus --students 6        # or --roster names.txt (one student a line)
    wirelab class ps campus
    wirelab class scenario campus --out results/  # every instance's scenarios, in parallel
    wirelab class down campus

Instance `campus-alice` is the lab file with another name: the same addresses, on overlays of its own.
Each instance is placed whole on one host (its nodes talk over one host's bridges), the host with the
fewest wirelab nodes that still has room, as the swarm's own scheduler spreads tasks. A class's record
(/run/wirelab/classes/<lab>/class.json) names its instances; each is an ordinary lab (`wirelab ps
campus-alice` works too).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from .. import lab as labs
from ..errors import WirelabError
from ..loader import load
from ..model import Lab
from ..progress import Progress
from ..state import RUN_DIR, LabState
from .swarm_hosts import load_swarm

CLASSES = RUN_DIR / "classes"
NODE_MEMORY = 48 << 20  # what a node takes on its host, with its services (bench/bench_swarm.py measures it)
BRINGUPS = 2  # instances brought up at once: dockerd and the controller's cores are the limit


def students_from(count: int | None, roster: Path | None) -> list[str]:
    if roster is not None:
        names = [line.split("#")[0].strip().lower() for line in roster.read_text().splitlines()]
        names = [n for n in names if n]
    elif count:
        names = [f"s{i:02d}" for i in range(1, count + 1)]
    else:
        raise WirelabError("say how many students (--students N) or who they are (--roster FILE)")
    bad = [n for n in names if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", n)]
    if bad:
        raise WirelabError(f"student names are lowercase letters, digits and '-', at most 20: not {', '.join(bad[:3])}")
    if len(set(names)) != len(names):
        raise WirelabError("a student is named twice in the roster")
    return names


def _record(lab: str) -> Path:
    return CLASSES / lab / "class.json"


def load_class(lab: str) -> dict:
    try:
        return json.loads(_record(lab).read_text())
    except FileNotFoundError:
        raise WirelabError(f"no class of {lab} is up; bring one up with `wirelab class up {lab} --students N`") from None


def _instance_file(base: Lab, name: str, host: str, folder: Path) -> Path:
    """The lab file of one instance: the base lab's, renamed and pinned to host, its files beside it."""
    data = yaml.safe_load(Path(base.source).read_text())
    data["name"] = name
    for node in data["nodes"].values():
        node["host"] = host
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    beside = Path(base.source).parent / f"{base.name}.d"
    if beside.exists() and not (folder / beside.name).exists():
        (folder / beside.name).symlink_to(beside)
    return path


def _choose_hosts(base: Lab, count: int) -> list[str]:
    """A host per instance: the least loaded (wirelab nodes) that has the memory for one more."""
    import docker

    swarm = load_swarm()
    load_, room = {}, {}
    for h in swarm.hosts:
        client = docker.DockerClient(base_url=h.url, timeout=30)
        load_[h.name] = len(client.api.containers(filters={"label": "wirelab.lab"}))
        room[h.name] = client.info()["MemTotal"] // NODE_MEMORY
    out = []
    for _ in range(count):
        fits = [h for h in load_ if load_[h] + len(base.nodes) <= room[h]]
        if not fits:
            raise WirelabError(f"no host of the swarm has room for another {base.name} ({len(base.nodes)} nodes of "
                               f"~{NODE_MEMORY >> 20} MiB); {len(out)} of {count} instances would fit")
        best = min(fits, key=lambda h: load_[h])
        load_[best] += len(base.nodes)
        out.append(best)
    return out


def class_up(lab_ref: str, students: list[str], progress: Progress) -> dict:
    base = load(lab_ref)
    if _record(base.name).exists():
        raise WirelabError(f"a class of {base.name} is already up; `wirelab class down {base.name}` first")
    folder = CLASSES / base.name
    folder.mkdir(parents=True, exist_ok=True)
    hosts = _choose_hosts(base, len(students))
    record = {"lab": base.name, "instances": {s: {"lab": f"{base.name}-{s}", "host": h}
                                              for s, h in zip(students, hosts, strict=True)}}
    _record(base.name).write_text(json.dumps(record, indent=1))  # before anything exists: down finds it all
    files = {s: _instance_file(base, i["lab"], i["host"], folder) for s, i in record["instances"].items()}
    errors: dict[str, str] = {}

    def one(student: str) -> None:
        try:
            labs.up(load(str(files[student])), backend="swarm")
        except WirelabError as e:
            errors[student] = str(e)

    with progress.step(f"{len(students)} instances of {base.name} on {len(set(hosts))} hosts", len(students)):
        with ThreadPoolExecutor(BRINGUPS) as pool:
            list(pool.map(one, students))
    if errors:
        who, why = next(iter(errors.items()))
        raise WirelabError(f"{len(errors)} of {len(students)} instances did not come up (first: {who}: {why}); "
                           f"the others are up; `wirelab class down {base.name}` removes them all")
    return record


def class_ps(lab: str) -> list[dict]:
    record = load_class(lab)

    def row(item: tuple[str, dict]) -> dict:
        student, inst = item
        state = LabState.load(inst["lab"])
        if state is None:
            return {"student": student, "lab": inst["lab"], "host": inst["host"], "status": "down", "services": "-"}
        running = labs.attach(inst["lab"])
        states = [running.service_status(rec).state for rec in running.services()]
        ok = sum(s == "running" for s in states)
        return {"student": student, "lab": inst["lab"], "host": inst["host"], "status": state.status,
                "services": f"{ok}/{len(states)} running"}

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(row, record["instances"].items()))


def class_down(lab: str, progress: Progress) -> list[str]:
    """Take every instance down; returns the errors (instances on hosts that do not answer)."""
    record = load_class(lab)
    errors = []

    def one(inst: dict) -> None:
        try:
            labs.down(inst["lab"])
        except WirelabError as e:
            errors.append(str(e))

    with progress.step(f"{len(record['instances'])} instances", len(record["instances"])):
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(one, record["instances"].values()))
    if not errors:
        shutil.rmtree(CLASSES / lab, ignore_errors=True)
    return errors


def class_scenarios(lab: str, out: Path, names: tuple[str, ...] = (), workers: int = 3) -> list[dict]:
    """Every instance's scenarios (or those named), instances in parallel (`wirelab scenario run` each, its own JUnit
    file and report in out/<student>/); one summary row per student."""
    record = load_class(lab)
    folder = CLASSES / lab

    def one(item: tuple[str, dict]) -> dict:
        student, inst = item
        dest = out / student
        which = list(names) if names else ["--lab", lab]
        proc = subprocess.run([str(Path(sys.executable).parent / "wirelab"), "scenario", "run", *which,
                               "--backend", "swarm", "--lab-file", str(folder / f"{inst['lab']}.yaml"),
                               "--out", str(dest), "--no-ladders"], capture_output=True, text=True, timeout=3600)
        try:
            report = json.loads((dest / "report.json").read_text())
            results = report["scenarios"]
        except (OSError, ValueError, KeyError):
            return {"student": student, "lab": inst["lab"], "passed": 0, "total": 0,
                    "error": (proc.stderr or proc.stdout).strip()[-300:], "junit": None}
        passed = sum(1 for r in results if r.get("passed"))
        return {"student": student, "lab": inst["lab"], "passed": passed, "total": len(results), "error": None,
                "junit": str(dest / "junit.xml")}

    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(one, record["instances"].items()))
    (out / "class.json").write_text(json.dumps(rows, indent=1))
    return rows
