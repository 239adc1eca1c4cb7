"""The fabric: a lab's segments as Linux bridges inside one namespace of the lab's own.

Keeping the bridges out of the host's namespace seals the lab and keeps it clear of the host's
firewall: with dockerd running, br_netfilter sends bridged frames through the host's FORWARD chain
(policy DROP); in the fabric namespace that chain is empty and bridge-nf calls are switched off, so
lab traffic flows without a single rule added to, or taken from, the host.

Every backend that gives its nodes a network namespace shares this code.
"""

from __future__ import annotations

import subprocess

from ..model import Interface, Lab, Node, Segment
from ..progress import Progress
from .kernel import KernelError, in_netns, parallel, run_batch, segmentation_offloads_off, write_sysctls

LOSS_SCALE = 1_000_000  # loss is drawn in millionths: 0.0001% is the finest a lab file can ask for
FABRIC_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.bridge.bridge-nf-call-iptables": "0",
    "net.bridge.bridge-nf-call-ip6tables": "0",
    "net.bridge.bridge-nf-call-arptables": "0",
}


def fabric_ns(lab_hash: str) -> str:
    return f"wl{lab_hash}_fabric"  # '_' never appears in a node name, so this cannot clash with one


def port_name(lab: Lab, node: Node, iface: Interface) -> str:
    """The bridge port of a node's interface: `client1-eth0` when it fits in 15 characters.

    Ports and bridges share the fabric's namespace: a name that is also a segment's (a segment may be
    called `a-eth0`) falls back to `p<node>_<interface>`, and no node, segment or interface has a `_`.
    """
    name = f"{node.name}-{iface.name}"
    return name if len(name) <= 15 and name not in lab.segments else f"p{node.index}_{iface.index}"


def prepare(ns: str) -> None:
    in_netns(f"/run/netns/{ns}", lambda: write_sysctls(FABRIC_SYSCTLS))


def veth_lines(lab: Lab, node_ns: dict[str, str], fabric: str) -> list[str]:
    """`ip link add` lines making each interface directly inside its node, its peer in the fabric.

    node_ns maps a node to what `ip ... netns` accepts: a namespace name or a pid.
    """
    lines = []
    for node in lab.nodes.values():
        for iface in node.interfaces:
            mtu = lab.segments[iface.segment].mtu
            lines.append(
                f"link add name {iface.name} netns {node_ns[node.name]} address {iface.mac} mtu {mtu} "
                f"type veth peer name {port_name(lab, node, iface)} netns {fabric} mtu {mtu}"
            )
    return lines


def configure(lab: Lab, fabric: str) -> None:
    links, tcs = [], []
    for seg in lab.segments.values():
        opts = "stp_state 0 forward_delay 0 mcast_snooping 0"
        if seg.kind == "hub":
            opts += " ageing_time 0"  # nothing is ever learned: every frame floods to every port
        links.append(f"link add {seg.name} mtu {seg.mtu} type bridge {opts}")
        links.append(f"link set {seg.name} up")
    for node in lab.nodes.values():
        for iface in node.interfaces:
            seg = lab.segments[iface.segment]
            port = port_name(lab, node, iface)
            links.append(f"link set {port} master {seg.name}")
            if seg.kind == "hub":
                links.append(f"link set dev {port} type bridge_slave learning off flood on")
            links.append(f"link set {port} up")
            if seg.delay:
                # Delay on the port toward each receiver: every frame crossing the segment waits once.
                tcs.append(f"qdisc add dev {port} root handle 1: netem delay {seg.delay.microseconds}us")
                if seg.rate:
                    tcs.append(rate_line(port, seg, parent="parent 1: handle 2:"))
            elif seg.rate:
                tcs.append(rate_line(port, seg))
    run_batch("ip", links, netns=fabric)
    run_batch("tc", tcs, netns=fabric)
    rules = loss_rules(lab)
    if rules:
        proc = subprocess.run(["ip", "netns", "exec", fabric, "nft", "-f", "-"], input=rules, text=True,
                              capture_output=True)
        if proc.returncode != 0:
            raise KernelError(f"nft in {fabric} failed: {proc.stderr.strip()}")


