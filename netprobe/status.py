"""The exit statuses netprobe promises (SPEC, "Exit status").

One enum and the one table from exceptions to it (``status_for``), read in
one place: ``netprobe.cli.failed`` turns exceptions into these;
``netprobe.startup.exit_with`` ends the process with one, and nothing else
in the package calls ``sys.exit``.  A command that succeeds never imports
this module (the enum's class is some 1.2 M instructions of start-up).
"""

from __future__ import annotations

import sys
from enum import IntEnum

from netprobe.errors import (
    AllCandidatesFailed,
    CheckFailed,
    InvalidInput,
    ResolutionFailed,
    StdoutClosed,
    TargetsFailed,
    TimedOut,
    TlsFailed,
)
from netprobe.startup import STDOUT_CLOSED


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
    STDOUT_CLOSED = STDOUT_CLOSED


#: The one table from exceptions to exit statuses (SPEC, "Exit status").
#: Order matters: the first matching class wins.
EXIT_STATUS: tuple[tuple[type[BaseException], ExitStatus], ...] = (
    (InvalidInput, ExitStatus.USAGE),
    (ResolutionFailed, ExitStatus.RESOLUTION_FAILED),
    (AllCandidatesFailed, ExitStatus.CONNECT_FAILED),
    (TimedOut, ExitStatus.TIMED_OUT),
    (CheckFailed, ExitStatus.CHECK_FAILED),
    (TlsFailed, ExitStatus.TLS_FAILED),
    (KeyboardInterrupt, ExitStatus.INTERRUPTED),
    (StdoutClosed, ExitStatus.STDOUT_CLOSED),
)


def _click_rows() -> tuple[tuple[type[BaseException], ExitStatus], ...]:
    """The table's rows for click's exceptions: usage errors are 2, click's Abort (Ctrl-C
    while click parsed) 130.  Read from click only once it is imported: an exception
    of click's means click ran, and a command line read without click (netprobe.quick)
    must not import it to learn that its error is not one of them."""
    click = sys.modules.get("click")
    if click is None:
        return ()
    return ((click.UsageError, ExitStatus.USAGE), (click.ClickException, ExitStatus.USAGE),
            (click.Abort, ExitStatus.INTERRUPTED))


def status_for(exc: BaseException) -> ExitStatus:
    """The exit status an exception means (``check`` also uses it for each target)."""
    if isinstance(exc, TargetsFailed):
        exc = exc.first  # check: the status of the first failing target
    for kind, status in (*EXIT_STATUS, *_click_rows()):
        if isinstance(exc, kind):
            return status
    return ExitStatus.INTERNAL_ERROR

