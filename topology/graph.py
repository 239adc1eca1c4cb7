"""A picture of a lab: Graphviz DOT, rendered to SVG by `dot` when it is installed."""

from __future__ import annotations

import shutil
import subprocess

from .errors import WirelabError


def to_dot(lab: dict) -> str:
    """lab is Lab.to_dict() (or a running lab's record, with the addresses it was given)."""
    out = [
        f'graph "{_esc(lab["name"])}" {{',
        '  graph [layout=neato, overlap=false, splines=true, sep="+12", fontname="Helvetica", '
        f'label="{_esc(lab["name"])}: {_esc(lab.get("description", ""))}", labelloc=t];',
        '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for name, seg in lab["segments"].items():
        shape, fill = ("octagon", "#fde2c8") if seg["kind"] == "hub" else ("box", "#d6e9f8")
        extra = ", ".join(x for x in (seg.get("rate"), seg["mtu"] != 1500 and f'mtu {seg["mtu"]}') if x)
        label = f'{name}\\n{seg["kind"]} {seg["subnet"]}' + (f"\\n{extra}" if extra else "")
        out.append(f'  "seg:{name}" [label="{label}", shape={shape}, style="rounded,filled", fillcolor="{fill}"];')
    for name, node in lab["nodes"].items():
        if node["kind"] == "router":
            attrs = 'shape=circle, style=filled, fillcolor="#c9e7c4", width=0.9, fixedsize=true'
        else:
            attrs = 'shape=box, style=filled, fillcolor="#f3f3f3"'
        services = "\\n".join(s["name"] for s in node.get("services", []))
        # A host on one segment carries its address in its own box (no crowded labels round a busy
        # switch); a router's interfaces are named on its edges, where they tell the sides apart.
        single = node["kind"] != "router" and len(node["interfaces"]) == 1
        addr_line = f"\\n{node['interfaces'][0]['address'] or ''}" if single else ""
        label = name + addr_line + (f"\\n{services}" if services else "")
        out.append(f'  "node:{name}" [label="{label}", {attrs}];')
        for iface in node["interfaces"]:
            edge = "" if single else f'label="{iface["name"]}\\n{iface["address"] or ""}"'
            out.append(f'  "node:{name}" -- "seg:{iface["segment"]}" [{edge}];')
    out.append("}")
    return "\n".join(out) + "\n"


def to_svg(dot: str) -> str:
    if shutil.which("dot") is None:
        raise WirelabError("drawing needs Graphviz's `dot`; install it (apt-get install graphviz, or make setup), "
                           "or use --format dot")
    proc = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WirelabError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout


def _esc(s: str) -> str:
    """Text for inside a DOT label's quotes: a backslash or quote of the text's own must not end the label."""
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "".join(c for c in s if c.isprintable())
