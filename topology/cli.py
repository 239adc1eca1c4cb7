"""The `wirelab` command."""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import lab as labs
from .errors import WirelabError
from .gen import star, swarm_lab
from .graph import to_dot, to_svg
from .loader import load
from .progress import Progress
from .state import LabState, all_labs

out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


class Group(click.Group):
    """Errors a user can cause print as one line, without a traceback, and exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WirelabError as e:
            click.echo(f"wirelab: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("wirelab: interrupted", err=True)
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """wirelab: virtual network labs from YAML files, on network namespaces or containers (needs root)."""


def _backend_option(f):
    return click.option("--backend", "-b", default=None,
                        help="netns, docker or mininet: any installed backend (default: $WIRELAB_BACKEND, else "
                             "/etc/wirelab/backend, else netns)")(f)


@main.command()
@click.argument("lab_file")
@_backend_option
@click.option("--no-services", is_flag=True, help="make the network only; start no services")
@click.option("--quiet", "-q", is_flag=True)
def up(lab_file: str, backend: str | None, no_services: bool, quiet: bool) -> None:
    """Bring a lab up: LAB_FILE is a path or the name of a lab under topology/labs/."""
    lab = load(lab_file)
    progress = Progress(quiet=quiet)
    progress.note(f"[bold]{lab.name}[/]: {len(lab.nodes)} nodes, {len(lab.segments)} segments "
                  f"on {backend or labs.DEFAULT_BACKEND}")
    labs.up(lab, backend=backend, progress=progress, services=not no_services)
    progress.done(f"lab {lab.name} is up")
    if not quiet:
        out.print(f"next: wirelab ps {lab.name} · wirelab shell {lab.name} NODE · wirelab down {lab.name}")


@main.command()
@click.argument("lab", required=False)
@click.option("--all", "all_", is_flag=True, help="every lab that is up")
@click.option("--quiet", "-q", is_flag=True)
def down(lab: str | None, all_: bool, quiet: bool) -> None:
    """Remove exactly what `up` made for LAB (also after a crash)."""
    if not lab and not all_:
        raise WirelabError("name a lab (wirelab down LAB) or use --all")
    names = all_labs() if all_ else [_lab_name(lab)]
    for name in names:
        progress = Progress(quiet=quiet)
        if labs.down(name, progress):
            progress.done(f"lab {name} is down")
        elif not all_:
            raise WirelabError(f"lab {name!r} is not up; labs up: {', '.join(all_labs()) or 'none'}")
    if all_ and not names and not quiet:
        out.print("no labs are up")


def _lab_name(ref: str) -> str:
    """A lab is named by its name, or by its file as a relative or absolute path (for
    `wirelab down topology/labs/campus.yaml`): a file's lab is the name inside it."""
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return load(ref).name
    return ref


@main.command()
@click.argument("lab", required=False)
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
def ps(lab: str | None, as_json: bool) -> None:
    """Labs that are up: nodes, interfaces, live addresses, and what runs there."""
    names = [_lab_name(lab)] if lab else all_labs()
    report = [_describe(labs.attach(n)) for n in names]
    if as_json:
        click.echo(json.dumps(report if not lab else report[0], indent=1))
        return
    if not report:
        out.print("no labs are up")
    for r in report:
        t = Table(title=f"{r['name']} ({r['backend']}, {r['status']})", title_justify="left")
        for col in ("node", "kind", "interface", "segment", "address", "mac", "services and processes"):
            t.add_column(col)
        for node, n in r["nodes"].items():
            lines = [f"{s['service']}: {s['status']}" for s in n["services"]]
            lines += [f"{p['pid']} {p['cmd'][:50]}" for p in n["processes"] if p["service"] is None]
            for i, iface in enumerate(n["interfaces"]):
                t.add_row(node if i == 0 else "", n["kind"] if i == 0 else "", iface["name"], iface["segment"],
                          ", ".join(iface["addresses"]) or "-", iface["mac"], "\n".join(lines) or "-" if i == 0 else "")
        out.print(t)


def _describe(running: labs.RunningLab) -> dict:
    nodes = {}
    for name, spec in running.nodes.items():
        live = {}
        proc = running.run(name, ["ip", "-j", "addr", "show"], timeout=10)
        if proc.returncode == 0 and proc.stdout.strip():
            for link in json.loads(proc.stdout):
                live[link["ifname"]] = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                                        if a.get("family") == "inet"]
        services = []
        for rec in running.services(node=name):
            st = running.service_status(rec)
            services.append({"service": rec.label, "handle": rec.pid, "status": str(st), "state": st.state,
                             "restarts": st.restarts, "exit": st.exit, "log": rec.log})
        # A service's processes (its supervisor and what that started) are in the service's group.
        owners = {s.pid: s.label for s in running.services(node=name)}
        procs = [{"pid": p.handle, "cmd": p.command, "service": owners.get(p.group)}
                 for p in running.processes(name)]
        nodes[name] = {
            "kind": spec.kind,
            "interfaces": [{"name": i.name, "segment": i.segment, "mac": i.mac,
                            "configured": "dhcp" if i.dhcp else (str(i.address) if i.address else None),
                            "addresses": live.get(i.name, [])}
                           for i in spec.interfaces],
            "services": services,
            "processes": procs,
        }
    s = running.state
    return {"name": s.name, "backend": s.backend, "status": s.status, "source": s.source,
            "segments": s.lab.to_dict()["segments"], "nodes": nodes}


