"""JSON Lines: one object per event on stdout, flushed as it happens.

Every object has ``event`` and ``t`` (seconds since the process started)
first, then the event's fields.  Only the events of the SPEC's table are
written; the core's finer-grained events (``resolving``, ``candidate``) are
for the human trace.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

from netprobe.errors import StdoutClosed
from netprobe.events import PROCESS_START, Clock, Fields, monotonic

PUBLISHED = frozenset(
    {
        "resolved", "reversed", "attempt_started", "attempt", "connected", "bind", "listening",
        "accepted", "data", "closed", "round", "stopped", "error", "summary",
    }
)


class JsonLines:
    """A trace callback that writes JSON Lines; safe to call from several threads."""

    def __init__(self, stream: TextIO | None = None, clock: Clock = monotonic,
                 start: float = PROCESS_START) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.start = start
        self._lock = threading.Lock()

    def __call__(self, event: str, fields: Fields) -> None:
        if event not in PUBLISHED:
            return
        with self._lock:
            # ``t`` is taken under the lock: events from several threads
            # (check's workers) are written in the order of their ``t``.
            record = {"event": event, "t": round(self.clock() - self.start, 6), **fields}
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                self.stream.write(line)
                self.stream.flush()
            except BrokenPipeError:
                raise StdoutClosed() from None
