"""python -m services.dns auth --zone FILE... | resolver --root-hints FILE --allow CIDR...

  auth       an authoritative server for the zones in FILE... (UDP and TCP; SIGHUP reloads the files)
  resolver   a caching recursive resolver, iterative from the root hints, for clients in --allow
             (SIGHUP empties its cache)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging

from .. import daemon
from .authority import Authority
from .recursion import ResolverService
from .resolver import Resolver, load_hints
from .server import TCP_IDLE, serve
from .zone import ZoneError, load_zone

log = logging.getLogger("services.dns")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.dns", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    auth = sub.add_parser("auth", help="authoritative server for zone files (SIGHUP reloads them)")
    auth.add_argument("--zone", action="append", required=True, metavar="FILE", help="a zone file (repeatable)")
    res = sub.add_parser("resolver", help="caching recursive resolver (SIGHUP empties its cache)")
    res.add_argument("--root-hints", required=True, metavar="FILE", help="root name servers, in named.root form")
    res.add_argument("--allow", action="append", default=[], metavar="CIDR",
                     help="networks whose clients may ask (repeatable; default: loopback only)")
    res.add_argument("--upstream-port", type=int, default=53, help="port the authoritative servers listen on")
    res.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for one upstream reply")
    for p in (auth, res):
        p.add_argument("--listen", default="0.0.0.0", metavar="ADDR", help="address to listen on (default: all)")
        p.add_argument("--port", type=int, default=53)
        p.add_argument("--tcp-idle", type=float, default=TCP_IDLE, metavar="SECONDS",
                       help="drop a TCP client silent this long, or not reading its replies (default: %(default)s)")
    return ap


def _zones(paths: list[str]) -> list:
    zones = [load_zone(path) for path in paths]
    for z in zones:
        log.info("authoritative for %s (%d names) from %s", z.origin, len(z.records), z.source)
    return zones


def _handler(args: argparse.Namespace, d: daemon.Daemon):
    if args.role == "auth":
        auth = Authority(_zones(args.zone))
        d.on_reload(lambda: auth.use(_zones(args.zone)))  # a broken file keeps the zones served now
        return auth.handle
    try:
        allow = [ipaddress.ip_network(a, strict=False) for a in args.allow or ["127.0.0.0/8", "::1/128"]]
    except ValueError as e:
        raise ZoneError(f"--allow: {e}") from None
    resolver = Resolver(load_hints(args.root_hints), allow=allow)
    log.info("resolving for %s from root hints %s (%s)", ", ".join(map(str, allow)), args.root_hints,
             ", ".join(map(str, resolver.hint_names)))

    def flush() -> None:
        resolver.flush()
        log.info("cache flushed")
    d.on_reload(flush)
    return ResolverService(resolver, args.upstream_port, args.timeout).handle


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    handler = _handler(args, d)
    try:
        udp, tcp = await serve(handler, args.listen, args.port, args.tcp_idle)
    except OSError as e:
        raise ZoneError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("%s listening on %s port %d (UDP and TCP)", args.role, args.listen, args.port)
    await d.stopped()
    asyncio.get_running_loop().remove_reader(udp.fileno())
    udp.close()
    tcp.close()


def main(argv: list[str] | None = None) -> None:
    daemon.main("dns", build_parser, run, argv)


if __name__ == "__main__":
    main()
