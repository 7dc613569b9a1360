"""The kernel's side: its socket table, who holds each socket, and why an attempt failed.

``netprobe.netlink`` asks the kernel; this package says what the answers
mean, one concern a file:

* ``table``: the socket table as ``netprobe sockets`` shows it (a query of
  protocols, states, a port or a path; each socket as the SPEC's ``socket``
  event);
* ``rows``: one socket as the SPEC's ``socket`` event (its row of values,
  the event made of it);
* ``procs``: inode -> processes, from /proc/PID/fd ("not permitted" where
  this user may not look), read in a thread while the table is dumped;
* ``match``: pure rules on addresses: which listener takes a destination,
  which socket a bind overlaps, what "bound to IPv4 loopback only" means;
* ``snapshot``: one reading of the route, the serving sockets and /proc,
  shared by the failures of one burst;
* ``why``: the ``why`` of a failed attempt (the SPEC's kinds for IP), from
  the socket table, the routing table and /proc/net/netstat;
* ``whybind``: the ``why`` of a failed bind: who holds the port.

Design decision: nothing here runs on the success path.  ``why`` is
imported where a failed attempt or bind is reported, and only then
(``netprobe.connect.attempts``, ``netprobe.serve.listenfd``); the tables are read
at that moment, which is also what makes ``queue-full`` true evidence: the
accept queue is read the instant the connect timed out.  A successful
``connect`` imports nothing of this package (tests/test_why.py).

This module itself stays import-free: ``check`` asks it for a target's
``why`` without loading the rest.
"""

from __future__ import annotations

from typing import Any


def why_of_error(error: BaseException | None) -> Any:
    """The ``why`` of the last failed attempt an error carries (``check``'s per target)."""
    for attempt in reversed(getattr(error, "attempts", None) or []):
        why = getattr(attempt, "why", None)
        if why is not None:
            return why
    return None
