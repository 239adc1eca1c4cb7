"""The embedded default backend: each node a named network namespace with its own UTS namespace and
/etc files, each segment a bridge in the lab's fabric namespace. No daemon; bring-up is a handful of
batched `ip`/`tc` calls plus setns from threads.

Names: node namespaces `wl<hash>-<node>`, the fabric `wl<hash>_fabric`; per-node /etc files under
/etc/netns/<namespace>/ (which `ip netns exec` binds over /etc); UTS namespaces pinned under
/run/wirelab/labs/<lab>/uts/.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WirelabError
from ..model import Lab
from ..nodefiles import lab_files
from ..progress import Progress
from ..state import LabState
from . import fabric
from .kernel import existing_netns, make_uts, require_root, run_batch, unmount
from .local import LocalBackend, node_ns

ETC_NETNS = Path("/etc/netns")


class NetnsBackend(LocalBackend):
    name = "netns"

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
                files = self.node_files(state, node.name, all_files[node.name])
                (ETC_NETNS / nodes[node.name]).symlink_to(files)
        fabric.wire(lab, nodes, fab, progress)

    def down(self, state: LabState, progress: Progress) -> None:
        require_root()
        objs = state.objects
        if not objs:
            return
        self.remove_namespaces(state, progress)
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
        ns = self.namespace(state, node)  # an unknown node is refused here
        return ["nsenter", f"--uts={state.objects['uts'][node]}", "--", "ip", "netns", "exec", ns, *argv]
