"""The per-node files every backend gives a node: /etc/hostname, /etc/hosts, /etc/resolv.conf."""

from __future__ import annotations

from .model import Lab


def lab_files(lab: Lab) -> dict[str, dict[str, str]]:
    """Each node's files, by node name. The lab-wide part of /etc/hosts is made once, not once a node."""
    names = [f"# lab {lab.name}: every node by name"]
    for other in lab.nodes.values():
        first = True
        for iface in other.interfaces:
            if iface.address:
                alias = f"{other.name}-{iface.name}"
                names.append(f"{iface.address.ip}\t{other.name} {alias}" if first else f"{iface.address.ip}\t{alias}")
                first = False
    lab_hosts = "\n".join(names) + "\n"
    if lab.dns:
        resolv = "".join(f"nameserver {a}\n" for a in lab.dns) + (f"search {lab.domain}\n" if lab.domain else "")
    else:
        resolv = f"# lab {lab.name} has no name server: names resolve from /etc/hosts only\n"
    return {
        node: {
            "hostname": node + "\n",
            "hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{node}\n\n" + lab_hosts,
            "resolv.conf": resolv,
        }
        for node in lab.nodes
    }
