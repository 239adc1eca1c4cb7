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
