"""python -m services.http origin|proxy|get ...

  origin  an origin server for the sites of --config FILE (or one folder: --root DIR)
  proxy   the caching forward proxy, for the clients of --allow CIDR...
  get     the browser-like client: a page and the objects it references, over HTTP/1.0 non-persistent
          or HTTP/1.1 persistent connections, directly or through a proxy
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from services import daemon

from .browser import BrowserError, fetch_page
from .cache import Cache
from .config import load_sites
from .connection import Limits
from .messages import Request
from .proxy import Proxy, ProxyConfig
from .reply import Reply
from .server import HttpServer, ServerOptions
from .site import Origin, Site, SiteConfig

log = logging.getLogger("services.http")
access = logging.getLogger("services.http.access")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.http", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    origin = sub.add_parser("origin", help="origin server (virtual hosts from a configuration file)")
    src = origin.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", metavar="FILE", help="the sites, as YAML (see services/http/config.py)")
    src.add_argument("--root", metavar="DIR", help="serve one folder for every Host")
    origin.add_argument("--data", metavar="DIR", help="where what clients PUT or POST is kept")
    origin.add_argument("--port", type=int, default=80)
    proxy = sub.add_parser("proxy", help="caching forward proxy")
    proxy.add_argument("--allow", action="append", default=[], metavar="CIDR",
                       help="client networks served (repeatable; default: loopback only)")
    proxy.add_argument("--name", default="proxy", help="the proxy's name in Via (default: proxy)")
    proxy.add_argument("--connect", choices=("refuse", "tunnel"), default="refuse",
                       help="CONNECT requests: refused (403) or tunnelled to --connect-port")
    proxy.add_argument("--connect-port", type=int, action="append", default=[], metavar="PORT",
                       help="ports CONNECT may reach (repeatable; default 443)")
    proxy.add_argument("--cache-mb", type=int, default=256, help="memory cache size (LRU beyond)")
    proxy.add_argument("--port", type=int, default=3128)
    for p in (origin, proxy):
        p.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
        p.add_argument("--idle-timeout", type=float, default=15.0, help="close idle connections after (s)")
        p.add_argument("--request-timeout", type=float, default=10.0,
                       help="close a connection whose request has not arrived whole after (s)")
        p.add_argument("--max-requests", type=int, default=0, metavar="N",
                       help="close a client's connection after N replies (0: no limit), as nginx's keepalive_requests")
        p.add_argument("--asyncio-loop", action="store_true",
                       help="run on asyncio's own event loop even when uvloop is installed")
    get = sub.add_parser("get", help="fetch a page and its referenced objects")
    get.add_argument("url")
    get.add_argument("--proxy", metavar="URL", help="a forward proxy (default: none)")
    get.add_argument("--non-persistent", action="store_true",
                     help="HTTP/1.0, one TCP connection per object (default: HTTP/1.1, one persistent connection)")
    get.add_argument("--no-objects", action="store_true", help="the page only")
    get.add_argument("--repeat", type=int, default=1, help="fetch it this many times, cookies kept between")
    return ap


def _access_log(peer: str, req: Request, reply: Reply) -> None:
    access.info("%s %s %s %d %s %d", peer, req.method, req.target, reply.status, reply.note or "-",
                len(reply.body))


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    if args.role == "get":
        raise daemon.ConfigError("internal: get is not a daemon")
    daemon.raise_fd_limit()
    options = ServerOptions(Limits(), args.idle_timeout, args.request_timeout, max_requests=args.max_requests)
    logs = _access_log if access.isEnabledFor(logging.INFO) else None
    if args.role == "origin":
        configs = load_sites(args.config) if args.config else [SiteConfig("default", Path(args.root))]
        if args.root and not Path(args.root).is_dir():
            raise daemon.ConfigError(f"--root {args.root} is not a folder")
        data = Path(args.data) if args.data else None
        handler = Origin([Site(c, data=data) for c in configs])
        for c in configs:
            log.info("site %s from %s", " ".join([c.name, *c.aliases]), c.root)
        if args.config:
            def reload() -> None:
                handler.use([Site(c, data=data) for c in load_sites(args.config)])
                log.info("sites reloaded from %s", args.config)
            d.on_reload(reload)
    else:
        try:
            allow = [ipaddress.ip_network(a, strict=False) for a in args.allow or ["127.0.0.0/8"]]
        except ValueError as e:
            raise daemon.ConfigError(f"--allow: {e}") from None
        handler = Proxy(ProxyConfig(allow, args.name, args.connect, tuple(args.connect_port or [443])),
                        Cache(args.cache_mb << 20))
        log.info("proxy for %s, CONNECT %s", ", ".join(map(str, allow)), args.connect)
    server = HttpServer(handler, options, logs)
    try:
        await server.start(args.listen, args.port)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("%s listening on %s port %d", args.role, args.listen, server.port)
    await d.stopped()
    await server.close()
    if args.role == "proxy":
        handler.pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    daemon.add_logging_options(parser)
    args = parser.parse_args(argv)
    if args.role == "get":
        try:
            sys.exit(fetch_page(args.url, proxy=args.proxy, persistent=not args.non_persistent,
                                objects=not args.no_objects, repeat=args.repeat))
        except BrowserError as e:
            print(f"http get: {e}", file=sys.stderr)
            sys.exit(2)
    if not getattr(args, "asyncio_loop", True):
        daemon.use_fast_loop()
    daemon.main("http " + args.role, build_parser, run, argv)


if __name__ == "__main__":
    main()
