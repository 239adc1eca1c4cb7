"""The services a lab file may name, as plain data for the lab engine (entry point `wirelab.services`).

argv placeholders: {python} {node} {lab_dir} {data} {iface}; `ready` lists the sockets ("tcp/PORT" or
"udp/PORT") whose opening shows the service is ready.
"""

SERVICES: dict[str, dict] = {
    "echo-udp": {
        "argv": ["{python}", "-m", "services.echo", "--udp", "--port", "7"],
        "ready": ["udp/7"],
        "about": "UDP echo server (RFC 862) on port 7",
    },
    "echo-tcp": {
        "argv": ["{python}", "-m", "services.echo", "--tcp", "--port", "7"],
        "ready": ["tcp/7"],
        "about": "TCP echo server (RFC 862) on port 7",
    },
    "uppercase-udp": {
        "argv": ["{python}", "-m", "services.sockets.server", "--udp", "--port", "12000"],
        "ready": ["udp/12000"],
        "about": "the course's UDPServer: answers each datagram in upper case (port 12000)",
    },
    "uppercase-tcp": {
        "argv": ["{python}", "-m", "services.sockets.server", "--tcp", "--port", "12000"],
        "ready": ["tcp/12000"],
        "about": "the course's TCPServer: answers each line in upper case (port 12000)",
    },
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
        "about": "DHCP client for an interface declared `address: dhcp`: address, route, resolv.conf; renews",
    },
}
