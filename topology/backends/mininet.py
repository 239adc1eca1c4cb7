"""The Mininet backend: a wirelab lab realised through Mininet's own Python API.

Mininet makes the lab: every node a Mininet `Host` (routers too, with forwarding on), every segment a
Mininet `LinuxBridge` in a namespace of its own (this kernel has no Open vSwitch module; a bridge in the
host's namespace would be in reach of dockerd's br_netfilter and FORWARD DROP), every interface a
Mininet link, a `TCLink` where the segment has a `rate`, with the MAC, the MTU, the addresses and the
routes the lab file gives. Mininet's hosts live as long as the Python process that made them; wirelab's
commands come and go, so once Mininet has made a node its namespace is pinned under its wirelab name
(`ip netns attach`, as the docker backend does) and Mininet's shell is let go. From there on a node is
what it is on the netns backend: `ip netns exec` reaches it, it has its own UTS namespace (hostname)
and /etc files, and `down` removes exactly what the record names. Mininet's global clean-up (`mn -c`)
is never used: it removes what it did not make.

Mininet is Debian's `mininet` package, whose Python module lives in the system interpreter's
dist-packages; it is imported from there by path (pure Python, the same minor version), not added to
wirelab's environment.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path

from ..errors import WirelabError
from ..model import Lab
from ..nodefiles import lab_files
from ..progress import Progress
from ..state import LabState
from . import fabric
from .kernel import existing_netns, has_netem, in_netns, make_uts, parallel, run_batch
from .netns import ETC_NETNS, NetnsBackend

SYSTEM_PYTHON = "/usr/bin/python3"


@cache
def mininet_path() -> Path:
    """The folder holding Debian's `mininet` package, found by asking the system Python."""
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", "import mininet, os; print(os.path.dirname(mininet.__file__))"],
                             capture_output=True, text=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0:
        raise WirelabError("the mininet backend needs Mininet: apt-get install mininet bridge-utils "
                           "(make setup does)")
    return Path(out.stdout.strip())


