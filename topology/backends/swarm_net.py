"""A lab segment as a Docker Swarm overlay, made to behave like one Ethernet segment on every host.

Docker's overlay is a VXLAN device beside a bridge in a namespace per host (<exec-root>/netns/1-<id>).
Out of the box it is not a broadcast domain across hosts: it forwards only to the MACs it knows, never
floods broadcast or unknown unicast, and its VXLAN device answers ARP for remote containers itself
(`proxy`, which the kernel cannot switch off on a live device) and swallows the requests. So, once every
node is attached, on every host with a member:
- the VXLAN device is made again without `proxy` (same VNI, port, MTU, name, bridge), so ARP requests
  cross between hosts and the owner answers, once;
- head-end replication: an all-zeros FDB entry per other host, so broadcast and unknown unicast reach
  every host with a member (`bridge fdb append 00:00:00:00:00:00 ... dst <peer>`);
- switch segments: a static FDB entry per remote interface (its lab MAC to its host);
  hub segments: none, and the bridge neither learns nor remembers, so every frame reaches every port on
  every host.
Docker's own addresses (its IPAM's, see DOCKER_POOL) are removed from the nodes' interfaces, which get
the lab's; they stay only on Docker's bridge and load-balancer endpoints, in a range no lab uses.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network

from ..errors import WirelabError
from ..model import Lab, Segment
from .swarm_hosts import DOCKER_POOL, DOCKER_POOL_MASK, SwarmHost

VXLAN_OVERHEAD = 50
VXLAN_PORT = 4789


def check_docker_subnet(lab: Lab, seg: Segment, network: dict) -> None:
    """Docker's own addresses on a segment's overlay (each host's bridge, load balancers) must be in none
    of the lab's subnets: its bridge would answer ARP for a lab address."""
    for cfg in network["IPAM"]["Config"] or []:
        theirs = IPv4Network(cfg["Subnet"])
        clash = [s.name for s in lab.segments.values() if s.subnet.overlaps(theirs)]
        if clash:
            raise WirelabError(
                f"the swarm gave segment {seg.name}'s overlay the subnet {theirs}, which overlaps the lab's "
                f"{', '.join(clash)}; make the swarm with `docker swarm init --default-addr-pool {DOCKER_POOL} "
                f"--default-addr-pool-mask-length {DOCKER_POOL_MASK}` (README: Beyond one machine)")


@dataclass(frozen=True)
class Member:
    """An interface on a segment: where it runs and the MAC the lab gives it."""

    vtep: str  # the underlay address of its host
    mac: str


def host_argv(host: SwarmHost, argv: list[str], overlay: str | None = None, image: str = "") -> list[str]:
    """argv in host's own network namespace (dockerd's), or in one of its overlay namespaces.

    A host whose exec-root is on this machine (the local swarm) is entered with nsenter; a remote one
    through a helper container on it that sees its exec-root's namespaces (also a local host marked
    `"helper": true`, which is how the tests take the remote path)."""
    if host.local:
        where = f"{host.exec_root}/netns/{overlay}" if overlay else (f"/run/netns/{host.netns}" if host.netns else "")
        return (["nsenter", f"--net={where}"] if where else []) + argv
    inner = (["nsenter", f"--net=/wlnetns/{overlay}"] if overlay else []) + argv
    # The namespaces are bind mounts under the exec-root: a recursive bind (Docker's default) brings those
    # that exist now, which is all a short-lived helper needs. Capabilities rather than --privileged:
    # entering and moving network namespaces is all it does.
    return ["docker", "-H", host.url, "run", "--rm", "-i", "--network", "host", "--cap-add", "SYS_ADMIN",
            "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--security-opt", "apparmor=unconfined",
            "--security-opt", "seccomp=unconfined", "--label", "wirelab.helper=1",
            "-v", f"{host.exec_root}/netns:/wlnetns", image, *inner]


def overlay_ns(network_id: str) -> str:
    return f"1-{network_id[:10]}"


def plumb_script(seg: Segment, vni: int, ns_path: str, peers: list[str], remote: list[Member]) -> str:
    """The shell script, run in a host's own namespace, that turns its part of the overlay into a
    segment: VXLAN device without proxy ARP, flooding to the peers, static MACs or a hub."""
    dev = "$dev"
    ov = f"nsenter --net={ns_path}"
    lines = [
        "set -e",
        f"dev=$({ov} ip -o link show type vxlan | head -n1 | cut -d: -f2 | cut -d@ -f1 | tr -d ' ')",
        f'[ -n "$dev" ] || {{ echo "no vxlan device in {ns_path}" >&2; exit 1; }}',
        f"{ov} ip link del {dev}",
        f"ip link add wlvx{vni} mtu {seg.mtu} type vxlan id {vni} dstport {VXLAN_PORT} nolearning udpcsum",
        f"ip link set wlvx{vni} netns {ns_path}",
        f"{ov} ip link set wlvx{vni} name {dev}",
        f"{ov} ip link set {dev} master br0",
        f"{ov} ip link set {dev} up",
    ]
    fdb = [f"fdb append 00:00:00:00:00:00 dev {dev} dst {p} self permanent" for p in peers]
    if seg.kind == "hub":
        lines.append(f"{ov} ip link set br0 type bridge ageing_time 0")
        lines.append(f"for p in $({ov} ip -o link show master br0 | cut -d: -f2 | cut -d@ -f1); do "
                     f"{ov} bridge link set dev $p learning off flood on; done")
    else:
        fdb += [f"fdb replace {m.mac} dev {dev} dst {m.vtep} self permanent" for m in remote]
    lines.append(f"{ov} bridge -batch - <<EOF\n" + "\n".join(fdb) + "\nEOF")
    return "\n".join(lines) + "\n"


def plumb(host: SwarmHost, script: str, image: str) -> None:
    proc = subprocess.run(host_argv(host, ["sh", "-c", script], image=image), capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise WirelabError(f"making the overlay a segment on host {host.name} failed: {proc.stderr.strip()[-300:]}")
