"""JSON Lines: one object per event on stdout, flushed as it happens.

Every object has ``event`` and ``t`` (seconds since the process started)
first, then the event's fields.  Only the events of the SPEC's table are
written; the core's finer-grained events (``resolving``, ``candidate``) are
for the human trace.

What peers send arrives as raw bytes (``payload``) and becomes ``data``
events here, ``text`` when the bytes are UTF-8, else ``base64``.  A
multi-byte character split between two reads would make both halves look
binary, so on a stream an incomplete sequence at the end of a read is held
for that stream's next read (per client for listen), and written when the
stream closes; a datagram is a message of its own and is never held.
"""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock

from netprobe.errors import StdoutClosed
from netprobe.events import PROCESS_START, Clock, Event, Fields, monotonic
from netprobe.render import Renderer
from netprobe.render.jsontext import ProbeLines, inert
from netprobe.render.jsontext import encode as _encode
from netprobe.stdio import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from netprobe.render.syscalls import DataSummary

PUBLISHED = frozenset(
    {
        "resolved", "reversed", "attempt_started", "attempt", "connected", "bind", "listening",
        "accepted", "data", "closed", "round", "stopped", "error", "summary", "syscall",
        "syscall_summary",
        # TLS: the handshake (connect), a client's failed handshake and the
        # server's certificate (listen).
        "tls", "tls_failed", "tls_certificate",
        # connect --count: one line per probe, the statistics at the end.
        "probe", "probe_stats",
    }
)

#: The longest UTF-8 sequence: a tail shorter than this may be a character cut in two.
_UTF8_MAX = 4

def split_utf8(data: bytes) -> tuple[bytes, bytes]:
    """(what can be written now, an incomplete UTF-8 sequence at the end to hold back).

    Only a tail that is the *start* of a valid character is held: bytes that
    can never become UTF-8 are written at once (as base64).
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if (exc.reason == "unexpected end of data" and exc.end == len(data)
                and len(data) - exc.start < _UTF8_MAX):
            return data[: exc.start], data[exc.start:]
    return data, b""


def data_fields(data: bytes) -> Fields:
    """``bytes`` and ``text`` when the bytes are UTF-8, else ``base64`` (the SPEC's ``data``)."""
    try:
        return {"bytes": len(data), "text": data.decode("utf-8")}
    except UnicodeDecodeError:
        import base64  # only for binary payload: --json start-up does without it

        return {"bytes": len(data), "base64": base64.b64encode(data).decode("ascii")}


# Design decision: a line is written with one write() on the stream's
# descriptor, not through the text stream's layers.  Each line is flushed as
# it happens (SPEC), so the stream's buffers only ever hold the one line:
# TextIOWrapper.write then flush (encode, the text layer's pending list, the
# buffered layer, its flush) cost a fast probe some 2 us of its ~50 for the
# same single write() (bench/probes.py).  The bytes are the stream's own
# (its encoding and error handler); whatever the stream held is flushed
# first, and a stream with no descriptor (a test's StringIO) is written as
# before.  A write() cut short (a signal, a full pipe's partial write), or
# refused (EAGAIN: stdout inherited non-blocking, and full) is finished by
# ``write_all``, which waits for the reader (``netprobe.stdio`` says why).

def _direct(stream: TextIO) -> tuple[int, str, str] | None:
    """(descriptor, encoding, errors) to write ``stream``'s bytes with, or None."""
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd, stream.encoding or "utf-8", stream.errors or "strict"


class JsonLines(Renderer):
    """A renderer that writes JSON Lines; safe to call from several threads."""

    def __init__(self, stream: TextIO | None = None, clock: Clock = monotonic,
                 start: float = PROCESS_START, *, syscalls: bool = False,
                 verbose: int = 0) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock
        self.start = start
        # threading.Lock itself, without importing threading (4 M instructions).
        self._lock = allocate_lock()
        #: Per stream (listen's client id, None for connect): a held UTF-8 tail
        #: and the ``client`` fields to write it with.
        self._held: dict[object, tuple[bytes, Fields | None]] = {}
        #: --syscalls: `syscall` events are written (recv/send one by one only with -v).
        self.syscalls = syscalls
        self.verbose = verbose
        self._data: DataSummary | None = None
        #: ``probe`` lines by template (``jsontext``): one a probe, 100 000 in a long run.
        self._probes = ProbeLines()
        #: The stream's descriptor and encoding when it has one (see ``_put``).
        self._direct = _direct(self.stream)

    def __call__(self, event: str, fields: Event) -> None:
        if event == "probe":
            # The line a probe run writes per probe: its template, at once.
            self._write_probe(fields)
            return
        if event not in PUBLISHED:
            return
        if event == "syscall" and not self._syscall(fields):
            return
        if event == "syscall_summary" and not self.syscalls:
            return
        if event == "closed" and self._held:
            # What was held of the stream comes before the stream's end.
            client = fields.get("client")
            self._release(client["id"] if isinstance(client, dict) else None)
        self._write(event, fields)

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        if not datagram:
            key = client["id"] if client is not None else None
            held = self._held.pop(key, None)
            if held is not None:
                data = held[0] + data
            data, tail = split_utf8(data)
            if tail:
                self._held[key] = (tail, client)
            if not data:
                return
        fields: Fields = {"client": client} if client is not None else {}
        fields.update(data_fields(data))
        if echoed is not None:
            fields["echoed"] = echoed
        self._write("data", fields)

    def close(self) -> None:
        for key in list(self._held):
            self._release(key)

    def _release(self, key: object) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            tail, client = held
            self._write("data", {**({"client": client} if client is not None else {}),
                                 **data_fields(tail)})

    def _write(self, event: str, fields: Event) -> None:
        with self._lock:
            # ``t`` is taken under the lock: events from several threads
            # (check's workers) are written in the order of their ``t``.
            t = round(self.clock() - self.start, 6)
            self._put(inert(_encode({"event": event, "t": t, **fields}) + "\n"))

    def _write_probe(self, fields: Event) -> None:
        """A ``probe`` line, by template (``jsontext.ProbeLines``) where it applies."""
        with self._lock:
            seconds = self.clock() - self.start
            line = self._probes.line(fields, seconds)
            if line is None:
                line = inert(_encode({"event": "probe", "t": round(seconds, 6), **fields})
                             + "\n")
            self._put(line)

    def _put(self, line: str) -> None:
        try:
            if self._direct is None:
                self.stream.write(line)
                self.stream.flush()
                return
            fd, encoding, errors = self._direct
            data = line.encode(encoding, errors)
            try:
                written = os.write(fd, data)
            except BlockingIOError:  # inherited non-blocking, and full (netprobe.stdio)
                written = 0
            if written < len(data):  # cut short: the rest, without copies
                write_all(fd, memoryview(data)[written:])
        except BrokenPipeError:
            raise StdoutClosed() from None

    def wants(self, event: str) -> bool:
        if event in ("syscall", "syscall_summary"):
            return self.syscalls
        return True

    def _syscall(self, fields: Event) -> bool:
        """Whether to write this `syscall` event; sums recv/send up unless -v."""
        if not self.syscalls:
            return False
        if self.verbose:
            return True
        # --syscalls only: the strace notation's module (and struct) are not on a
        # plain --json start-up.
        from netprobe.render.syscalls import DATA_CALLS, DataSummary

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