def mininet():
    """Import Debian's mininet package into this interpreter, by path."""
    if "mininet" not in sys.modules:
        folder = mininet_path()
        spec = importlib.util.spec_from_file_location("mininet", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["mininet"] = module
        spec.loader.exec_module(module)
    from mininet.log import setLogLevel

    setLogLevel("error")
    return sys.modules["mininet"]


def segment_ns(lab_hash: str, index: int) -> str:
    return f"wl{lab_hash}_s{index}"  # '_' never appears in a node name


def switch_name(index: int) -> str:
    """Mininet's name for a segment's switch (`s1`...): its bridge, and the prefix of its ports."""
    return f"s{index + 1}"


class MininetBackend(NetnsBackend):
    name = "mininet"

    def check(self, lab: Lab) -> None:
        super().check(lab)
        mininet_path()
        for tool in ("mnexec", "brctl"):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
                raise WirelabError(f"the mininet backend needs {tool}: apt-get install mininet bridge-utils")
        if any(s.loss for s in lab.segments.values()) and not has_netem():
            s = next(s for s in lab.segments.values() if s.loss)
            raise WirelabError(f"segment {s.name} asks for loss {s.loss}%, which Mininet's TCLink makes with "
                               f"sch_netem, and this kernel has none; remove `loss:` or use --backend netns")

    def plan(self, lab: Lab, state: LabState) -> None:
        super().plan(lab, state)
        state.objects.pop("fabric")
        state.objects["segments"] = {s.name: segment_ns(lab.hash, s.index) for s in lab.segments.values()}

    def up(self, lab: Lab, state: LabState, progress: Progress) -> None:
        mininet()
        from mininet.link import Link, TCLink
        from mininet.net import Mininet
        from mininet.node import Host
        from mininet.nodelib import LinuxBridge

        objs = state.objects
        nodes: dict[str, str] = objs["nodes"]
        segs: dict[str, str] = objs["segments"]
        clash = existing_netns() & (set(nodes.values()) | set(segs.values()))
        if clash:
            raise WirelabError(f"namespace {sorted(clash)[0]} already exists: lab {lab.name} is partly up; "
                               f"run `wirelab down {lab.name}` first")
        _enough_descriptors(len(lab.nodes) + len(lab.segments))
        net = Mininet(topo=None, build=False, controller=None, host=Host, switch=LinuxBridge, link=Link,
                      autoSetMacs=False, inNamespace=False)
        made = []
        try:
            with progress.step("Mininet nodes", len(lab.nodes) + len(lab.segments)):
                switches = {s.name: net.addSwitch(switch_name(s.index), cls=LinuxBridge, inNamespace=True)
                            for s in lab.segments.values()}
                hosts = {n.name: net.addHost(n.name, ip=None) for n in lab.nodes.values()}
                made = [*switches.values(), *hosts.values()]
            with progress.step("Mininet links", sum(len(n.interfaces) for n in lab.nodes.values())):
                for node in lab.nodes.values():
                    for iface in node.interfaces:
                        seg = lab.segments[iface.segment]
                        sw = switches[seg.name]
                        extra = {"cls": TCLink, "bw": _mbit(seg)} if seg.rate else {"cls": Link}
                        # the switch's port gets the host's MAC with the next local bit set: 02:... -> 06:...
                        link = net.addLink(hosts[node.name], sw, intfName1=iface.name,
                                           intfName2=f"{sw.name}-{node.index}-{iface.index}", addr1=iface.mac,
                                           addr2=f"{int(iface.mac[:2], 16) | 4:02x}{iface.mac[2:]}", **extra)
                        for intf in (link.intf1, link.intf2):
                            intf.ifconfig("mtu", str(seg.mtu))
            with progress.step("namespaces pinned", len(made)):
                run_batch("ip", [f"netns attach {segs[s]} {sw.pid}" for s, sw in switches.items()]
                          + [f"netns attach {nodes[n]} {h.pid}" for n, h in hosts.items()])
            with progress.step("segments", len(lab.segments)):
                for seg in lab.segments.values():
                    sw = switches[seg.name]
                    fabric.prepare(segs[seg.name])  # IPv6 and bridge-netfilter off in the switch's namespace
                    sw.start([])
                    _bridge_settings(segs[seg.name], sw, seg.kind == "hub", [i.name for i in sw.intfList()
                                                                            if sw.name in i.name])
        finally:
            # The pinned namespaces keep everything; Mininet's shells are let go, all at once (each
            # terminate() waits for its shell to exit).
            for node in made:
                if node.shell and node.shell.poll() is None:
                    os.killpg(node.shell.pid, signal.SIGHUP)
            for node in made:
                node.terminate()
        self._identity(lab, state, progress)
        with progress.step("addresses and routes", len(nodes)):
            def address(node) -> None:
                in_netns(f"/run/netns/{nodes[node.name]}", lambda: fabric.node_kernel_settings(lab, node))
                ip, _tc = fabric.node_lines(lab, node)  # rates are Mininet's TCLinks
                run_batch("ip", ip, netns=nodes[node.name])

            parallel(address, list(lab.nodes.values()), workers=4)

    def _identity(self, lab: Lab, state: LabState, progress: Progress) -> None:
        """Hostname (a pinned UTS namespace) and /etc files per node, as on the netns backend."""
        objs = state.objects
        with progress.step("hostnames and /etc files", len(lab.nodes)):
            (state.dir / "uts").mkdir(parents=True, exist_ok=True)
            ETC_NETNS.mkdir(exist_ok=True)
            files = lab_files(lab)
            for node in lab.nodes.values():
                make_uts(Path(objs["uts"][node.name]), node.name)
                folder = self.node_files(state, node.name, files[node.name])
                (ETC_NETNS / objs["nodes"][node.name]).symlink_to(folder)

    def segment_argv(self, state: LabState, segment: str, argv: list[str]) -> list[str]:
        ns = state.objects["segments"].get(segment)
        if ns is None:
            raise WirelabError(f"lab {state.name} has no segment {segment!r}; "
                               f"segments: {', '.join(state.objects['segments'])}")
        return ["ip", "netns", "exec", ns, *argv]

    def bridge(self, state: LabState, segment: str) -> str:
        return switch_name(state.lab.segments[segment].index)


def _bridge_settings(ns: str, sw, hub: bool, ports: list[str]) -> None:
    """As on the other backends: no spanning tree, no forwarding delay; a hub never learns."""
    lines = [f"link set {sw.name} type bridge forward_delay 0 mcast_snooping 0"]
    if hub:
        lines.append(f"link set {sw.name} type bridge ageing_time 0")
        lines += [f"link set dev {p} type bridge_slave learning off flood on" for p in ports]
    lines += [f"link set dev {p} up" for p in ports]
    run_batch("ip", lines, netns=ns)


def _mbit(seg) -> float:
    """The segment's rate in Mbit/s, as Mininet's TCLink takes it."""
    return seg.rate.mbit


def _enough_descriptors(count: int) -> None:
    """Mininet holds a pseudo-terminal per node while it builds: raise the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
