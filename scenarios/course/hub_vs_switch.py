"""Hub vs switch: on a hub every host sees the others' unicast frames; a switch, once it has learned
where each address is, delivers them only to their destination.

Kurose & Ross 6.4.3. lan2 is a hub (one collision domain), lan1 a switch. client3 pings r2 on the hub
while client4's own interface is captured: client4 sees every frame. client1 pings r1 on the switch
while client2's interface is captured: after a first exchange has taught the switch both addresses,
client2 sees none of those frames, though the switch's bridge shows they flowed.
"""

from scenarios.framework.assertions import Absent, Present
from scenarios.framework.match import between

LAB = "campus"
PINGS = 3


def run(ctx) -> None:
    c3, r2 = ctx.host("client3"), ctx.host("r2", "lan2")
    c1, r1 = ctx.host("client1"), ctx.host("r1", "lan1")
    on_hub = ctx.watch("client4", "lan2")
    on_switch = ctx.watch("client2", "lan1")
    # a first exchange, so that the switch learns on which port each MAC address lives
    ctx.run("client3", ["ping", "-n", "-c1", "-W2", r2.ip])
    ctx.run("client1", ["ping", "-n", "-c1", "-W2", r1.ip])
    ctx.mark("learned")
    ctx.run("client3", ["ping", "-n", "-c", str(PINGS), "-i", "0.2", "-W2", r2.ip])
    ctx.run("client1", ["ping", "-n", "-c", str(PINGS), "-i", "0.2", "-W2", r1.ip])

    frames = 2 * PINGS  # each echo request and its reply
    ctx.expect(
        Present("lan2", between(c3, r2), "client3 and r2 exchange unicast frames across the hub lan2",
                count=frames, after="learned"),
        Present(on_hub, between(c3, r2), "on the hub (lan2), client4 sees the unicast frames between client3 and r2",
                count=frames, after="learned"),
        Present("lan1", between(c1, r1), "client1 and r1 exchange unicast frames across the switch lan1",
                count=frames, after="learned"),
        Absent(on_switch, between(c1, r1), "on the switch (lan1), once addresses are learned, client2 sees "
               "none of the unicast frames between client1 and r1", after="learned"),
    )
    ctx.ladder(on_hub, between(c3, r2), "what client4's interface sees on the hub", after="learned",
               columns=["client3", "r2"])
