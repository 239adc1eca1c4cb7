"""Bad packets said in one line, and not too often: a flood of hostile messages must not fill the disk
that holds the logs (in a lab, a small tmpfs shared with every lab's state and DHCP journals)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

INTERVAL = 10.0  # seconds between two lines; the packets in between are counted in the next line


class OneLineLog:
    def __init__(self, logger: logging.Logger, about: str = "bad packet", level: int = logging.WARNING,
                 interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic):
        self.logger, self.about, self.level, self.interval, self.clock = logger, about, level, interval, clock
        self._next = 0.0
        self._held = 0

    def __call__(self, client: str, what: str) -> None:
        now = self.clock()
        if now < self._next:
            self._held += 1
            return
        more = f" ({self._held} more since the last line)" if self._held else ""
        self.logger.log(self.level, "%s from %s: %s%s", self.about, client, what.splitlines()[0] if what else "?",
                        more)
        self._next, self._held = now + self.interval, 0


bad_packet = OneLineLog(logging.getLogger("services.dns"))
