"""DHCP: a new host gets its address in four messages, DISCOVER, OFFER, REQUEST, ACK, all with one
transaction id; it renews by unicast; a host on another LAN is served through its router's relay.

Kurose & Ross 4.3.3 (figure 4.24). laptop1 on lan1 starts its DHCP client afresh: with no address, it
broadcasts a DISCOVER from 0.0.0.0 to 255.255.255.255; r1's relay agent forwards it to the server
`dhcp` (10.0.3.60) with giaddr 10.0.1.1, so the server offers an address from lan1's pool; the client
broadcasts a REQUEST for it and the server ACKs. The address the laptop then holds is the ACK's yiaddr.
Asked to renew (as at T1), the laptop sends its REQUEST unicast to the server, from its own address.
laptop2 on lan2 (a hub) does the same through r2 and gets an address from lan2's pool.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from scenarios.assertions import InOrder, Present, Step
from scenarios.ladder import BROADCAST
from scenarios.match import dhcp
from topology.errors import WirelabError

LAB = "campus"
SEGMENTS = ["lan1", "lan2", "backbone"]
SERVER = "10.0.3.60"
POOLS = {"lan1": ("10.0.1.100", "10.0.1.199"), "lan2": ("10.0.2.100", "10.0.2.199")}


def restart_client(ctx, node: str) -> tuple[object, str]:
    """Stop the node's DHCP client (it releases its lease) and start a fresh one; returns it and its log."""
    lab = ctx.lab
    for rec in [s for s in lab.state.services if s.name == "dhcp-client" and s.node == node]:
        lab.stop_service(rec)
        _wait_gone(rec.pid)
    ctx.note(f"{node}: DHCP client restarted with no address (python -m services.dhcp client --iface eth0)")
    log = Path(lab.state.dir) / "logs" / f"{node}-dhcp-client-eth0.log"
    start = log.stat().st_size if log.exists() else 0
    rec = lab.start_service(node, "dhcp-client", [], iface="eth0")  # kept: the laptop stays on DHCP
    lab.wait_ready(rec)
    return rec, log.read_text(errors="replace")[start:]


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)


def address(ctx, node: str) -> str:
    out = ctx.run(node, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], check=True).stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def xid_of(text: str, what: str, last: bool = False) -> int:
    """The transaction id of the client's first (or last) `what` line in its log."""
    found = re.findall(rf"{what} xid ([0-9a-f]{{8}})", text)
    if not found:
        raise WirelabError(f"the DHCP client's log shows no {what}: {text[-300:]}")
    return int(found[-1 if last else 0], 16)


def run(ctx) -> None:
    relay1, relay2 = "10.0.1.1", "10.0.2.1"  # the relays' addresses on the laptops' LANs: giaddr
    r2_out = ctx.host("r2", "backbone").ip  # where r2's forwarded requests come from

    ctx.mark("dora")
    rec, log = restart_client(ctx, "laptop1")
    xid = xid_of(log, "DISCOVER")
    ip1 = address(ctx, "laptop1")
    ctx.mark("renew")
    os.killpg(rec.pid, signal.SIGUSR1)  # renew now, as at T1
    logfile = Path(rec.log)
    deadline = time.monotonic() + 10
    while logfile.read_text(errors="replace").count("renewed") <= log.count("renewed") and time.monotonic() < deadline:
        time.sleep(0.05)
    renew_xid = xid_of(logfile.read_text(errors="replace"), "REQUEST", last=True)
    ctx.mark("relayed")
    _, log2 = restart_client(ctx, "laptop2")
    xid2 = xid_of(log2, "DISCOVER")
    ip2 = address(ctx, "laptop2")
    ctx.mark("end")

    ctx.expect(
        InOrder("lan1", [
            Step(dhcp("DISCOVER", "0.0.0.0", "255.255.255.255", xid=xid), "DISCOVER"),
            Step(dhcp("OFFER", relay1, xid=xid, in_pool=POOLS["lan1"]), "OFFER"),
            Step(dhcp("REQUEST", "0.0.0.0", "255.255.255.255", xid=xid), "REQUEST"),
            Step(dhcp("ACK", relay1, xid=xid, yiaddr=ip1), "ACK"),
        ], f"laptop1: DISCOVER from 0.0.0.0 to broadcast, OFFER, REQUEST, ACK, all with xid 0x{xid:08x}; "
           f"the ACK's yiaddr is the address on eth0 ({ip1})", after="dora", before="renew"),
        InOrder("lan1", [
            Step(dhcp("REQUEST", ip1, SERVER, ciaddr=ip1, xid=renew_xid), "unicast REQUEST"),
            Step(dhcp("ACK", SERVER, ip1, xid=renew_xid, yiaddr=ip1), "unicast ACK"),
        ], f"laptop1 renews by unicast: REQUEST {ip1} > {SERVER}, ACK {SERVER} > {ip1}",
            after="renew", before="relayed"),
        Present("backbone", dhcp("DISCOVER", r2_out, SERVER, xid=xid2, giaddr=relay2),
                f"r2's relay forwards laptop2's DISCOVER to the server by unicast, with giaddr {relay2}",
                after="relayed", before="end"),
        InOrder("lan2", [
            Step(dhcp("DISCOVER", "0.0.0.0", "255.255.255.255", xid=xid2), "DISCOVER"),
            Step(dhcp("ACK", relay2, xid=xid2, yiaddr=ip2, in_pool=POOLS["lan2"]), "ACK"),
        ], f"laptop2 on lan2 gets {ip2} from lan2's pool ({POOLS['lan2'][0]}-{POOLS['lan2'][1]}) through r2",
            after="relayed", before="end"),
    )
    ctx.ladder("lan1", dhcp(), "DHCP on lan1: laptop1's DORA (r1 relays it to dhcp), then its unicast renewal",
               after="dora", before="relayed", columns=["laptop1", BROADCAST, "r1", "dhcp"])
    ctx.ladder("backbone", dhcp(), "the same for laptop2, as the backbone sees it: relay r2 and the server dhcp",
               after="relayed", before="end", columns=["laptop2", "r2", "dhcp"])
