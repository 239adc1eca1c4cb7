"""python -m services.telnet server --accounts FILE --homes DIR | client HOST [PORT] | passwd USER

  server   the Telnet server (RFC 854): login against the accounts file, then a shell on a pty
  client   the course's client: any TCP port, each option negotiation printed as it happens
  passwd   print an accounts-file line for USER (the password is read from the terminal or stdin)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import socket
import sys
from pathlib import Path

from .. import daemon
from .accounts import Accounts, hash_password
from .client import TelnetClient, run_lines, run_terminal
from .server import TelnetServer

log = logging.getLogger("services.telnet")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.telnet", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    srv = sub.add_parser("server", help="the Telnet server")
    srv.add_argument("--accounts", required=True, metavar="FILE", help="the lab's accounts (user:hash lines)")
    srv.add_argument("--homes", required=True, metavar="DIR", help="folder of the users' home folders")
    srv.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
    srv.add_argument("--port", type=int, default=23)
    srv.add_argument("--node", default=socket.gethostname(), help="the name in the banner and prompt")
    srv.add_argument("--fail-delay", type=float, default=2.0, metavar="SECONDS",
                     help="wait after a wrong password (default 2)")
    srv.add_argument("--no-terminal-type", dest="terminal_type", action="store_false",
                     help="never ask for the terminal type (RFC 1091); shells get TERM=network")
    cli = sub.add_parser("client", help="the course's Telnet client")
    cli.add_argument("host")
    cli.add_argument("port", nargs="?", type=int, default=23)
    cli.add_argument("--term", default=os.environ.get("TERM") or "VT220", help="terminal type to report")
    cli.add_argument("--pace", type=float, default=1.0, metavar="SECONDS",
                     help="from a pipe: longest wait for the server's answer before the next line")
    cli.add_argument("--linger", type=float, default=10.0, metavar="SECONDS",
                     help="from a pipe: longest wait for the server to close after the last line")
    cli.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="to connect")
    cli.add_argument("--send", action="append", metavar="LINE",
                     help="a line to type, instead of reading stdin (repeatable; each after the answer to the last)")
    cli.add_argument("--quiet-options", action="store_true", help="do not print the negotiations")
    pw = sub.add_parser("passwd", help="make an accounts-file line")
    pw.add_argument("user")
    return ap


async def _serve(args: argparse.Namespace, d: daemon.Daemon) -> None:
    server = TelnetServer(Accounts.load(args.accounts), Path(args.homes), args.node, args.fail_delay,
                          args.terminal_type)
    try:
        listener = await server.serve(args.listen, args.port)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("telnet server for %d accounts listening on %s port %d (--log-level debug shows every negotiation)",
             len(server.accounts.accounts), args.listen, args.port)
    await d.stopped()
    listener.close()


async def _client(args: argparse.Namespace) -> int:
    def show(text: str) -> None:
        if not args.quiet_options:
            sys.stderr.write(text + ("\r\n" if interactive else "\n"))
            sys.stderr.flush()

    def output(data: bytes) -> None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    interactive = sys.stdin.isatty() and args.send is None
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        window = (size.columns, size.lines)
    except OSError:
        window = (80, 24)
    client = TelnetClient(args.host, args.port, term=args.term, window=window, show=show, output=output)
    print(f"Trying {args.host} port {args.port}...", file=sys.stderr)
    try:
        reader = await client.connect(args.timeout)
    except (OSError, TimeoutError) as e:
        reason = os.strerror(e.errno) if getattr(e, "errno", None) else "no answer"
        print(f"telnet: cannot connect to {args.host} port {args.port}: {reason}", file=sys.stderr)
        return 1
    print(f"Connected to {args.host}.", file=sys.stderr)
    if interactive:
        print("Escape character is '^]'.", file=sys.stderr)
        await run_terminal(client, reader)
    else:
        lines = [s.encode() for s in args.send] if args.send is not None else sys.stdin.buffer.read().splitlines()
        await run_lines(client, reader, lines, args.pace, args.linger)
    print("Connection closed by foreign host." if not interactive else "\r\nConnection closed.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["server"]:
        daemon.main("telnet server", build_parser, _serve, argv)
    args = build_parser().parse_args(argv)
    if args.role == "passwd":
        prompt = f"password for {args.user}: "
        password = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        print(f"{args.user}:{hash_password(password)}")
        return
    try:
        sys.exit(asyncio.run(_client(args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
