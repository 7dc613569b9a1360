"""``listen unix:PATH --udp``: a Unix datagram socket served from the loop's reader callback.

Design decision: recvfrom/sendto on the socket itself, not the loop's
datagram transport.  Both loops' transports were tried and fail on AF_UNIX
in ways a server cannot work around: uvloop (libuv) hands an abstract
sender's name padded with NULs to sun_path's full length and then cannot
send to it, even trimmed; asyncio passes an unnamed sender as None and its
sendto(None) kills the transport.  A reader callback (``add_reader``, which
both loops have) that reads until EAGAIN and answers with a non-blocking
sendto is a dozen lines and behaves the same on both.  An echo the socket
cannot take at once (the sender's queue is full: EAGAIN) or whose sender
has gone (ECONNREFUSED) is dropped, as a UDP echo would be; an unnamed
sender (a client that never bound) cannot be answered at all, and the
datagram is reported as not echoed.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from netprobe.errors import errno_name

if TYPE_CHECKING:
    from netprobe.serve.owner import DatagramOwner

#: The largest datagram read whole (Linux's default socket buffers hold ~208 KiB).
MAX_DATAGRAM = 256 * 1024
#: Datagrams read per wake-up before the loop gets a turn (others stay queued).
BATCH = 64


class UnixDatagrams(asyncio.BaseTransport):
    """The server's endpoint for one Unix datagram socket (closed by the server's stop)."""

    def __init__(self, owner: DatagramOwner, sock: socket.socket,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.owner = owner
        self.sock = sock
        self.loop = loop
        self.fd = sock.fileno()
        self.closing = False
        loop.add_reader(self.fd, self._readable)
        owner.add_endpoint(self)

    def _readable(self) -> None:
        for _ in range(BATCH):
            if self.closing:
                return
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as exc:
                self.owner.emit("datagram_error", {"errno": errno_name(exc.errno),
                                                   "message": str(exc)})
                return
            self.owner.took_datagram(data, sender, echoed=self._echo(data, sender))

    def _echo(self, data: bytes, sender: Any) -> bool:
        if not self.owner.echo or not sender:
            return False
        try:
            self.sock.sendto(data, sender)
        except OSError:
            return False
        return True

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.loop.remove_reader(self.fd)

    def is_closing(self) -> bool:
        return self.closing


def serve_datagrams(owner: DatagramOwner, sock: socket.socket,
                    loop: asyncio.AbstractEventLoop) -> None:
    """Serve ``sock`` (bound, non-blocking) until the server stops."""
    UnixDatagrams(owner, sock, loop)
