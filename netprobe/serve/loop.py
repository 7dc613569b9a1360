"""The event loop the server runs on: uvloop's, or the standard one."""

from __future__ import annotations

import asyncio
import os

# Design decision: asyncio Protocols (on uvloop when it is importable).
#
# The server has to hold a thousand clients at once and move hundreds of
# MB/s through one of them.  Threads per client cost a stack each and the GIL
# makes them no faster.  A selectors loop would do the same job as asyncio
# but with every recv/send and every readiness check in Python.  asyncio's
# Protocol/Transport API keeps the per-chunk path down to one Python call
# (data_received -> transport.write) and gives flow control (pause_writing /
# pause_reading) for free; StreamReader/StreamWriter were rejected because
# they add a coroutine switch, a buffer copy and a drain() per chunk.  uvloop
# runs the same Protocols with the socket I/O, accept loop and timers in C:
# roughly 1.6x the connection rate and 2x the concurrency of the standard
# loop (bench/echo.py), so it is used when installed (``netprobe[fast]``)
# and the standard loop otherwise.  NETPROBE_LOOP=asyncio forces the
# standard loop (tests run both).


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's loop when importable (and not disabled), else the standard one."""
    if os.environ.get("NETPROBE_LOOP", "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"
