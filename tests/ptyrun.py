"""Run netprobe with stdout and stderr on a pseudo-terminal, as a person at a terminal sees it.

``PtyRun`` starts ``python -m netprobe ARGS`` (optionally behind a prefix
such as ``nsenter``) with stdout and stderr on the slave side of a fresh pty
and collects every byte written to it from the master side, in a thread, so
that a test can wait for "listening on" before it sends anything.

The pty's output processing (OPOST: newline to CR LF) is switched off, so
the bytes collected are exactly the bytes netprobe wrote: a CR in them was
written by netprobe, not added by the line discipline.  The window is given
a size (rich asks for it) wide enough that nothing wraps.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from tests.helpers import NETPROBE, child_env


class PtyRun:
    """``netprobe ARGS`` on a pty; ``output`` is everything it wrote to stdout and stderr."""

    def __init__(self, *args: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None,
                 stdin: int | IO[Any] | None = subprocess.DEVNULL, columns: int = 200,
                 rows: int = 50) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        attributes = termios.tcgetattr(slave)
        attributes[1] &= ~termios.OPOST  # oflag: write what was written, no CR added
        termios.tcsetattr(slave, termios.TCSANOW, attributes)
        self.master = master
        self._buffer = bytearray()
        self._changed = threading.Condition()
        self._eof = False
        try:
            self.proc = subprocess.Popen(
                [*prefix, *NETPROBE, *args], stdin=stdin, stdout=slave, stderr=slave,
                env=child_env({"COLUMNS": str(columns), "LINES": str(rows), **(env or {})}),
                start_new_session=True,  # not our controlling terminal: no SIGHUP games
            )
        finally:
            os.close(slave)  # only the child holds it now: its exit ends the reads
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                chunk = b""
            with self._changed:
                if not chunk:
                    self._eof = True
                    self._changed.notify_all()
                    return
                self._buffer += chunk
                self._changed.notify_all()

    @property
    def output(self) -> bytes:
        with self._changed:
            return bytes(self._buffer)

    def wait_for(self, needle: bytes, timeout: float = 30) -> bytes:
        """Wait until ``needle`` has been written; the output so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while needle not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"{needle!r} never written; got {bytes(self._buffer)!r}")
                self._changed.wait(left)
            return bytes(self._buffer)

    def wait(self, timeout: float = 60) -> tuple[int, bytes]:
        """Wait for the exit and for every byte written: (status, output)."""
        status = self.proc.wait(timeout)
        deadline = time.monotonic() + 10
        with self._changed:
            while not self._eof and time.monotonic() < deadline:
                self._changed.wait(0.1)
        return status, self.output

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        os.close(self.master)

    def __enter__(self) -> PtyRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
