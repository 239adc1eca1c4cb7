"""The results of a run, for people (a terminal summary) and for machines (JSON, JUnit XML)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from .frames import Names
from .runner import ScenarioResult

TERMINAL_FRAMES = 8  # frames shown under a failed assertion in the terminal (all are in report.json)


def to_json(results: list[ScenarioResult], backend: str) -> dict:
    scenarios = []
    for r in results:
        names = r.names or Names({})
        t0 = _t0(r)
        scenarios.append({
            "name": r.name, "lab": r.lab, "about": r.about, "backend": r.backend,
            "passed": r.passed, "error": r.error, "duration": round(r.duration, 3),
            "assertions": [{
                "text": o.text, "passed": o.passed, "why": o.why, "capture": o.capture,
                "packets": [f.ref(names) | {"offset": round(f.time - t0, 6)} for f in o.frames],
            } for o in r.outcomes],
            "commands": r.commands,
            "captures": r.captures,
            "dropped": r.dropped,
            "ladders": [{"title": lad.title, "svg": lad.svg, "text": lad.text} for lad in r.ladders],
        })
    return {"wirelab": "scenario report", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "backend": backend,
            "passed": all(r.passed for r in results), "scenarios": scenarios}


def to_junit(results: list[ScenarioResult]) -> str:
    suites = ET.Element("testsuites", name="wirelab scenarios")
    by_lab: dict[str, list[ScenarioResult]] = {}
    for r in results:
        by_lab.setdefault(r.lab, []).append(r)
    for lab, group in by_lab.items():
        suite = ET.SubElement(suites, "testsuite", name=f"lab {lab}")
        tests = failures = errors = 0
        for r in group:
            names = r.names or Names({})
            if r.error:
                errors += 1
                tests += 1
                case = ET.SubElement(suite, "testcase", classname=f"scenarios.{r.name}", name="run",
                                     time=f"{r.duration:.3f}")
                ET.SubElement(case, "error", message=r.error).text = r.error
            for o in r.outcomes:
                tests += 1
                case = ET.SubElement(suite, "testcase", classname=f"scenarios.{r.name}", name=o.text,
                                     time="0")
                if not o.passed:
                    failures += 1
                    fail = ET.SubElement(case, "failure", message=o.why)
                    fail.text = "\n".join(f.line(names) for f in o.frames)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("time", f"{sum(r.duration for r in group):.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write(results: list[ScenarioResult], out: Path, backend: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(to_json(results, backend), indent=1) + "\n")
    (out / "junit.xml").write_text(to_junit(results))
    (out / "summary.txt").write_text(summary(results, out, color=False))


def line(r: ScenarioResult, color: bool = True) -> str:
    """One line per scenario, as it finishes."""
    ok = sum(o.passed for o in r.outcomes)
    word = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
    tint = {"PASS": "\033[32m", "FAIL": "\033[31m", "ERROR": "\033[33m"}[word] if color else ""
    reset = "\033[0m" if color else ""
    return (f"{tint}{word:5}{reset} {r.name:20} {ok:>2}/{len(r.outcomes):<2} assertions  "
            f"{r.duration:5.1f}s  {r.about}")


def summary(results: list[ScenarioResult], out: Path, color: bool = True) -> str:
    lines = []
    for r in results:
        if r.passed:
            continue
        names = r.names or Names({})
        t0 = _t0(r)
        lines.append(f"{r.name} ({r.lab}):")
        if r.error:
            lines.append(f"  error: {r.error}")
        for o in r.outcomes:
            if o.passed:
                continue
            lines.append(f"  ✗ {o.text}")
            lines.append(f"    {o.why}")
            for f in o.frames[:TERMINAL_FRAMES]:
                lines.append(f"      {f.line(names, t0)}")
            if len(o.frames) > TERMINAL_FRAMES:
                lines.append(f"      ... {len(o.frames) - TERMINAL_FRAMES} more in report.json")
    passed = sum(r.passed for r in results)
    assertions = sum(len(r.outcomes) for r in results)
    held = sum(o.passed for r in results for o in r.outcomes)
    verdict = "all passed" if passed == len(results) else f"{len(results) - passed} failed"
    lines.append(f"{passed}/{len(results)} scenarios passed ({held}/{assertions} assertions): {verdict}")
    lines.append(f"results in {out}/: report.json, junit.xml, a folder per scenario with its pcaps "
                 f"(open in Wireshark) and ladder diagrams")
    return "\n".join(lines) + "\n"


def _t0(r: ScenarioResult) -> float:
    times = [f.time for o in r.outcomes for f in o.frames]
    return min(times) if times else 0.0
