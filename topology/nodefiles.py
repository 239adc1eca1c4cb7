"""The per-node files every backend gives a node: /etc/hostname, /etc/hosts, /etc/resolv.conf."""

from __future__ import annotations

from .model import Lab, Node


def node_files(lab: Lab, node: Node) -> dict[str, str]:
    hosts = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{node.name}", "", f"# lab {lab.name}: every node by name"]
    for other in lab.nodes.values():
        for iface in other.interfaces:
            if iface.address:
                names = f"{other.name}-{iface.name}"
                if iface is _first_static(other):
                    names = f"{other.name} {names}"
                hosts.append(f"{iface.address.ip}\t{names}")
    if lab.dns:
        resolv = [f"nameserver {a}" for a in lab.dns]
        if lab.domain:
            resolv.append(f"search {lab.domain}")
    else:
        resolv = [f"# lab {lab.name} has no name server: names resolve from /etc/hosts only"]
    return {
        "hostname": node.name + "\n",
        "hosts": "\n".join(hosts) + "\n",
        "resolv.conf": "\n".join(resolv) + "\n",
    }


def _first_static(node: Node):
    return next((i for i in node.interfaces if i.address), None)
