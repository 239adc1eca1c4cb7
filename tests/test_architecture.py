"""The shape the design guide asks for, checked on the source: data flows one way, and only backends
see host processes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST_PROCESS_ACCESS = re.compile(r"""["']/proc\b|\bos\.(kill|killpg|waitpid|getpgid|setpgid)\(""")


def _modules(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    return files


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_services_and_topology_import_nothing_of_each_other():
    for path in _modules("services"):
        assert not _imports(path) & {"topology", "scenarios"}, f"{path.relative_to(ROOT)} imports the lab side"
    for path in _modules("topology"):
        assert not _imports(path) & {"services", "scenarios"}, f"{path.relative_to(ROOT)} imports a protocol"


def test_only_backends_touch_host_pids_or_proc():
    offenders = []
    for package in ("topology", "scenarios"):
        for path in _modules(package):
            if path.is_relative_to(ROOT / "topology" / "backends"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if HOST_PROCESS_ACCESS.search(line.split("#", 1)[0]):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == [], "host processes handled outside topology/backends/:\n" + "\n".join(offenders)


def _code_strings(path: Path) -> set[str]:
    """The string constants of a module's code (docstrings left out: they may give examples)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs}


def test_the_lab_engine_names_no_service():
    names = {"dhcp-client", "dhcp-server", "dhcp-relay", "dns-resolver", "dns-auth", "echo-udp", "echo-tcp",
             "uppercase-udp", "uppercase-tcp"}
    for path in _modules("topology"):
        assert not _code_strings(path) & names, f"{path.relative_to(ROOT)} names a service in its code"
