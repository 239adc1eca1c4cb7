"""python -m services.pop3 serve --accounts FILE --mail-dir DIR | read --server HOST[:PORT] --user U --password P

  serve   the POP3 server (port 110) for the Maildirs the SMTP server delivers to
  read    a small reader: lists the mailbox and prints (with --delete: downloads and deletes) each message
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import poplib
import sys

from .. import daemon
from ..mail.maildrop import AccountsError, Maildrop, load_accounts
from .server import POP3Server

log = logging.getLogger("services.pop3")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.pop3", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("serve", help="the POP3 server")
    s.add_argument("--accounts", required=True, help="file of user:password lines")
    s.add_argument("--mail-dir", required=True, help="folder of the users' Maildirs")
    s.add_argument("--hostname", default="localhost")
    s.add_argument("--listen", default="0.0.0.0")
    s.add_argument("--port", type=int, default=110)
    s.add_argument("--idle-timeout", type=float, default=600.0)
    r = sub.add_parser("read", help="read a mailbox")
    r.add_argument("--server", required=True, help="HOST[:PORT] (port 110)")
    r.add_argument("--user", required=True)
    r.add_argument("--password", required=True)
    r.add_argument("--delete", action="store_true", help="delete what was read (download-and-delete)")
    return ap


async def serve(args: argparse.Namespace, d: daemon.Daemon) -> None:
    try:
        accounts = load_accounts(args.accounts)
    except AccountsError as e:
        raise daemon.ConfigError(str(e)) from None
    server = POP3Server(Maildrop(args.mail_dir, accounts), accounts, args.hostname, args.idle_timeout)
    try:
        listener = await asyncio.get_running_loop().create_server(server.protocol, args.listen, args.port,
                                                                  reuse_address=True, backlog=1024)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("POP3 for %d mailbox(es) in %s, listening on %s port %d", len(accounts), args.mail_dir,
             args.listen, args.port)
    await d.stopped()
    listener.close()


def read(args: argparse.Namespace) -> int:
    host, _, port = args.server.partition(":")
    try:
        box = poplib.POP3(host, int(port or 110), timeout=30)
        box.user(args.user)
        box.pass_(args.password)
        _, listing, _ = box.list()
        for entry in listing:
            num = int(entry.split()[0])
            _, lines, _ = box.retr(num)
            sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n\r\n")
            if args.delete:
                box.dele(num)
        box.quit()
    except (OSError, poplib.error_proto) as e:
        print(f"pop3 read: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["read"]:
        sys.exit(read(build_parser().parse_args(argv)))
    daemon.main("pop3", build_parser, serve, argv)


if __name__ == "__main__":
    main()
