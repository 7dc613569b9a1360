"""Start-up without the cyclic garbage collector, until the renderer exists.

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
