"""Completing a parsed lab: MAC addresses, automatic addresses, gateways and router routes.

All of it deterministic, so the same lab file gives the same addresses on every machine and backend.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable

from .model import Interface, Lab, Node, Route

Fail = Callable[[tuple, str], None]


def complete(lab: Lab, fail: Fail) -> None:
    _assign_macs(lab)
    _assign_addresses(lab, fail)
    _resolve_gateways(lab, fail)
    _check_routes(lab, fail)
    _route_routers(lab)


def _assign_macs(lab: Lab) -> None:
    # Locally administered (02:), the lab hash, then node and interface index: readable in captures.
    h = lab.hash
    for node in lab.nodes.values():
        for iface in node.interfaces:
            if iface.mac is None:
                iface.mac = (f"02:{h[0:2]}:{h[2:4]}:{node.index >> 8 & 0xff:02x}:"
                             f"{node.index & 0xff:02x}:{iface.index:02x}")


def _assign_addresses(lab: Lab, fail: Fail) -> None:
    seen: dict[int, str] = {}
    for node in lab.nodes.values():
        for iface in node.interfaces:
            if iface.address:
                ip = int(iface.address.ip)
                if ip in seen:
                    fail(("nodes", node.name, "interfaces", iface.index, "address"),
                         f"node {node.name}: address {iface.address.ip} is already used by {seen[ip]}")
                seen[ip] = node.name
    members = _members(lab)
    for seg in lab.segments.values():
        todo = [(n, i) for n, i in members[seg.name] if i.address is None and not i.dhcp]
        # Routers take the lowest free addresses (the familiar .1); hosts start at the 10th when there is room.
        todo.sort(key=lambda m: (not m[0].is_router, m[0].index))
        first, count = int(seg.subnet.network_address) + 1, seg.subnet.num_addresses - 2
        host_start = 9 if count > 40 else 0
        # Each search starts at 0 (routers) or host_start (hosts) and takes the first free address,
        # going round the subnet. Addresses are only ever taken, so a search can go on from where the
        # last one from the same start stopped: each address is looked at once, not once per node.
        tried = {0: 0, host_start: 0}  # start -> how many addresses from it are known to be taken
        for node, iface in todo:
            start = 0 if node.is_router else host_start
            k = tried[start]
            while k < count and first + (start + k) % count in seen:
                k += 1
            tried[start] = k
            if k == count:
                fail(("nodes", node.name, "interfaces", iface.index),
                     f"segment {seg.name}: subnet {seg.subnet} has no free address left for {node.name}; use a larger subnet")
            free = first + (start + k) % count
            iface.address = ipaddress.IPv4Interface((free, seg.subnet.prefixlen))
            seen[free] = node.name


def _members(lab: Lab) -> dict[str, list[tuple[Node, Interface]]]:
    """Each segment's (node, interface) pairs in node order: Lab.members for every segment at once."""
    out: dict[str, list[tuple[Node, Interface]]] = {name: [] for name in lab.segments}
    for node in lab.nodes.values():
        for iface in node.interfaces:
            out[iface.segment].append((node, iface))
    return out


def _resolve_gateways(lab: Lab, fail: Fail) -> None:
    first_router = {seg: next((n for n, _ in pairs if n.is_router), None) for seg, pairs in _members(lab).items()}
    for node in lab.nodes.values():
        path = ("nodes", node.name, "gateway")
        ref = node.gateway_ref
        if ref is None:
            if node.is_router:
                continue
            static = [i for i in node.interfaces if not i.dhcp]
            for iface in static:
                router = first_router[iface.segment]
                if router:
                    node.gateway = lab.address_of(router.name, iface.segment)
                    break
            continue
        if ref == node.name:
            fail(path, f"node {node.name}: a node cannot be its own gateway; name a router on one of its segments")
        if ref in lab.nodes:
            gw = lab.nodes[ref]
            shared = [i.segment for i in node.interfaces if gw.interface_on(i.segment)]
            if not shared:
                fail(path, f"node {node.name}: gateway {ref} shares no segment with it; pick a router on one of its segments")
            node.gateway = lab.address_of(ref, shared[0])
            if node.gateway is None:
                fail(path, f"node {node.name}: gateway {ref} has no static address on {shared[0]}")
            continue
        try:
            addr = ipaddress.IPv4Address(ref)
        except ValueError:
            fail(path, f"node {node.name}: gateway {ref!r} is neither a node of this lab nor an IPv4 address")
        if not _on_link(node, addr, lab):
            fail(path, f"node {node.name}: gateway {addr} is not on any of its segments")
        if any(i.address and i.address.ip == addr for i in node.interfaces):
            fail(path, f"node {node.name}: gateway {addr} is its own address; give a router's address")
        node.gateway = addr


def _on_link(node: Node, addr: ipaddress.IPv4Address, lab: Lab) -> bool:
    return any(addr in lab.segments[i.segment].subnet for i in node.interfaces)


def _check_routes(lab: Lab, fail: Fail) -> None:
    # The kernel keeps one route per destination: a second one to the same place fails `up`.
    for node in lab.nodes.values():
        taken = {lab.segments[i.segment].subnet: "a segment it is on" for i in node.interfaces}
        if node.gateway_ref is not None or node.gateway is not None:
            taken[ipaddress.IPv4Network("0.0.0.0/0")] = "its gateway"
        for idx, r in enumerate(node.routes):
            path = ("nodes", node.name, "routes", idx)
            if not _on_link(node, r.via, lab):
                fail(path + ("via",),
                     f"node {node.name}: route to {r.to} via {r.via}, which is not on any of its segments")
            if r.to in taken:
                fail(path + ("to",), f"node {node.name}: a route to {r.to} is already there ({taken[r.to]}); "
                                     f"remove this one")
            taken[r.to] = f"route {idx + 1}"


def _route_routers(lab: Lab) -> None:
    """Give each router a route to every subnet it does not touch, along the fewest router hops.

    Routes written in the lab file win; this only fills the gaps, like a converged routing protocol would.
    """
    routers = lab.routers()
    routers_on = {seg: [(n, i) for n, i in pairs if n.is_router] for seg, pairs in _members(lab).items()}
    for router in routers:
        written = {r.to for r in router.routes}
        direct = {lab.segments[i.segment].subnet for i in router.interfaces}
        # BFS over routers: reach[segment] = next-hop address for the first hop taken to get there
        reach: dict[str, ipaddress.IPv4Address] = {}
        visited = {router.name}
        queue: deque[tuple[str, ipaddress.IPv4Address | None]] = deque([(router.name, None)])
        while queue:
            name, first_hop = queue.popleft()
            current = lab.nodes[name]
            for iface in current.interfaces:
                reach.setdefault(iface.segment, first_hop)
                for peer, peer_if in routers_on[iface.segment]:
                    if peer.name in visited or peer_if.address is None:
                        continue
                    visited.add(peer.name)
                    queue.append((peer.name, first_hop or peer_if.address.ip))
        for seg_name, hop in reach.items():
            subnet = lab.segments[seg_name].subnet
            if hop is not None and subnet not in direct and subnet not in written:
                router.routes.append(Route(to=subnet, via=hop, auto=True))
