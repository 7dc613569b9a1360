"""The exit statuses netprobe promises (SPEC, "Exit status").

One enum, read in one place: ``netprobe.cli.run`` turns exceptions into
these; ``exit_with`` ends the process with one, and nothing else in the
package calls ``sys.exit``.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum
from typing import NoReturn


class ExitStatus(IntEnum):
    SUCCESS = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    RESOLUTION_FAILED = 3
    CONNECT_FAILED = 4
    TIMED_OUT = 5
    CHECK_FAILED = 6
    TLS_FAILED = 7
    INTERRUPTED = 130
    # 128 + SIGPIPE: what a shell reports for a tool killed by SIGPIPE.
    STDOUT_CLOSED = 141


def silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_with(status: int) -> NoReturn:
    """The end of a command: stdout flushed (a reader gone by now is 141), then exit."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        silence_stdout()
        status = ExitStatus.STDOUT_CLOSED if status == ExitStatus.SUCCESS else status
    sys.exit(int(status))
