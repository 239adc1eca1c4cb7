"""DHCP (RFC 2131/2132): a sans-I/O server, client and relay, and the daemons that run them on nodes.

    python -m services.dhcp server --config FILE --leases FILE
    python -m services.dhcp relay --server IP --iface eth0 [--iface eth1]
    python -m services.dhcp client --iface eth0
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
# dhcp-client serves every interface a lab file declares `address: dhcp`: the lab engine starts one per
# such interface without knowing what DHCP is.
SERVICES: dict[str, dict] = {
    "dhcp-server": {
        "argv": ["{python}", "-m", "services.dhcp", "server", "--leases", "{data}/dhcp-leases.jsonl"],
        "ready": ["udp/67"],
        "about": "DHCP server (RFC 2131): pools per subnet from --config FILE, leases journaled on disk",
    },
    "dhcp-relay": {
        "argv": ["{python}", "-m", "services.dhcp", "relay"],
        "ready": ["udp/67"],
        "about": "DHCP relay agent for routers: args --server IP --iface CLIENT-SIDE-IFACE (sets giaddr)",
    },
    "dhcp-client": {
        "argv": ["{python}", "-m", "services.dhcp", "client", "--iface", "{iface}"],
        "ready": ["ipv4/{iface}"],
        "serves_address": "dhcp",
        "about": "DHCP client for an interface declared `address: dhcp`: address, route, resolv.conf; renews",
    },
}
