"""--names: each client's name by getnameinfo, in a worker thread, before it is served.

getnameinfo blocks (a slow resolver can take seconds), so it runs in a
worker thread; the client is not read until its name is known, so
`accepted` always comes before its `data`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Protocol

from netprobe.events import Event
from netprobe.resolver import getnameinfo
from netprobe.serve.clients import accepted_fields

if TYPE_CHECKING:
    from netprobe.serve.stream import Connection

#: How long a client waits for its name (from its accept on) before it is served
#: with the numeric form.
NAMES_TIMEOUT = 2.0

# Design decision: the name's deadline runs from the client's accept, on the loop.
#
# The lookups share the loop's few worker threads (six on two cores).  With
# the deadline inside the worker only, a client waited for every lookup
# queued before it: behind 30 clients from addresses a silent resolver never
# names, a client from 127.0.0.1 was served after 10 s, behind 300 after
# 100 s, though none of them sent a byte.  Now a loop timer serves each
# client NAMES_TIMEOUT after its accept at the latest, with its numeric
# address, and a lookup whose client was already served (or is gone) is not
# made when its turn comes, so the queue drains at once.


class NamesOwner(Protocol):
    """What the lookups ask of the server (see netprobe.serve.owner for why a Protocol)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def shows_accepted(self) -> bool: ...

    def emit(self, event: str, fields: Event) -> None: ...


def lookup_then_begin(server: NamesOwner, conn: Connection, idle_timeout: float | None) -> None:
    """Hold ``conn``, look its name up, then serve it (``accepted`` first)."""
    conn.hold()
    address, port = str(conn.client["address"]), int(conn.client["port"])

    # The worker's getnameinfo (and the getaddrinfo that parses the
    # address) are reported for --syscalls from the loop's thread, in
    # the callback, so that the trace is only ever called from there.
    calls: list[Event] = []

    def keep(event: str, fields: Event) -> None:
        if event == "syscall":
            calls.append(fields)

    def lookup() -> str:
        if conn.began:  # served with its address already, or gone: no call at all
            return address
        try:
            name: str = getnameinfo(address, str(port), socket.NI_NUMERICSERV,
                                    timeout=NAMES_TIMEOUT, trace=keep).host
            return name
        except Exception:
            return address

    def begin(host: str) -> None:
        if conn.began:
            return  # it left before its name came back (already reported), or timed out
        conn.client["host"] = host
        conn.began = True
        if server.shows_accepted:
            server.emit("accepted", accepted_fields(conn))
        if conn.transport is not None and not conn.transport.is_closing():
            if idle_timeout is not None:
                conn.arm_idle(idle_timeout)
            conn.release_held()

    def looked_up(future: asyncio.Future[str]) -> None:
        deadline.cancel()
        for call in calls:
            server.emit("syscall", dict(call))
        if future.cancelled() or future.exception() is not None:
            begin(address)
        else:
            begin(future.result())

    deadline = server.loop.call_later(NAMES_TIMEOUT, begin, address)
    server.loop.run_in_executor(None, lookup).add_done_callback(looked_up)
