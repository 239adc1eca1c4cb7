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


def swarm_lab(peers: int, name: str | None = None, seed_rate: str = "20mbit", peer_rate: str = "10mbit",
              mtu: int = 9000) -> str:
    """A file-distribution lab (K&R 2.5): a server and a tracker on a `seed_rate` link, and N peers each
    on its own `peer_rate` access link, all meeting at a router with an unlimited core, so the textbook's
    u_s is `seed_rate` and every u_i and d_i is `peer_rate`. Jumbo frames keep the captures small."""
    if not 1 <= peers <= 250:
        raise ValueError("a swarm lab holds 1 to 250 peers")
    segments: dict = {"core": {"subnet": "10.60.0.0/24", "rate": seed_rate, "mtu": mtu}}
    router: dict = {"kind": "router", "interfaces": [{"segment": "core", "address": "10.60.0.1"}]}
    nodes: dict = {"router": router,
                   "server": {"interfaces": [{"segment": "core", "address": "10.60.0.10"}], "gateway": "router"},
                   "tracker": {"interfaces": [{"segment": "core", "address": "10.60.0.20"}], "gateway": "router",
                               "services": [{"name": "bt-tracker", "args": ["--interval", "5"]}]}}
    for i in range(1, peers + 1):
        segments[f"acc{i}"] = {"subnet": f"10.60.{i}.0/24", "rate": peer_rate, "mtu": mtu}
        router["interfaces"].append({"segment": f"acc{i}", "address": f"10.60.{i}.1"})
        nodes[f"p{i}"] = {"interfaces": [{"segment": f"acc{i}", "address": f"10.60.{i}.10"}], "gateway": "router"}
    lab = {
        "name": name or f"swarm{peers}",
        "description": f"P2P file distribution: a server on a {seed_rate} link, {peers} peers on {peer_rate} "
                       f"access links, one router",
        "segments": segments,
        "nodes": nodes,
    }
    return yaml.safe_dump(lab, sort_keys=False, default_flow_style=None)
