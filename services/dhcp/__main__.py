"""`python -m services.dhcp server|relay|client`: the DHCP daemons, one per command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from ipaddress import IPv4Address

from .net import LinkError
from .pools import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    ap = argparse.ArgumentParser(prog="python -m services.dhcp", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server", parents=[common],
                       help="serve address pools from a config file; leases kept in a journal")
    s.add_argument("--config", required=True, help="YAML file with the pools (see services/dhcp/pools.py)")
    s.add_argument("--leases", default="dhcp-leases.jsonl", help="lease journal (created if missing)")
    s.add_argument("--port", type=int, default=67)
    r = sub.add_parser("relay", parents=[common], help="relay agent: forward a LAN's requests to servers, with giaddr")
    r.add_argument("--server", action="append", required=True, type=IPv4Address, help="a server's address")
    r.add_argument("--iface", action="append", required=True, help="a client-side interface")
    c = sub.add_parser("client", parents=[common], help="get a lease for an interface and keep it")
    c.add_argument("--iface", required=True)
    c.add_argument("--resolv-conf", default="/etc/resolv.conf", help="'' to leave resolv.conf alone")
    c.add_argument("--no-default-route", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), stream=sys.stdout,
                        format="%(asctime)s.%(msecs)03d %(name)s %(message)s", datefmt="%H:%M:%S")
    try:
        if a.command == "server":
            from .server_daemon import serve

            asyncio.run(serve(load_config(a.config), a.leases, a.port))
        elif a.command == "relay":
            from .relay_daemon import relay

            asyncio.run(relay(a.server, a.iface))
        else:
            from .client_daemon import run_client

            asyncio.run(run_client(a.iface, a.resolv_conf or None, not a.no_default_route))
    except (ConfigError, LinkError, PermissionError) as e:
        print(f"dhcp {a.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
