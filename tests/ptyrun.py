"""Run netprobe with stdout and stderr on a pseudo-terminal, as a person at a terminal sees it.

``PtyRun`` starts ``python -m netprobe ARGS`` (optionally behind a prefix
such as ``nsenter``) with stdout and stderr on the slave side of a fresh pty
and collects every byte written to it from the master side, in a thread, so
that a test can wait for "listening on" before it sends anything.  With
``split=True`` stderr gets a pty of its own (``errors``): rich draws its
live status line on stderr with cursor controls of its own, which must not
be mistaken for (or hide) anything the peer sent to stdout.

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


class _Terminal:
    """One pty: the slave for the child, the master read by a thread into ``data``."""

    def __init__(self, columns: int, rows: int) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        attributes = termios.tcgetattr(self.slave)
        attributes[1] &= ~termios.OPOST  # oflag: deliver what was written, no CR added
        termios.tcsetattr(self.slave, termios.TCSANOW, attributes)
        self.data = bytearray()
        self.eof = False
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        os.close(self.slave)  # only the child holds it now: its exit ends the reads
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                chunk = b""
            with self.changed:
                if chunk:
                    self.data += chunk
                else:
                    self.eof = True
                self.changed.notify_all()
            if not chunk:
                return

    def wait_for(self, needle: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self.changed:
            while needle not in self.data:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"{needle!r} never written; got {bytes(self.data)!r}")
                self.changed.wait(left)
            return bytes(self.data)

    def drain(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not self.eof and time.monotonic() < deadline:
                self.changed.wait(0.1)
            return bytes(self.data)

    def close(self) -> None:
        self.reader.join(5)
        os.close(self.master)


class PtyRun:
    """``netprobe ARGS`` on a pty; ``output`` is what it wrote (stdout, and stderr unless split)."""

    def __init__(self, *args: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None,
                 stdin: int | IO[Any] | None = subprocess.DEVNULL, split: bool = False,
                 columns: int = 200, rows: int = 50) -> None:
        self.out = _Terminal(columns, rows)
        self.err = _Terminal(columns, rows) if split else self.out
        try:
            self.proc = subprocess.Popen(
                [*prefix, *NETPROBE, *args], stdin=stdin, stdout=self.out.slave,
                stderr=self.err.slave,
                env=child_env({"COLUMNS": str(columns), "LINES": str(rows), **(env or {})}),
                start_new_session=True,  # not our controlling terminal: no SIGHUP games
            )
        finally:
            for terminal in {id(t): t for t in (self.out, self.err)}.values():
                terminal.start()

    @property
    def output(self) -> bytes:
        """Everything written to the (stdout) pty so far."""
        with self.out.changed:
            return bytes(self.out.data)

    @property
    def errors(self) -> bytes:
        """Everything written to stderr's pty so far (``output`` unless split)."""
        with self.err.changed:
            return bytes(self.err.data)

    def wait_for(self, needle: bytes, timeout: float = 30, *, stderr: bool = False) -> bytes:
        """Wait until ``needle`` has been written (to stderr's pty if asked)."""
        return (self.err if stderr else self.out).wait_for(needle, timeout)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the exit and for every byte written; the exit status."""
        status = self.proc.wait(timeout)
        self.out.drain(10)
        self.err.drain(10)
        return status

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        if self.err is not self.out:
            self.err.close()

    def __enter__(self) -> PtyRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
