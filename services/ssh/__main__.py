"""python -m services.ssh server --accounts FILE --homes DIR --host-keys DIR

  server   the SSH server: logins (password or key) against the lab's accounts, shell and exec sessions
           on a pty when asked, SFTP (and so scp) jailed to the user's home; host keys made once in
           --host-keys and reused
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
from pathlib import Path

from .. import daemon
from ..telnet.accounts import Accounts
from .hostkeys import load_or_make
from .server import SSHServer

log = logging.getLogger("services.ssh")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.ssh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    srv = sub.add_parser("server", help="the SSH server")
    srv.add_argument("--accounts", required=True, metavar="FILE", help="the lab's accounts (user:hash lines)")
    srv.add_argument("--homes", required=True, metavar="DIR", help="folder of the users' home folders")
    srv.add_argument("--host-keys", required=True, metavar="DIR", help="where the host keys are (made if absent)")
    srv.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
    srv.add_argument("--port", type=int, default=22)
    srv.add_argument("--node", default=socket.gethostname(), help="the name in the prompt and key comments")
    srv.add_argument("--fail-delay", type=float, default=2.0, metavar="SECONDS",
                     help="wait after a wrong password (default 2)")
    return ap


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # its per-connection chatter; ours says enough
    accounts = Accounts.load(args.accounts)
    keys = load_or_make(args.host_keys, args.node)
    try:
        listener = socket.create_server((args.listen, args.port), backlog=128)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen} port {args.port}: {e.strerror}") from None
    server = SSHServer(accounts, Path(args.homes), keys, args.node, args.fail_delay)
    # paramiko is threaded: the accept loop runs in a thread, ended by closing its socket
    accepting = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    accepting.start()
    log.info("ssh server for %d accounts listening on %s port %d (host keys %s)", len(accounts.accounts),
             args.listen, args.port, ", ".join(f"{k.get_name()} {k.fingerprint}" for k in keys))
    await d.stopped()
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    await asyncio.to_thread(accepting.join, 5)


if __name__ == "__main__":
    daemon.main("ssh server", build_parser, run)
