"""Start-up without the cyclic garbage collector, until the renderer exists; and the exit.

Design decision: the collector is paused while netprobe starts.

Starting ``netprobe resolve localhost`` imports click, netprobe's own modules
and (for people) rich: some tens of thousands of new objects, every one of
them a module, class, function or constant that lives as long as the
process.  CPython's collector runs a young-generation pass every 700 new
container objects and now and then a full one over everything so far, so
start-up spends about 5% of its instructions (valgrind's count, click plus
rich) searching those objects for cycles that cannot be there.  The
``netprobe`` script and ``python -m netprobe`` therefore start with the
collector off (``pause``); ``netprobe.render.make_trace`` calls ``resume``
once the renderer is built, which is the last import a command makes before
its real work.  ``resume`` first freezes what exists (``gc.freeze``: moved
to a generation the collector never scans), so a long-running command
(``listen``, ``connect``) collects as usual but never walks the start-up
objects again.

Only the entry points pause: importing netprobe as a library (the tests do)
leaves the collector alone, and ``resume`` does nothing unless ``pause`` did
something.  Rejected: a raised threshold (``gc.set_threshold``) for the
whole run, which would change how a server collects, not just how it starts.
"""

from __future__ import annotations

import gc
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

_paused = False


def pause() -> None:
    """Turn the collector off for start-up (a no-op if it already is off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Start-up is over: freeze the objects made so far and collect again."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def standard_outputs() -> None:
    """Make a stdout or stderr that started closed (``>&-``, ``2>&-``) /dev/null.

    Design decision: as glibc does for set-user-ID programs.  Python starts
    such a process with ``sys.stdout`` / ``sys.stderr`` None, which every
    renderer and the error line would write to (a traceback, or exit 1 in
    place of the command's status), and the first socket would take the
    free descriptor.  The trace (or results) the caller threw away are
    written nowhere; the exit status is the command's.  (A closed stdin is
    connect's and check's own case: netprobe.connect.data.usable_stdin.)
    """
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        setattr(sys, name, open(fd, "w", encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                                closefd=False))


# --- the exit ------------------------------------------------------------------------
# Here, not beside the exit statuses (netprobe.status): a command that succeeds
# then ends without importing that module and building its enum.

#: 128 + SIGPIPE: the status of a command whose reader went away
#: (``netprobe.status.ExitStatus.STDOUT_CLOSED`` is this).
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
        status = STDOUT_CLOSED if status == 0 else status
    sys.exit(int(status))