@main.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("lab")
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab: str, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND on NODE (after `--`); its exit status is wirelab's."""
    argv = labs.attach(_lab_name(lab)).argv(node, list(command))
    os.execvpe(argv[0], argv, _node_env())


def _node_env() -> dict[str, str]:
    """The caller's environment with wirelab's own Python first on PATH, so `python3 -m services.X`
    (the course's socket programs, the project's clients) works on a node from any folder."""
    here = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    return os.environ | {"PATH": here + os.pathsep + path if here not in path.split(os.pathsep) else path}


@main.command()
@click.argument("lab")
@click.argument("node")
def shell(lab: str, node: str) -> None:
    """An interactive shell on NODE; the prompt and `hostname` name the node."""
    running = labs.attach(_lab_name(lab))
    argv = running.argv(node, ["bash", "-i"], interactive=True)
    env = _node_env() | {"debian_chroot": running.name, "WIRELAB_LAB": running.name, "WIRELAB_NODE": node}
    os.execvpe(argv[0], argv, env)


@main.command()
@click.argument("lab")
@click.option("--output", "-o", type=click.Path(),
              help="file to write, or - for stdout (default: stdout when redirected, else LAB.svg here)")
@click.option("--format", "fmt", type=click.Choice(["svg", "dot"]), default="svg")
def graph(lab: str, output: str | None, fmt: str) -> None:
    """Draw a lab (up or only a file) as SVG."""
    state = LabState.load(_lab_name(lab))
    data = (state.lab if state else load(lab)).to_dict()
    dot = to_dot(data)
    text = dot if fmt == "dot" else to_svg(dot)
    if output == "-" or (output is None and not sys.stdout.isatty()):
        click.echo(text, nl=False)  # `wirelab graph campus > campus.svg` works as it reads
        return
    path = Path(output or f"{data['name']}.{fmt}")
    path.write_text(text)
    click.echo(f"wrote {path}", err=True)


@main.command()
@click.argument("lab", required=False)
@click.argument("segment", required=False)
@click.option("--write", "-w", "write", default=None, help="pcap file, or - for stdout (wireshark -k -i -)")
@click.option("--filter", "-f", "bpf", default="", help="capture filter (BPF), e.g. 'arp or icmp'")
@click.option("--count", "-c", type=int, default=None, help="stop after this many packets")
def capture(lab: str, segment: str, write: str | None, bpf: str, count: int | None) -> None:
    """Live capture on a segment (all its ports, as its bridge sees them); Ctrl-C ends it, every packet kept."""
    if not lab or not segment:
        raise WirelabError("usage: wirelab capture LAB SEGMENT [-w FILE|-] [-f FILTER]")
    from .capture import live

    sys.exit(live(labs.attach(_lab_name(lab)), segment, write, bpf, count))


@main.group("gen")
def gen() -> None:
    """Generate lab files."""


@gen.command("star")
@click.option("--hosts", "-n", type=int, required=True)
@click.option("--name", default=None)
def gen_star(hosts: int, name: str | None) -> None:
    """One switch and N hosts; prints the lab file."""
    try:
        click.echo(star(hosts, name), nl=False)
    except ValueError as e:
        raise WirelabError(str(e)) from None


@main.group("swarm")
def swarm() -> None:
    """The Docker Swarm the swarm backend places labs on."""


@swarm.command("ls")
def swarm_ls() -> None:
    """The swarm's hosts, as the swarm backend sees them."""
    from .backends.swarm_hosts import load_swarm

    sw = load_swarm()
    out.print(f"swarm from {sw.source} (manager {sw.manager})")
    for h in sw.hosts:
        out.print(f"  {h.name}  {h.url}  exec-root {h.exec_root}")


@swarm.group("local")
def swarm_local() -> None:
    """A swarm of local hosts (dockerds in namespaces of their own), to try and test the swarm backend."""


