"""The mail queue on disk (the spool), between the receiving server and the delivery agent, as in Postfix.

One file per message in ROOT/active/<queue id>: a first line with the envelope as JSON, then the message in
wire form. It is written under ROOT/incoming/, fdatasync'ed, renamed into active/, and active/ is fsynced
before `store()` returns: only then may the server answer 250. Messages arriving together are committed as
one group (one thread pass, one fsync of the folder), so a busy server pays for the folder's fsync once per
group, not per message. A file in incoming/ after a crash was never acknowledged and is removed at start.

What delivery has done so far (recipients done, attempts, next try) lives beside it in <queue id>.state,
replaced atomically; losing it after a crash means a recipient may get the message twice, never zero times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .session import Envelope, Message

log = logging.getLogger("services.smtp.queue")


@dataclass
class DeliveryState:
    arrival: float
    done: list[str] = field(default_factory=list)      # recipients delivered, bounced or given up
    attempts: int = 0
    next_try: float = 0.0
    last_error: dict[str, str] = field(default_factory=dict)


@dataclass
class QueuedMessage:
    queue_id: str
    envelope: Envelope
    state: DeliveryState
    data: bytes | None = None  # kept from reception for the first attempt; read from disk on retries

    @property
    def pending(self) -> list[str]:
        return [r for r in self.envelope.rcpt_to if r not in self.state.done]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, *parts: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view):]
        os.fdatasync(fd)
    finally:
        os.close(fd)


class MailQueue:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.incoming, self.active = self.root / "incoming", self.root / "active"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.active.mkdir(parents=True, exist_ok=True)
        self._waiting: list[tuple[Message, asyncio.Future]] = []
        self._flushing = False
        self._seq = 0
        # its own thread: a commit, which a client is waiting on, never queues behind deliveries
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="queue-commit")

    def new_id(self) -> str:
        # time + pid + counter: unique across restarts of this server (a restarted one has a new pid or time)
        self._seq += 1
        return f"{int(time.time() * 1000):X}{os.getpid():X}{self._seq:X}"

    # --- the receiving side ---------------------------------------------------------------------------
    async def store(self, message: Message) -> None:
        """Return once the message is durably in the queue; OSError when it could not be written."""
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append((message, fut))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await fut

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    await loop.run_in_executor(self._committer, self._commit, [m for m, _ in group])
                except OSError as e:
                    log.error("queue write failed for %d message(s): %s", len(group), e)
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                for _, fut in group:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._flushing = False

    def _commit(self, group: list[Message]) -> None:
        for m in group:
            env = json.dumps(asdict(m.envelope), separators=(",", ":")).encode() + b"\n"
            tmp = self.incoming / m.queue_id
            _write_synced(tmp, env, m.data)
            os.rename(tmp, self.active / m.queue_id)
        _fsync_dir(self.active)

    # --- the delivery side ----------------------------------------------------------------------------
    def load(self) -> list[QueuedMessage]:
        """Every message in the queue (at start: what a previous run left), oldest first."""
        for stale in self.incoming.iterdir():
            stale.unlink(missing_ok=True)  # never acknowledged: the client got no 250 and will send again
        out: list[QueuedMessage] = []
        for path in sorted(self.active.iterdir()):
            if path.suffix in (".state", ".tmp"):
                continue
            try:
                out.append(self._entry(path))
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.error("queue file %s is unreadable, left in place: %s", path.name, e)
        return sorted(out, key=lambda q: q.state.arrival)

    def _entry(self, path: Path) -> QueuedMessage:
        with path.open("rb") as f:
            envelope = Envelope(**json.loads(f.readline()))
        state_path = path.with_name(path.name + ".state")
        if state_path.exists():
            state = DeliveryState(**json.loads(state_path.read_text()))
        else:
            state = DeliveryState(arrival=path.stat().st_mtime)
        return QueuedMessage(path.name, envelope, state)

    def entry(self, message: Message, arrival: float) -> QueuedMessage:
        return QueuedMessage(message.queue_id, message.envelope, DeliveryState(arrival=arrival), message.data)

    def read(self, queue_id: str) -> bytes:
        with (self.active / queue_id).open("rb") as f:
            f.readline()
            return f.read()

    def save_state(self, q: QueuedMessage) -> None:
        path = self.active / (q.queue_id + ".state")
        tmp = path.with_suffix(".tmp")
        _write_synced(tmp, json.dumps(asdict(q.state)).encode())
        os.rename(tmp, path)

    def remove(self, queue_id: str) -> None:
        (self.active / (queue_id + ".state")).unlink(missing_ok=True)
        (self.active / queue_id).unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for p in self.active.iterdir() if p.suffix not in (".state", ".tmp"))
