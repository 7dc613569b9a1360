"""``listen``'s serving core: many clients at once, byte-exact, bounded memory.

Given the sockets ``netprobe.serve.listenfd`` bound, serve clients until ``--count``
is reached or SIGINT/SIGTERM arrives, then report a summary.  Like the rest
of the core it never prints: it calls ``trace`` (``accepted``, ``data``,
``closed``, ``stopped``, ...) and the renderer decides what a user sees.

Where things are:

- ``listenfd``: open_listenfd made visible: resolve with AI_PASSIVE, then
  socket, setsockopt, bind and listen on each candidate, each step reported.
- ``config``: ``ServeConfig`` (what ``listen`` asks for) and ``StopSignals``
  (SIGINT/SIGTERM caught before the loop runs).
- ``loop``: the event loop (uvloop, or asyncio with NETPROBE_LOOP=asyncio).
- ``server``: the ``Server``: admission, --max-clients, --iterative,
  --names, --count, stopping and the summary.
- ``stream``: one TCP client (``Connection``): echo, backpressure,
  coalescing of small-write streams, idle timeout.
- ``datagrams``: the UDP protocol (``Datagrams``).
- ``names``: --names, each client's getnameinfo before it is served.
- ``loopcalls``: --syscalls for the calls the event loop makes itself.
- ``clients``: what trace events say about a client.
- ``owner``: what the children (``stream``, ``datagrams``, ``loopcalls``) may
  ask of the ``Server``, as Protocols: they never import ``server``.
"""

from __future__ import annotations

from netprobe.serve.config import ServeConfig, StopSignals
from netprobe.serve.datagrams import Datagrams
from netprobe.serve.loop import new_event_loop
from netprobe.serve.server import Server
from netprobe.serve.stream import Connection

__all__ = ["Connection", "Datagrams", "ServeConfig", "Server", "StopSignals", "new_event_loop"]
