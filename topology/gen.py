"""Lab generators: lab files made by rule rather than by hand (benchmarks, big demos)."""

from __future__ import annotations

import ipaddress

import yaml


def star(hosts: int, name: str | None = None, subnet: str = "10.100.0.0/16") -> str:
    """One switch, N hosts: the lab the bring-up benchmark grows."""
    net = ipaddress.IPv4Network(subnet)
    if hosts < 1 or hosts > net.num_addresses - 2:
        raise ValueError(f"a star on {subnet} holds 1 to {net.num_addresses - 2} hosts")
    lab = {
        "name": name or f"star{hosts}",
        "description": f"one switch, {hosts} hosts",
        "segments": {"lan": {"kind": "switch", "subnet": subnet}},
        "nodes": {f"h{i}": {"interfaces": ["lan"]} for i in range(1, hosts + 1)},
    }
    return yaml.safe_dump(lab, sort_keys=False, default_flow_style=None)
