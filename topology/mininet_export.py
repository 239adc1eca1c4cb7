"""A lab as a Mininet script: `wirelab export mininet LAB > lab.py`, then `sudo python3 lab.py`.

The script holds a Mininet `Topo` of the lab (hosts and routers with the lab's addresses and MACs, a
LinuxBridge per segment, TCLinks with the segments' rates, the MTUs) and, once the network is started,
the lab's routes and forwarding; then Mininet's CLI. With commands on its standard input it runs them
and exits when given a file of CLI commands: `sudo python3 lab.py commands.txt`. Nothing of wirelab is needed to run it; the
lab's services (DNS, DHCP, ...) are wirelab's own and are not part of the script.
"""

from __future__ import annotations

from .model import Lab

HEADER = '''#!/usr/bin/env python3
"""{title}

Made by `wirelab export mininet` from {source}. Run as root: sudo python3 {file}
Segments are Linux bridges in namespaces of their own (no Open vSwitch, no controller, and out of
reach of a host firewall such as dockerd's); routers are hosts that forward.
"""

import sys

from mininet.cli import CLI
from mininet.link import Link, TCLink
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import Topo


class NamespacedBridge(LinuxBridge):
    """A LinuxBridge in a namespace of its own: the host's bridge-netfilter settings (which Mininet
    warns about) do not reach it; its own are switched off in configure()."""

    @classmethod
    def setup(cls):
        pass


class {cls}(Topo):
    def build(self):
'''

FOOTER = '''

def configure(net):
    """What a Topo cannot say: MTUs, forwarding on routers, IPv6 off, routes, hubs that never learn."""
{configure}


def main():
    """No argument: Mininet's CLI. A file: its CLI commands are run, then the network is taken down."""
    setLogLevel("output")
    net = Mininet(topo={cls}(), controller=None, switch=NamespacedBridge, autoSetMacs=False,
                  waitConnected=False)
    net.start()
    try:
        configure(net)
        CLI(net, script=sys.argv[1]) if len(sys.argv) > 1 else CLI(net)
    finally:
        net.stop()


if __name__ == "__main__":
    main()
'''


def to_mininet(lab: Lab) -> str:
    """The Python source of a Mininet script for the lab (addresses and routes as the lab gives them)."""
    cls = "".join(part.capitalize() for part in lab.name.replace("_", "-").split("-") if part) + "Topo"
    if not cls[0].isalpha():
        cls = "Lab" + cls
    build, conf = [], []
    for seg in lab.segments.values():
        build.append(f"        self.addSwitch({f's{seg.index + 1}'!r}, cls=NamespacedBridge, inNamespace=True)"
                     f"  # segment {seg.name} ({seg.kind}, {seg.subnet})")
        conf.append(f"    sw = net.get({f's{seg.index + 1}'!r})")
        conf.append("    sw.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.bridge.bridge-nf-call-iptables=0 "
                    "net.bridge.bridge-nf-call-arptables=0 net.bridge.bridge-nf-call-ip6tables=0')")
        conf.append("    sw.cmd('ip link set', sw.name, 'type bridge forward_delay 0"
                    + (" ageing_time 0')" if seg.kind == "hub" else "')"))
    for node in lab.nodes.values():
        build.append(f"        self.addHost({node.name!r}, ip=None)" + ("  # router" if node.is_router else ""))
    for node in lab.nodes.values():
        for iface in node.interfaces:
            seg = lab.segments[iface.segment]
            sw, port = f"s{seg.index + 1}", f"s{seg.index + 1}-{node.index}-{iface.index}"
            rate = f", cls=TCLink, bw={seg.rate.mbit:g}" if seg.rate else ", cls=Link"
            build.append(f"        self.addLink({node.name!r}, {sw!r}, intfName1={iface.name!r}, "
                         f"intfName2={port!r}, addr1={iface.mac!r}{rate})")
            conf.append(f"    net.get({sw!r}).cmd('ip link set dev {port} mtu {seg.mtu} up')")
    for node in lab.nodes.values():
        lines = [f"    h = net.get({node.name!r})",
                 f"    h.cmd('sysctl -qw net.ipv4.ip_forward={1 if node.is_router else 0} "
                 "net.ipv6.conf.all.disable_ipv6=1 net.ipv4.icmp_ratelimit=0')"]
        for iface in node.interfaces:
            mtu = lab.segments[iface.segment].mtu
            lines.append(f"    h.cmd('ip link set dev {iface.name} mtu {mtu} up')")
            if iface.address:
                lines.append(f"    h.setIP({str(iface.address.ip)!r}, prefixLen={iface.address.network.prefixlen}, "
                             f"intf={iface.name!r})")
        for route in node.routes:
            lines.append(f"    h.cmd('ip route add {route.to} via {route.via}')")
        if node.gateway:
            lines.append(f"    h.cmd('ip route replace default via {node.gateway}')")
        conf.extend(lines)
    header = HEADER.format(title=f"{lab.name}: {lab.description}".rstrip(": ").replace('"""', "'''"),
                           source=lab.source or lab.name, file=f"{lab.name}.py", cls=cls)
    return header + "\n".join(build) + FOOTER.format(cls=cls, configure="\n".join(conf) or "    pass")