@swarm_local.command("up")
@click.option("--hosts", "-n", type=int, default=3, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
def swarm_local_up(hosts: int, quiet: bool) -> None:
    """Make a swarm of N local hosts with the node image loaded into each."""
    from .backends.docker import IMAGE
    from .backends.swarm_hosts import local_up

    progress = Progress(quiet=quiet)
    local_up(hosts, IMAGE, progress)
    progress.done(f"a local swarm of {hosts} hosts is up: wirelab up LAB --backend swarm")


@swarm_local.command("down")
@click.option("--quiet", "-q", is_flag=True)
def swarm_local_down(quiet: bool) -> None:
    """Remove the local swarm: its dockerds, their data and namespaces (take its labs down first)."""
    from .backends.swarm_hosts import local_down

    progress = Progress(quiet=quiet)
    if not local_down(progress):
        raise WirelabError("no local swarm is up")
    progress.done("the local swarm is down")


@gen.command("swarm")
@click.option("--peers", "-n", type=int, required=True)
@click.option("--name", default=None)
@click.option("--seed-rate", default="20mbit", show_default=True, help="the server's link (u_s)")
@click.option("--peer-rate", default="10mbit", show_default=True, help="each peer's access link (u_i, d_i)")
def gen_swarm(peers: int, name: str | None, seed_rate: str, peer_rate: str) -> None:
    """A server, a tracker and N peers on access links; prints the lab file."""
    try:
        click.echo(swarm_lab(peers, name, seed_rate, peer_rate), nl=False)
    except ValueError as e:
        raise WirelabError(str(e)) from None


@main.group("class")
def class_() -> None:
    """A class: one instance of a lab per student, on the swarm backend."""


@class_.command("up")
@click.argument("lab_file")
@click.option("--students", "-n", type=int, default=None, help="this many students, named s01, s02, ...")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a file naming one student a line")
@click.option("--quiet", "-q", is_flag=True)
def class_up(lab_file: str, students: int | None, roster: Path | None, quiet: bool) -> None:
    """Bring up one instance of LAB_FILE per student, each placed whole on a swarm host."""
    from .backends.swarm_class import class_up as up_
    from .backends.swarm_class import students_from

    progress = Progress(quiet=quiet)
    record = up_(lab_file, students_from(students, roster), progress)
    progress.done(f"class of {record['lab']} is up: {len(record['instances'])} instances "
                  f"({', '.join(i['lab'] for i in record['instances'].values())})")


@class_.command("ps")
@click.argument("lab")
def class_ps(lab: str) -> None:
    """Each student's instance: its host, its state, its services."""
    from .backends.swarm_class import class_ps as ps_

    t = Table(title=f"class of {lab}", title_justify="left")
    for col in ("student", "lab", "host", "status", "services"):
        t.add_column(col)
    for row in ps_(lab):
        t.add_row(*(str(row[c]) for c in ("student", "lab", "host", "status", "services")))
    out.print(t)


@class_.command("down")
@click.argument("lab")
@click.option("--quiet", "-q", is_flag=True)
def class_down(lab: str, quiet: bool) -> None:
    """Take every instance of the class down."""
    from .backends.swarm_class import class_down as down_

    progress = Progress(quiet=quiet)
    errors = down_(lab, progress)
    if errors:
        raise WirelabError(f"{len(errors)} instances are not fully removed (first: {errors[0]})")
    progress.done(f"class of {lab} is down")


@class_.group("scenario")
def class_scenario() -> None:
    """The scenarios of every instance of a class."""


@class_scenario.command("run")
@click.argument("lab")
@click.argument("names", nargs=-1)
@click.option("--out", "-o", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/class"), show_default=True)
def class_scenario_run(lab: str, names: tuple[str, ...], folder: Path) -> None:
    """Run every instance's scenarios (all of the lab's, or NAMES) in parallel: a JUnit file per
    student, one summary row each."""
    from .backends.swarm_class import class_scenarios

    rows = class_scenarios(lab, folder, names)
    t = Table(title=f"class of {lab}: scenarios", title_justify="left")
    for col in ("student", "lab", "passed", "junit"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["student"], r["lab"], f"{r['passed']}/{r['total']}" + (f" ({r['error']})" if r["error"] else ""),
                  r["junit"] or "-")
    out.print(t)
    if not all(r["passed"] == r["total"] and r["total"] for r in rows):
        sys.exit(1)


@main.group("export")
def export() -> None:
    """Write a lab in another tool's terms."""


@export.command("mininet")
@click.argument("lab")
@click.option("--output", "-o", type=click.Path(), help="file to write (default: stdout)")
def export_mininet(lab: str, output: str | None) -> None:
    """A Mininet script of LAB (a name or a file): `sudo python3 FILE` builds it and opens Mininet's CLI."""
    from .mininet_export import to_mininet

    text = to_mininet(load(lab))
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}; run it with: sudo python3 {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("lab_file")
def check(lab_file: str) -> None:
    """Check a lab file without bringing it up."""
    lab = load(lab_file)
    out.print(f"{lab.name}: {len(lab.nodes)} nodes, {len(lab.segments)} segments: ok")


for _ep in entry_points(group="wirelab.commands"):
    try:
        main.add_command(_ep.load(), _ep.name)
    except ImportError:
        pass  # an extension that is not installed adds nothing
