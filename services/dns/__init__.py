"""DNS for wirelab labs (RFC 1034/1035): an authoritative server from zone files and a caching recursive
resolver that walks the hierarchy from the root, each a sans-I/O core with a thin asyncio server.

    authority.py   the authoritative answer: query bytes in, reply bytes out
    resolver.py    the recursive resolver's front: allow list, cache look-up, replies
    resolution.py  one iterative resolution as a state machine (queries out, replies in)
    cache.py       RRsets and negative answers kept for their TTL
    zone.py        zone files, checked
    message.py     wire details: EDNS sizes, truncation, TTL offsets
    server.py      the UDP and TCP listener; upstream.py the resolver's queries; recursion.py the driver
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "dns-auth": {
        "argv": ["{python}", "-m", "services.dns", "auth"],
        "ready": ["udp/53", "tcp/53"],
        "about": "authoritative DNS server: args --zone FILE... (e.g. {lab_dir}/campus.d/dns/root.zone)",
    },
    "dns-resolver": {
        "argv": ["{python}", "-m", "services.dns", "resolver"],
        "ready": ["udp/53", "tcp/53"],
        "about": "caching recursive DNS resolver, iterative from the root: args --root-hints FILE --allow CIDR...",
    },
}
