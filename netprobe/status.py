"""The exit statuses netprobe promises (SPEC, "Exit status").

One enum, read in one place: ``netprobe.cli.run`` turns exceptions into
these.  Nothing else in the package calls ``sys.exit``.
"""

from __future__ import annotations

from enum import IntEnum


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
