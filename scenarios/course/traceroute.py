"""Traceroute and ping: ICMP time-exceeded from each router in path order, then the destination answers.

Kurose & Ross 4.4 / 5.6 (ICMP). h1 and h2 are three routers apart (chain lab). traceroute sends UDP
probes with TTL 1, 2, 3, ... one at a time; each router that takes the TTL to zero answers ICMP
time-exceeded from its address facing h1 (r1, then r2, then r3), and h2 itself answers ICMP port
unreachable. ping shows echo requests and replies paired by identifier and sequence number, and the
requests arrive at h2's LAN with TTL 61: one less for each router.
"""

from scenarios.framework.assertions import InOrder, Present, Step
from scenarios.framework.match import Match, icmp
from scenarios.framework.textbook import EchoPairs

LAB = "chain"
PINGS = 3


def run(ctx) -> None:
    h1, h2 = ctx.host("h1"), ctx.host("h2")
    hops = [ctx.host("r1", "lan-a"), ctx.host("r2", "link12"), ctx.host("r3", "link23")]
    ctx.mark("ping")
    ctx.run("h1", ["ping", "-n", "-c", str(PINGS), "-i", "0.2", "-W", "2", h2.ip])
    ctx.mark("traceroute")
    ctx.run("h1", ["traceroute", "-n", "-q", "1", "-N", "1", "-w", "1", "-m", "6", h2.ip])

    steps = [Step(icmp(r, h1, type=11).named(f"ICMP time-exceeded from {r}"), r.name) for r in hops]
    steps.append(Step(icmp(h2, h1, type=3, code=3).named(f"ICMP port unreachable from the destination {h2}")))
    ttl61 = icmp(h1, h2, type=8) & Match("TTL 61", lambda p: p["IP"].ttl == 61)
    ctx.expect(
        InOrder("lan-a", steps, "traceroute: time-exceeded arrives from r1, r2, r3 in path order, "
                "then the destination answers", after="traceroute"),
        EchoPairs("lan-a", h1, h2, PINGS),
        Present("lan-b", ttl61, "each router decrements the TTL: h1's echo requests reach lan-b with TTL 61",
                count=PINGS, before="traceroute"),
    )
    ctx.ladder("lan-a", icmp() | Match("traceroute probe", lambda p: p["UDP"].dport >= 33434),
               "traceroute from h1, as lan-a sees it", after="traceroute",
               columns=["h1", "r1", "r2", "r3", "h2"], label=_probe, stop=_expires_at)


def _expires_at(p) -> str | None:
    """A probe with TTL k dies at the k-th router (TTL 4 and up reach h2): draw it ending there."""
    if "UDP" in p and p["UDP"].dport >= 33434:
        return (["r1", "r2", "r3"] + ["h2"])[min(p["IP"].ttl, 4) - 1]
    return None


def _probe(p) -> str | None:
    if "UDP" in p and p["UDP"].dport >= 33434:
        return f"probe TTL={p['IP'].ttl} (UDP port {p['UDP'].dport})"
    return None
