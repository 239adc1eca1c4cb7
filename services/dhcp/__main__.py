"""`python -m services.dhcp server|relay|client`: the DHCP daemons, one per command.

  server   SIGHUP reads --config again (a broken file keeps the pools served now)
  client   SIGUSR1 renews at once; SIGTERM releases the lease
"""

from __future__ import annotations

import argparse
import signal
from ipaddress import IPv4Address

from .. import daemon
from .net import LinkError
from .pools import load_config


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.dhcp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server", help="serve address pools from a config file; leases kept in a journal")
    s.add_argument("--config", required=True, help="YAML file with the pools (see services/dhcp/pools.py)")
    s.add_argument("--leases", default="dhcp-leases.jsonl", help="lease journal (created if missing)")
    s.add_argument("--port", type=int, default=67)
    r = sub.add_parser("relay", help="relay agent: forward a LAN's requests to servers, with giaddr")
    r.add_argument("--server", action="append", required=True, type=IPv4Address, help="a server's address")
    r.add_argument("--iface", action="append", required=True, help="a client-side interface")
    c = sub.add_parser("client", help="get a lease for an interface and keep it")
    c.add_argument("--iface", required=True)
    c.add_argument("--resolv-conf", default="/etc/resolv.conf", help="'' to leave resolv.conf alone")
    c.add_argument("--no-default-route", action="store_true")
    return ap


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    if args.command == "server":
        from .leases import LeaseJournal
        from .server_daemon import ServerDaemon

        server = ServerDaemon(load_config(args.config), LeaseJournal(args.leases), args.port)
        d.on_reload(lambda: server.use(load_config(args.config)))
        await server.run(d.stop)
    elif args.command == "relay":
        from .relay_daemon import RelayDaemon

        await RelayDaemon(args.server, args.iface).run(d.stop)
    else:
        from .client_daemon import ClientDaemon

        client = ClientDaemon(args.iface, args.resolv_conf or None, not args.no_default_route)
        d.on_signal(signal.SIGUSR1, client.renew_now)
        await client.run(d.stop)


def main(argv: list[str] | None = None) -> None:
    daemon.main("dhcp", build_parser, run, argv, errors=(LinkError, PermissionError))


if __name__ == "__main__":
    main()
