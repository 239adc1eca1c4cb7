"""DHCP (RFC 2131/2132): a sans-I/O server, client and relay, and the daemons that run them on nodes.

    python -m services.dhcp server --config FILE --leases FILE
    python -m services.dhcp relay --server IP --iface eth0 [--iface eth1]
    python -m services.dhcp client --iface eth0
"""
