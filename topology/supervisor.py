"""A service's supervisor, on its node: runs the service, restarts it with back-off when it dies (as its
restart policy says), logs each restart, and keeps a small status file that `wirelab ps` reads.

    python -m topology.supervisor --status FILE --restart on-failure -- COMMAND...

Policies: `on-failure` restarts after a non-zero exit or a death by signal, `always` after any exit,
`never` not at all. Exit status 2 is a daemon's "my configuration is wrong": restarting cannot heal
that, so it is never restarted. Back-off doubles from 0.5 s to 30 s, and starts again from 0.5 s once
the service has run for 10 s.

The supervisor and its service share one process group: a signal to the group (SIGHUP to reload,
SIGUSR1 to a DHCP client) reaches the service once, and the supervisor only notes it. SIGTERM or
SIGINT to the group stops the service and then the supervisor, without a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CONFIG_ERROR = 2
BACKOFF_FIRST, BACKOFF_MAX, STABLE = 0.5, 30.0, 10.0


class Supervisor:
    def __init__(self, argv: list[str], status: Path, policy: str):
        self.argv, self.status_path, self.policy = argv, status, policy
        self.stopping = False
        self.restarts = 0
        self.child: subprocess.Popen | None = None

    def say(self, text: str) -> None:
        print(f"wirelab supervisor: {text}", flush=True)

    def write_status(self, state: str, **extra: object) -> None:
        data = {"state": state, "restarts": self.restarts, "pid": self.child.pid if self.child else None,
                "since": time.time(), **extra}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.status_path)

    def on_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True  # the service got the same signal from the group

    def should_restart(self, code: int) -> bool:
        if self.stopping or self.policy == "never" or code == CONFIG_ERROR:
            return False
        return self.policy == "always" or code != 0

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_stop)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, lambda *_: None)  # meant for the service, which has it too
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        backoff = BACKOFF_FIRST
        while True:
            started = time.monotonic()
            try:
                self.child = subprocess.Popen(self.argv)  # inherits stdout/stderr: the service's log
            except OSError as e:
                self.say(f"cannot start {self.argv[0]}: {e}")
                self.write_status("exited", exit=127)
                return 127
            self.write_status("running")
            code = self._wait()
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            if not self.should_restart(code):
                if not self.stopping:
                    self.say(f"service {how}; not restarted (policy {self.policy}"
                             f"{', configuration error' if code == CONFIG_ERROR else ''})")
                self.write_status("exited", exit=code)
                return code if code >= 0 else 128 - code
            if time.monotonic() - started > STABLE:
                backoff = BACKOFF_FIRST
            self.restarts += 1
            self.say(f"service {how}; restart {self.restarts} in {backoff:.1f} s")
            self.write_status("restarting", exit=code)
            self.child = None
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(0.05)
            if self.stopping:
                self.write_status("exited", exit=code)
                return 0
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _wait(self) -> int:
        while True:
            try:
                return self.child.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
                continue


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m topology.supervisor", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--status", required=True, type=Path, help="status file (JSON) to keep up to date")
    ap.add_argument("--restart", default="on-failure", choices=["on-failure", "always", "never"])
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...")
    a = ap.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        ap.error("no command to supervise (after --)")
    return Supervisor(command, a.status, a.restart).run()


if __name__ == "__main__":
    sys.exit(main())
