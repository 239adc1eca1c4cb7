"""The embedded default backend: each node a named network namespace with its own UTS namespace and
/etc files, each segment a bridge in the lab's fabric namespace. No daemon; bring-up is a handful of
batched `ip`/`tc` calls plus setns from threads.

Names: node namespaces `wl<hash>-<node>`, the fabric `wl<hash>_fabric`; per-node /etc files under
/etc/netns/<namespace>/ (which `ip netns exec` binds over /etc); UTS namespaces pinned under
/run/wirelab/labs/<lab>/uts/.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from ..backend import Backend
from ..errors import WirelabError
from ..kernel import (
    existing_netns,
    has_netem,
    make_uts,
    netns_pids,
    require_root,
    run_batch,
    unmount,
)
from ..model import Lab
from ..nodefiles import lab_files
from ..progress import Progress
from ..state import LabState
from . import fabric

ETC_NETNS = Path("/etc/netns")


def node_ns(lab_hash: str, node: str) -> str:
    return f"wl{lab_hash}-{node}"


class NetnsBackend(Backend):
    name = "netns"
    shares_host_pids = True

    def check(self, lab: Lab) -> None:
        require_root()
        delayed = [s for s in lab.segments.values() if s.delay]
        if delayed and not has_netem():
            s = delayed[0]
            raise WirelabError(
                f"segment {s.name} asks for delay {s.delay}, but this kernel has no sch_netem (tc qdisc netem), "
                f"so wirelab cannot emulate delay here; remove `delay:` from the lab or run on a kernel "
                f"built with CONFIG_NET_SCH_NETEM (loss works without it)")
        if any(s.loss for s in lab.segments.values()) and shutil.which("nft") is None:
            raise WirelabError("segment loss is emulated with nftables; install it (apt-get install nftables, "
                               "or make setup)")

    def plan(self, lab: Lab, state: LabState) -> None:
        nodes = {n: node_ns(lab.hash, n) for n in lab.nodes}
        state.objects = {
            "fabric": fabric.fabric_ns(lab.hash),
            "nodes": nodes,
            "etc": [str(ETC_NETNS / ns) for ns in nodes.values()],
            "uts": {n: str(state.dir / "uts" / n) for n in lab.nodes},
        }

    def up(self, lab: Lab, state: LabState, progress: Progress) -> None:
        objs = state.objects
        nodes: dict[str, str] = objs["nodes"]
        fab = objs["fabric"]
        clash = existing_netns() & ({fab} | set(nodes.values()))
        if clash:
            raise WirelabError(f"namespace {sorted(clash)[0]} already exists: lab {lab.name} is partly up; "
                               f"run `wirelab down {lab.name}` first")
        with progress.step("namespaces", len(nodes) + 1):
            run_batch("ip", [f"netns add {ns}" for ns in [fab, *nodes.values()]])
            fabric.prepare(fab)
        with progress.step("hostnames and /etc files", len(nodes)):
            (state.dir / "uts").mkdir(parents=True, exist_ok=True)
            ETC_NETNS.mkdir(exist_ok=True)
            all_files = lab_files(lab)
            for node in lab.nodes.values():
                make_uts(Path(objs["uts"][node.name]), node.name)
                # The files live with the lab's runtime state; /etc/netns/<ns> (which `ip netns exec`
                # binds over /etc) is a link to them: one small write on the host's disk per node.
                files = state.dir / "etc" / node.name
                files.mkdir(parents=True, exist_ok=True)
                for fname, text in all_files[node.name].items():
                    (files / fname).write_text(text)
                (ETC_NETNS / nodes[node.name]).symlink_to(files)
        fabric.wire(lab, nodes, fab, progress)

    def down(self, state: LabState, progress: Progress) -> None:
        require_root()
        objs = state.objects
        if not objs:
            return
        nodes: dict[str, str] = objs.get("nodes", {})
        owned = [ns for ns in [objs.get("fabric"), *nodes.values()] if ns]
        existing = existing_netns()
        present = [ns for ns in owned if ns in existing]
        with progress.step("processes"):
            _kill_all(netns_pids(present))
        with progress.step("namespaces", len(present)):
            run_batch("ip", [f"netns del {ns}" for ns in present])
        for path in objs.get("uts", {}).values():
            unmount(Path(path))
            Path(path).unlink(missing_ok=True)
        for etc in objs.get("etc", []):
            # Only the links this lab made, pointing into its own runtime folder.
            link = Path(etc)
            if link.is_symlink() and Path(os.readlink(link)).is_relative_to(state.dir):
                link.unlink()
        try:
            ETC_NETNS.rmdir()  # only when empty: made for the labs, no longer needed
        except OSError:
            pass

    def node_argv(self, state: LabState, node: str, argv: list[str], *, interactive: bool = False) -> list[str]:
        ns = state.objects["nodes"].get(node)
        if ns is None:
            raise WirelabError(f"lab {state.name} has no node {node!r}; nodes: {', '.join(state.objects['nodes'])}")
        return ["nsenter", f"--uts={state.objects['uts'][node]}", "--",
                "ip", "netns", "exec", ns, *argv]

    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        if segment not in state.lab.get("segments", {}):
            raise WirelabError(f"lab {state.name} has no segment {segment!r}; "
                               f"segments: {', '.join(state.lab.get('segments', {}))}")
        return ["ip", "netns", "exec", state.objects["fabric"], *argv]

    def bridge(self, state: LabState, segment: str) -> str:
        return segment

    def node_pids(self, state: LabState, node: str) -> list[int]:
        return netns_pids([state.objects["nodes"][node]])


def _kill_all(pids: list[int]) -> None:
    pids = sorted({p for p in pids if p > 1 and p != os.getpid()})
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 1.0
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            if pids:
                time.sleep(0.02)
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie whose parent has not reaped it yet counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
