"""Broadcast domain: a broadcast reaches every host of its LAN and does not cross the router.

Kurose & Ross 6.4 (link-layer broadcast, FF:FF:FF:FF:FF:FF). client1 sends one UDP datagram to
255.255.255.255; each other host on lan1 (client2, and r1 on its lan1 side) captures it on its own
interface. r1, a router, ends the broadcast domain: no copy appears on the backbone, on lan2 or on the
servers LAN.
"""

from scenarios.framework.assertions import Absent, Present
from scenarios.framework.match import broadcast, payload, udp

LAB = "campus"
LAN = "lan1"
PORT = 9999
FILL = "is anyone out there? "


def run(ctx) -> None:
    sender = ctx.host("client1", LAN)
    others = [n for n in ctx.nodes_on(LAN) if n != sender.name]
    eyes = {n: ctx.watch(n, LAN) for n in others}
    ctx.python(sender.name, ["-m", "scenarios.framework.traffic", "255.255.255.255", str(PORT), "--broadcast",
                             "--size", "42", "--fill", FILL])

    message = udp(sender, "255.255.255.255", dport=PORT) & broadcast()
    copy = payload(FILL.encode()).named(f"copy of {sender.name}'s broadcast")
    ctx.expect(*[Present(eye, message, f"the broadcast reaches {n} on {LAN}") for n, eye in eyes.items()])
    ctx.expect(*[Absent(seg, copy, f"the broadcast does not cross the router onto {seg}")
                 for seg in ctx.lab.segments if seg != LAN])
    ctx.ladder(LAN, message, f"one broadcast, delivered to every port of {LAN}", columns=[sender.name])
