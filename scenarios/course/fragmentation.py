"""Fragmentation: a router splits a datagram too big for the next link; with DF set it answers ICMP.

Kurose & Ross 4.3.2 (IPv4 datagram fragmentation). server1 sits on a jumbo-frame LAN (MTU 9000) and
sends a 3000-byte UDP datagram to client1 with DF clear: it leaves whole, and r3 splits it for the
backbone (MTU 1500): every fragment fits the MTU, offsets count 8-byte units, MF is set on all but the
last, all carry one identification, and they reassemble into the bytes sent; client1, the receiver,
echoes every byte back. Sent again with DF set, r3 drops it and answers ICMP fragmentation-needed,
naming the next-hop MTU.
"""

from scenarios.framework.assertions import Absent, InOrder
from scenarios.framework.match import Match, fragment, icmp, udp
from scenarios.framework.textbook import (
    Fragments,
    fit_mtu,
    more_fragments_flags,
    offsets_in_eighths,
    one_identification,
    reassembles_to,
)
from scenarios.framework.traffic import data

LAB = "campus"
SIZE = 2992  # bytes of data: with UDP's 8-byte header, a 3000-byte UDP datagram
PORT = 7  # the receiver runs a UDP echo server
MTU = 1500  # the backbone's


def run(ctx) -> None:
    server, client = ctx.host("server1"), ctx.host("client1")
    r3 = ctx.host("r3", "servers")
    sent = data(SIZE, "fragment me ")
    send = ["-m", "scenarios.framework.traffic", client.ip, str(PORT), "--size", str(SIZE), "--fill", "fragment me "]
    ctx.start_service("client1", "echo-udp")
    ctx.run("server1", ["ip", "route", "flush", "cache"], check=True)  # forget path MTUs learned before

    ctx.mark("no-df")
    ctx.python("server1", [*send, "--no-df"])
    ctx.mark("df")
    ctx.python("server1", [*send, "--df"])
    ctx.mark("end")
    ctx.run("server1", ["ip", "route", "flush", "cache"])

    whole = Match(f"a whole {SIZE + 8}-byte UDP datagram", lambda p: p["UDP"].len == SIZE + 8 and not p["IP"].frag
                  and not p["IP"].flags.MF)
    df = Match("DF set", lambda p: bool(p["IP"].flags.DF))
    too_big = icmp(r3, server, type=3, code=4) & Match(f"next-hop MTU {MTU}",
                                                      lambda p: p["ICMP"].nexthopmtu == MTU)
    window = {"after": "no-df", "before": "df"}
    ctx.expect(
        InOrder("servers", [udp(server, client, dport=PORT) & whole],
                "the datagram leaves server1 whole on its jumbo-frame LAN", **window),
        Fragments("backbone", server, client, f"r3 fragments it for the backbone: every fragment fits the MTU {MTU}",
                  fit_mtu(MTU), **window),
        Fragments("backbone", server, client, "fragment offsets count 8-byte units, each continuing the last",
                  offsets_in_eighths, **window),
        Fragments("backbone", server, client, "MF (more fragments) is set on every fragment but the last",
                  more_fragments_flags, **window),
        Fragments("backbone", server, client, "every fragment carries the same identification",
                  one_identification, **window),
        Fragments("lan1", server, client, "the fragments reassemble into the 3000-byte datagram sent",
                  reassembles_to(sent), **window),
        Fragments("servers", client, server, "client1 got it intact: its echo carries every byte back",
                  reassembles_to(sent), **window),
        InOrder("servers", [udp(server, client, dport=PORT) & whole & df, too_big],
                "with DF set, r3 drops the datagram and answers ICMP fragmentation-needed",
                after="df", before="end"),
        Absent("backbone", udp(server, client) | fragment(server, client),
               "with DF set, nothing of the datagram crosses onto the backbone", after="df", before="end"),
    )
    ctx.ladder("backbone", udp(server, client) | fragment(server, client),
               "r3's fragments of server1's datagram, on the backbone", **window, columns=["server1", "client1"])
    ctx.ladder("servers", udp(server, client) | icmp(r3, server),
               "with DF set: server1's datagram goes no further than r3, which answers ICMP", after="df",
               before="end", columns=["server1", "r3"], link=True)
