"""Run a command in a swarm node as this process's child, with signals passed on:

    python -m topology.backends.swarm_exec DOCKER_URL CONTAINER -- COMMAND...

`docker exec` passes the command's output and exit status through, but not signals: stopping it
would leave the command running in the node (a capture's tcpdump, a client). So the command first
notes its pid in the node, and a signal this process gets is sent there, through the same daemon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m topology.backends.swarm_exec DOCKER_URL CONTAINER -- COMMAND...", file=sys.stderr)
        return 2
    url, container, command = argv[0], argv[1], argv[3:]
    pidfile = f"/tmp/.wlexec-{uuid.uuid4().hex[:12]}"
    # the shell stays to remove the note when the command ends (stdin passed on explicitly: a background
    # command's stdin would otherwise be /dev/null)
    script = f'"$@" <&0 & p=$!; echo $p > {pidfile}; wait $p; c=$?; rm -f {pidfile}; exit $c'
    proc = subprocess.Popen(["docker", "-H", url, "exec", "-i", container, "sh", "-c", script, "sh", *command],
                            start_new_session=True)  # a signal to our group is for the command: passed on once

    def forward(signum: int, _frame: object) -> None:
        subprocess.run(["docker", "-H", url, "exec", container, "sh", "-c",
                        f"[ -f {pidfile} ] && kill -{signum} $(cat {pidfile})"], capture_output=True, timeout=30)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            code = proc.wait()
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    os.environ.pop("DOCKER_HOST", None)
    sys.exit(main(sys.argv[1:]))
