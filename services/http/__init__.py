"""The Web (RFC 9110, 9111, 9112): the project's own HTTP/1.1 origin server and caching forward proxy,
and a small browser, each a sans-I/O core with a thin asyncio (or socket) shell.

    connection.py   one HTTP/1.x connection as a state machine (httptools parses; limits, framing,
                    persistence and pipelining decided here)
    site.py         the origin's answers: virtual hosts, files, conditional and range requests, cookies
    freshness.py    RFC 9111's rules: storable, lifetime, age, fresh or stale, validators, 304 updates
    conditional.py  RFC 9110's preconditions (304, 412)
    cache.py        the proxy's memory cache (LRU, bounded in bytes); proxy.py the proxy's decisions;
                    upstream.py its pooled connections toward origins
    server.py       the asyncio server both run on; browser.py the client; config.py the origin's sites
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "http-origin": {
        "argv": ["{python}", "-m", "services.http", "origin", "--data", "{data}"],
        "ready": ["tcp/80"],
        "about": "HTTP/1.1 origin server: args --config FILE (e.g. {lab_dir}/campus.d/http/origin.yaml)",
    },
    "http-proxy": {
        "argv": ["{python}", "-m", "services.http", "proxy"],
        "ready": ["tcp/3128"],
        "about": "caching forward proxy (RFC 9111) on port 3128: args --allow CIDR... --name NAME",
    },
}
