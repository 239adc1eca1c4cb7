"""The shell every wirelab daemon shares: options, logging, signals, reload and exit status.

A daemon is two functions, a parser and an async `run`, handed to `main`:

    from services import daemon

    def build_parser() -> argparse.ArgumentParser:
        ap = argparse.ArgumentParser(prog="python -m services.smtp", description=__doc__)
        ap.add_argument("--config", required=True)
        return ap

    async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
        config = load(daemon.read_config(args.config))   # raise daemon.ConfigError("...") if it is wrong
        server = await start_server(config)               # an OSError here: raise ConfigError too
        d.on_reload(lambda: server.use(load(daemon.read_config(args.config))))   # optional: SIGHUP
        await d.stopped()                                 # SIGTERM or SIGINT
        server.close()

    if __name__ == "__main__":
        daemon.main("smtp", build_parser, run)

What `main` does, the same for every daemon:
- adds `--log-level {debug,info,warning,error}` (default info) and `--quiet` (= error) to the parser and to
  each of its sub-commands, and sets up logging on stdout, one format for all;
- SIGTERM and SIGINT make `d.stopped()` return (and set `d.stop`): `run` closes what it opened and returns,
  and the process exits 0;
- SIGHUP calls what `run` registered with `d.on_reload` (a reload that raises ConfigError is logged as one
  line and the daemon goes on as it was); without any, SIGHUP is logged and ignored, never fatal;
- `d.on_signal(sig, fn)` for anything else (the DHCP client renews on SIGUSR1);
- a `ConfigError` (or a subclass, or one of the `errors` types passed to `main`) from `run` ends the process
  with exit status 2 and exactly one line on stderr: "smtp: <what is wrong>". Use `read_config(path)` to
  read a configuration file: a missing, unreadable or non-UTF-8 file becomes such a one-line error.
The handlers are in place before `run` starts, so a signal during start-up is not lost.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn

log = logging.getLogger("services.daemon")

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s"


class ConfigError(ValueError):
    """A configuration the daemon cannot start with (a missing or broken file, a bad option, a port it
    cannot listen on), said in one line that names what is wrong."""


def read_config(path: str | Path, what: str = "configuration file") -> str:
    """The text of a configuration file, or ConfigError in one line when it is missing, unreadable or not
    UTF-8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {p}: {e.strerror}") from None
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}: {what} is not UTF-8 (byte 0x{data[e.start]:02x})") from None


class Daemon:
    """What `run` gets besides its arguments: the stop event and the signal hooks."""

    def __init__(self, name: str):
        self.name = name
        self.stop = asyncio.Event()
        self._reloads: list[Callable[[], object]] = []

    async def stopped(self) -> None:
        """Return once SIGTERM or SIGINT has come."""
        await self.stop.wait()

    def on_reload(self, fn: Callable[[], object]) -> None:
        """Call fn on SIGHUP (several may be registered; they run in order)."""
        self._reloads.append(fn)

    def on_signal(self, sig: signal.Signals, fn: Callable[[], object]) -> None:
        asyncio.get_running_loop().add_signal_handler(sig, fn)

    def reload(self) -> None:
        if not self._reloads:
            log.info("SIGHUP: %s has nothing to reload", self.name)
            return
        for fn in self._reloads:
            try:
                fn()
            except ConfigError as e:
                log.error("reload failed, going on as before: %s", e)

    def _install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _stopping(self, sig: signal.Signals) -> None:
        if not self.stop.is_set():
            log.info("%s: stopping", signal.Signals(sig).name)
        self.stop.set()


Run = Callable[[argparse.Namespace, Daemon], Awaitable[object]]


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    """--log-level and --quiet on `parser` and on each of its sub-commands (so both `prog --quiet auth` and
    `prog auth --quiet` work)."""
    for action in parser._actions:  # argparse has no public way to walk sub-commands
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                add_logging_options(sub)
    if "--log-level" in parser._option_string_actions:
        return
    parser.add_argument("--log-level", choices=LEVELS, default=argparse.SUPPRESS,
                        help="how much to log (default: info)")
    parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="log only errors (same as --log-level error)")


def setup_logging(args: argparse.Namespace) -> None:
    level = "error" if getattr(args, "quiet", False) else (getattr(args, "log_level", None) or "info")
    logging.basicConfig(level=level.upper(), stream=sys.stdout, format=FORMAT, datefmt="%H:%M:%S", force=True)


async def _amain(name: str, args: argparse.Namespace, run: Run) -> None:
    d = Daemon(name)
    d._install()
    await run(args, d)


def raise_fd_limit() -> None:
    """As many connections as the system lets a server hold: the soft descriptor limit raised to the hard
    one (the usual soft limit of 1024 is too few)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def use_fast_loop() -> None:
    """uvloop (libuv) for the asyncio loop when it is installed: the same API, the event loop in C. A daemon
    that offers it calls this before `main` (and offers --asyncio-loop to keep asyncio's own)."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(name: str, build_parser: Callable[[], argparse.ArgumentParser], run: Run,
         argv: list[str] | None = None, errors: tuple[type[BaseException], ...] = ()) -> NoReturn:
    """Parse argv, set up logging, run `run(args, daemon)` until it returns, and exit: 0 when it returned,
    2 with one line on stderr for a ConfigError (or one of `errors`)."""
    parser = build_parser()
    add_logging_options(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    try:
        asyncio.run(_amain(name, args, run))
    except (ConfigError, *errors) as e:
        print(f"{name}: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        pass
    sys.exit(0)
