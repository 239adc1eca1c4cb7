"""python -m services.ftp server --config FILE --root DIR [...] | client HOST [--active] ls|get|put ...

  server   the FTP server: control connection on --port (21), active data connections from --data-port
           (20), passive ones on --passive-ports; users and the anonymous area from --config (YAML)
  client   log in, then one of: ls [PATH] | get REMOTE [LOCAL|-] | put LOCAL [REMOTE]; passive unless
           --active; the control dialogue is shown on stderr (-q: not)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from .. import daemon
from .accounts import load_accounts
from .client import FtpError, run
from .events import Limits
from .server import FtpServer, ServerConfig

log = logging.getLogger("services.ftp")


def _ports(text: str) -> range:
    lo, _, hi = text.partition("-")
    if not (text.isascii() and lo.isdigit() and hi.isdigit() and 1024 <= int(lo) <= int(hi) < 65536):
        raise argparse.ArgumentTypeError(f"'{text}' is not LOW-HIGH within 1024-65535")
    return range(int(lo), int(hi) + 1)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.ftp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server", help="the FTP server")
    s.add_argument("--config", required=True, metavar="FILE", help="users and anonymous area (YAML)")
    s.add_argument("--root", required=True, metavar="DIR", help="the folder users' homes are relative to")
    s.add_argument("--seed", metavar="DIR", help="files copied into --root where missing (first start)")
    s.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
    s.add_argument("--port", type=int, default=21)
    s.add_argument("--data-port", type=int, default=20, help="source port of active data connections")
    s.add_argument("--passive-ports", type=_ports, default=range(50000, 51000), metavar="LOW-HIGH")
    s.add_argument("--idle", type=float, default=300, help="seconds a control connection may stay silent")
    s.add_argument("--data-idle", type=float, default=60, help="seconds a data connection may stall")
    s.add_argument("--login-delay", type=float, default=1.0, help="seconds before answering a failed login")
    s.add_argument("--login-failures", type=int, default=3, help="failed logins before the connection closes")
    s.add_argument("--max-sessions", type=int, default=0, metavar="N",
                   help="sessions at once; more get 421 (default: what the descriptor limit allows)")
    s.add_argument("--asyncio-loop", action="store_true",
                   help="run on asyncio's own event loop even when uvloop is installed")
    c = sub.add_parser("client", help="a small client: ls, get, put")
    c.add_argument("host")
    c.add_argument("action", nargs="+", metavar="ls [PATH] | get REMOTE [LOCAL] | put LOCAL [REMOTE]")
    c.add_argument("--port", type=int, default=21)
    c.add_argument("--user", default="anonymous")
    c.add_argument("--password", default="student@poly.edu")
    c.add_argument("--active", action="store_true", help="active mode: the server connects to us (PORT)")
    c.add_argument("-q", dest="silent", action="store_true", help="do not show the control dialogue")
    return ap


def _seed(src: Path, root: Path) -> None:
    for path in sorted(src.rglob("*")):
        dest = root / path.relative_to(src)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)


async def serve(args: argparse.Namespace, d: daemon.Daemon) -> None:
    root = Path(args.root)
    if args.seed:
        if not Path(args.seed).is_dir():
            raise daemon.ConfigError(f"--seed {args.seed}: not a folder")
        _seed(Path(args.seed), root)
    config = ServerConfig(load_accounts(args.config, root),
                          Limits(login_failures=args.login_failures, failure_delay=args.login_delay),
                          args.passive_ports, args.data_port, args.idle, args.data_idle, args.max_sessions)
    daemon.raise_fd_limit()
    server = FtpServer(config)
    try:
        await server.start(args.listen, args.port)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("FTP on %s port %d; active from port %d, passive %d-%d; at most %d sessions", args.listen, args.port,
             args.data_port, args.passive_ports.start, args.passive_ports.stop - 1, server.allowed)
    await d.stopped()
    await server.stop()


def client(args: argparse.Namespace) -> None:
    verb = args.action[0]
    if verb not in ("ls", "get", "put") or (verb != "ls" and len(args.action) < 2):
        print("ftp client: say ls [PATH], get REMOTE [LOCAL] or put LOCAL [REMOTE]", file=sys.stderr)
        sys.exit(2)
    try:
        run(args.host, args.port, args.user, args.password, not args.active, args.action, args.silent)
    except (FtpError, OSError) as e:
        print(f"ftp client: {e}", file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:  # a command, not a daemon: no signal shell, exit 1 when the server refuses
        client(build_parser().parse_args(argv))
        return
    if not getattr(build_parser().parse_known_args(argv)[0], "asyncio_loop", False):
        daemon.use_fast_loop()
    daemon.main("ftp", build_parser, serve, argv)


if __name__ == "__main__":
    main()