def loss_rules(lab: Lab) -> str:
    """Random frame loss on lossy segments, as an nftables bridge rule in the fabric.

    The bridge's forward hook runs once per frame and output port, so each receiver loses a frame
    independently with the segment's probability, in both directions: what a lossy medium does.
    (Delay would need sch_netem; loss does not.)
    """
    lossy = [s for s in lab.segments.values() if s.loss]
    if not lossy:
        return ""
    lines = ["table bridge wirelab {", "  chain forward {", "    type filter hook forward priority 0; policy accept;"]
    for seg in lossy:
        chance = round((seg.loss or 0) * LOSS_SCALE / 100)
        draw = f"numgen random mod {LOSS_SCALE} < {chance} " if chance < LOSS_SCALE else ""
        ports = ", ".join(f'"{port_name(lab, n, i)}"' for n, i in lab.members(seg.name))
        lines.append(f"    oifname {{ {ports} }} {draw}counter drop")
    return "\n".join(lines + ["  }", "}"]) + "\n"


def rate_line(dev: str, seg: Segment, parent: str = "root") -> str:
    """A token bucket: the link's rate in this direction, with a 10 ms burst (at least one full frame)."""
    assert seg.rate is not None
    bits = seg.rate.bits_per_second
    burst = max(seg.mtu + 64, bits // 8 // 100)
    return f"qdisc add dev {dev} {parent} tbf rate {bits}bit burst {burst} latency 50ms"


def node_lines(lab: Lab, node: Node) -> tuple[list[str], list[str]]:
    """`ip` and `tc` lines, run inside the node: addresses, links up, gateway and routes, rates."""
    ip, tc = ["link set lo up"], []
    for iface in node.interfaces:
        if iface.address:
            ip.append(f"addr add {iface.address} brd + dev {iface.name}")
        ip.append(f"link set {iface.name} up")
        seg = lab.segments[iface.segment]
        if seg.rate:
            tc.append(rate_line(iface.name, seg))
    for r in node.routes:
        ip.append(f"route add {r.to} via {r.via}")
    if node.gateway:
        ip.append(f"route add default via {node.gateway}")
    return ip, tc


def wire(lab: Lab, node_ns: dict[str, str], fabric: str, progress: Progress) -> None:
    """Everything after the namespaces exist, the same for every backend: links, bridges, addresses.

    node_ns maps each node to its named network namespace (under /run/netns).
    """
    with progress.step("links", sum(len(n.interfaces) for n in lab.nodes.values())):
        run_batch("ip", veth_lines(lab, node_ns, fabric))
    with progress.step("segments", len(lab.segments)):
        configure(lab, fabric)
    with progress.step("addresses and routes", len(node_ns)):
        def address(node: Node) -> None:
            # Interfaces are still down: switching IPv6 off now ("all" reaches existing ones) comes
            # before any router solicitation or DAD could be sent.
            in_netns(f"/run/netns/{node_ns[node.name]}", lambda: node_kernel_settings(lab, node))
            ip, tc = node_lines(lab, node)
            run_batch("ip", ip, netns=node_ns[node.name])
            run_batch("tc", tc, netns=node_ns[node.name])

        parallel(address, list(lab.nodes.values()), workers=4)


def node_kernel_settings(lab: Lab, node: Node) -> None:
    """A node's sysctls, and its interfaces cutting TCP segments to the MTU (inside the node's namespace)."""
    write_sysctls(node_sysctls(lab, node))
    segmentation_offloads_off(i.name for i in node.interfaces)


def node_sysctls(lab: Lab, node: Node) -> dict[str, str]:
    values = {
        "net.ipv4.ip_forward": "1" if node.is_router else "0",
        # No rate limit on ICMP errors: a second traceroute must not show phantom `* * *` hops.
        "net.ipv4.icmp_ratelimit": "0",
    }
    if not lab.ipv6:
        # Off before any interface comes up, or the kernel sends router solicitations on every one.
        values["net.ipv6.conf.all.disable_ipv6"] = "1"
        values["net.ipv6.conf.default.disable_ipv6"] = "1"
    return values
