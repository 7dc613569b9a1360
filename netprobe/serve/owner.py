"""What a client's protocol may ask of the server that owns it, as Protocols.

Design decision: the children see the ``Server`` through these, not its class.

``Connection`` (stream.py), ``Datagrams`` (datagrams.py) and the loop's
call reports (loopcalls.py) are made by the ``Server`` and call back into
it; typed against the class itself, each needed server.py and server.py
needed each of them: a circle of five files, and nothing said which of the
server's forty attributes a child may touch.  Here is the whole of it: a few
read-only facts (``echo``, ``loop_name``, ...), the server's ways of
reporting (``emit``, ``deliver``) and one method per thing a child tells it
(``admit``, ``release``, ``add_endpoint``, ``took_datagram``).  The counters
(clients, datagrams, bytes, senders) are the server's alone, changed only by
those methods.  This module imports nothing of the server's: a leaf.

``StreamOwner`` is generic in the connection type so that this module need
not name ``Connection`` (stream.py says ``StreamOwner[Connection]``).
Everything here is for the type checker; the children import it under
``TYPE_CHECKING`` only.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, TypeVar

from netprobe.events import Event, Fields, Trace

#: The connection type a StreamOwner admits and releases (contravariant: it only takes them).
ConnectionT = TypeVar("ConnectionT", contravariant=True)


class Owner(Protocol):
    """What every child needs: how to report, and whether the loop's calls are shown."""

    @property
    def loop_name(self) -> str:
        """``uvloop`` or ``asyncio``: which loop made the calls a child reports."""

    @property
    def shows_syscalls(self) -> bool:
        """--syscalls: report the loop's calls (they are made either way)."""

    @property
    def echo(self) -> bool: ...

    def emit(self, event: str, fields: Event) -> None:
        """trace(), with a closed stdout stopping the server instead of unwinding."""


class StreamOwner(Owner, Protocol[ConnectionT]):
    """What a TCP ``Connection`` asks of its server."""

    @property
    def trace(self) -> Trace:
        """For the system calls a connection makes itself (setsockopt)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def admit(self, conn: ConnectionT) -> None:
        """A new connection: serve it, queue it (--iterative) or turn it away."""

    def release(self, conn: ConnectionT) -> None:
        """A connection is gone: account for it, report it, serve the next."""

    def deliver(self, data: bytes, *, client: Fields) -> None:
        """What a client sent, to the payload sink (when not echoed)."""


class DatagramOwner(Owner, Protocol):
    """What the UDP protocol asks of its server."""

    def add_endpoint(self, transport: asyncio.BaseTransport) -> None:
        """A datagram socket is served (closed at once if the server is stopping)."""

    def took_datagram(self, data: bytes, sender: Any, *, echoed: bool) -> None:
        """One datagram arrived (and was echoed or not): count it, report it."""
