"""stdout and stderr when they were inherited non-blocking: a full pipe is waited for.

Design decision: a write that would block waits, it does not fail.

O_NONBLOCK belongs to the open file description, which a child shares with
whoever opened it: a terminal left non-blocking by a program that crashed,
a CI runner's pipe its own event loop made so, ``ssh`` and some shells in
between.  netprobe then inherits descriptors 1 and 2 non-blocking, and the
first write to a full pipe or a slow terminal (a reader not keeping up
with thousands of probe lines, a ``--syscalls`` trace) fails with EAGAIN:
Python raises BlockingIOError, the line is cut, and the error report itself
fails the same way into a traceback.  ``cat``, ``ping`` and friends block
as the reader expects, so netprobe does too: every write to stdout and
stderr that would block waits in ``select`` until the descriptor is
writable, then goes on where it stopped.

* The descriptors' mode is left as it is.  Clearing O_NONBLOCK would
  change it under the other processes sharing the description (the CI
  runner that chose it), which is theirs, not netprobe's.
* The check is two fcntl() calls at start-up (``wait_when_full``); only
  when a descriptor is non-blocking is its text stream replaced, by one
  over a raw writer that waits (``_WaitingWriter``), with the same
  encoding, error handler and buffering.  Everything that writes through
  ``sys.stdout``/``sys.stderr`` (rich, click, the error line) then waits.
* What writes the descriptor itself (the JSON lines, peer bytes) uses
  ``write_all``, which waits the same way.
"""

from __future__ import annotations

import io
import os
import sys

from netprobe.errors import StdoutClosed

TYPE_CHECKING = False  # typing is not imported at run time (netprobe.record says why)
if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def wait_writable(fd: int) -> None:
    """Until ``fd`` can take more (after EAGAIN on a non-blocking descriptor)."""
    import select  # only once a write would have blocked

    select.select([], [fd], [])


def write_all(fd: int, data: bytes | memoryview) -> None:
    """All of ``data`` to ``fd``, unbuffered, waiting when it is full; a closed reader
    is ``StdoutClosed``."""
    view = memoryview(data)
    try:
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                wait_writable(fd)
    except BrokenPipeError:
        raise StdoutClosed() from None


class _WaitingWriter(io.RawIOBase):
    """A raw writer for a non-blocking descriptor that waits instead of raising EAGAIN.

    It never closes the descriptor: the interpreter's own stream for it does
    (``sys.__stdout__``, kept), at exit.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: ReadableBuffer, /) -> int:
        while True:
            try:
                return os.write(self._fd, data)
            except BlockingIOError:
                wait_writable(self._fd)


def _waiting(stream: io.TextIOWrapper) -> io.TextIOWrapper:
    """A text stream like ``stream`` (its descriptor, encoding, errors, buffering)
    whose writes wait."""
    stream.flush()
    raw = _WaitingWriter(stream.fileno())
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=stream.encoding,
                            errors=stream.errors, line_buffering=stream.line_buffering,
                            write_through=stream.write_through)


def wait_when_full() -> None:
    """At start-up: stdout and stderr made to wait where they were inherited non-blocking."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            fd = stream.fileno()
            if os.get_blocking(fd) or not isinstance(stream, io.TextIOWrapper):
                continue
            setattr(sys, name, _waiting(stream))
        except (AttributeError, OSError, ValueError):
            continue  # no descriptor (closed, or a test's stream): nothing to wait on
