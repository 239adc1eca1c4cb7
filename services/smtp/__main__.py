"""python -m services.smtp serve ... | send ...

  serve   the mail server (MTA): accepts mail on port 25 into a durable queue, delivers it to the users'
          Maildirs (--mail-dir) for its own domains (--domain) and relays the rest to each domain's MX,
          only for clients in --relay-from
  send    the user agent: compose a message (attachments as base64 MIME parts) and submit it to a server
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from pathlib import Path

from .. import daemon
from ..mail.maildrop import AccountsError, Maildrop, load_accounts
from .agent import compose
from .client import TransferError, transfer
from .delivery import DeliveryAgent, Schedule
from .mx import resolver_from_resolv_conf
from .queue import MailQueue
from .server import SMTPServer
from .session import Policy

log = logging.getLogger("services.smtp")


def _hostport(text: str, default: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    return (host, int(port)) if port else (text, default)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.smtp", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("serve", help="the mail server")
    s.add_argument("--hostname", required=True, help="the name in the greeting and Received: lines")
    s.add_argument("--domain", action="append", default=[], help="a mail domain delivered here (repeatable)")
    s.add_argument("--accounts", help="file of user:password lines: the mailboxes of the local domains")
    s.add_argument("--mail-dir", required=True, help="folder of the users' Maildirs")
    s.add_argument("--queue-dir", required=True, help="folder of the mail queue")
    s.add_argument("--relay-from", action="append", default=[], metavar="CIDR",
                   help="client networks this server relays for (default: loopback only)")
    s.add_argument("--listen", default="0.0.0.0")
    s.add_argument("--port", type=int, default=25)
    s.add_argument("--dns", help="DNS server for MX lookups, ADDR[:PORT] (default: /etc/resolv.conf)")
    s.add_argument("--relay-port", type=int, default=25, help="port of the next hops (default 25)")
    s.add_argument("--retry-min", type=float, default=60.0, help="seconds before the first retry (doubles)")
    s.add_argument("--retry-max", type=float, default=3600.0)
    s.add_argument("--give-up", type=float, default=5 * 86400.0, help="seconds before a bounce")
    s.add_argument("--max-size", type=int, default=10 * 1024 * 1024, help="largest message (SIZE)")
    s.add_argument("--idle-timeout", type=float, default=300.0)
    u = sub.add_parser("send", help="compose and submit a message")
    u.add_argument("--server", required=True, help="HOST[:PORT] of the mail server (port 25)")
    u.add_argument("--from", dest="sender", required=True)
    u.add_argument("--to", action="append", required=True)
    u.add_argument("--subject", default="")
    u.add_argument("--body", default="", help="the text (or --body-file)")
    u.add_argument("--body-file", type=Path)
    u.add_argument("--attach", action="append", default=[], type=Path, help="a file to attach (repeatable)")
    u.add_argument("--helo", default="localhost")
    return ap


async def serve(args: argparse.Namespace, d: daemon.Daemon) -> None:
    try:
        relay = [ipaddress.ip_network(c, strict=False) for c in args.relay_from or ["127.0.0.0/8"]]
    except ValueError as e:
        raise daemon.ConfigError(f"--relay-from: {e}") from None
    try:
        accounts = load_accounts(args.accounts) if args.accounts else None
    except AccountsError as e:
        raise daemon.ConfigError(str(e)) from None
    policy = Policy(hostname=args.hostname, local_domains={x.lower() for x in args.domain},
                    users=set(accounts) if accounts is not None else None, relay_networks=relay,
                    max_size=args.max_size)
    dns_text = args.dns or resolver_from_resolv_conf()
    dns = _hostport(dns_text, 53) if dns_text else None
    queue = MailQueue(args.queue_dir)
    maildrop = Maildrop(args.mail_dir, accounts or {})
    agent = DeliveryAgent(queue, maildrop, policy, dns,
                          Schedule(args.retry_min, args.retry_max, args.give_up, args.relay_port))
    agent.start()
    server = SMTPServer(policy, queue, agent.submit, args.idle_timeout)
    try:
        listener = await asyncio.get_running_loop().create_server(server.protocol, args.listen, args.port,
                                                                  reuse_address=True, backlog=1024)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    log.info("%s: mail for %s, relaying for %s, %d message(s) in the queue, listening on %s port %d",
             args.hostname, ", ".join(sorted(policy.local_domains)) or "no domain",
             ", ".join(map(str, relay)), len(queue), args.listen, args.port)
    await d.stopped()
    listener.close()
    await agent.close()


async def send(args: argparse.Namespace) -> int:
    body = args.body_file.read_text() if args.body_file else args.body
    for a in args.attach:
        if not a.is_file():
            print(f"smtp send: no such file to attach: {a}", file=sys.stderr)
            return 2
    data = compose(args.sender, args.to, args.subject, body, args.attach)
    host, port = _hostport(args.server, 25)
    try:
        results = await transfer(host, port, args.helo, args.sender, args.to, data)
    except TransferError as e:
        print(f"smtp send: {e}", file=sys.stderr)
        return 1
    status = 0
    for rcpt, reply in results.items():
        print(f"{rcpt}: {reply}")
        status |= 0 if 200 <= reply.code < 300 else 1
    return status


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["send"]:
        sys.exit(asyncio.run(send(build_parser().parse_args(argv))))
    daemon.main("smtp", build_parser, serve, argv)


if __name__ == "__main__":
    main()
