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
from netprobe.render.syscalls import DATA_CALLS, DataSummary

PUBLISHED = frozenset(
    {
        "resolved", "reversed", "attempt_started", "attempt", "connected", "bind", "listening",
        "accepted", "data", "closed", "round", "stopped", "error", "syscall",
        "syscall_summary",
    }
)


class JsonLines:
    """A trace callback that writes JSON Lines; safe to call from several threads."""

    def __init__(self, stream: TextIO | None = None, clock: Clock = monotonic,
                 start: float = PROCESS_START, *, syscalls: bool = False,
                 verbose: int = 0) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.start = start
        self._lock = threading.Lock()
        #: --syscalls: `syscall` events are written (recv/send one by one only with -v).
        self.syscalls = syscalls
        self.verbose = verbose
        self._data: DataSummary | None = None

    def __call__(self, event: str, fields: Fields) -> None:
        if event not in PUBLISHED:
            return
        if event == "syscall" and not self._syscall(fields):
            return
        record = {"event": event, "t": round(self.clock() - self.start, 6), **fields}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except BrokenPipeError:
                raise StdoutClosed() from None

    def _syscall(self, fields: Fields) -> bool:
        """Whether to write this `syscall` event; sums recv/send up unless -v."""
        if not self.syscalls:
            return False
        if self.verbose:
            return True
        if self._data is None:
            self._data = DataSummary()
        if fields["call"] in DATA_CALLS:
            self._data.add(fields)
            return False
        if fields["call"] == "close":
            summary = self._data.pop(fields["fd"])
            if summary is not None:
                self("syscall_summary", summary)
        return True
