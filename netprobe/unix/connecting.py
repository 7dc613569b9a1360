"""connect() on a Unix socket with a time limit: the kernel waits, not poll().

Design decision: a blocking connect() under SO_SNDTIMEO, not the TCP way.
A non-blocking connect() to a Unix listener never says EINPROGRESS: it
connects at once or fails at once, and when the listener's accept queue is
full it fails with EAGAIN and leaves the socket unconnected, yet poll()
then reports it writable and SO_ERROR is 0, so the TCP recipe (connect,
poll, getsockopt) would call it connected.  A blocking connect() waits in
the kernel until the queue has room (unix_wait_for_peer), for as long as
SO_SNDTIMEO allows, and then fails with EAGAIN: one call, exactly what
every blocking client sees, and a full queue becomes a timeout (exit 5)
whose cause the diagnosis names (``queue-full``).  Rejected: retrying a
non-blocking connect every few milliseconds (a stream of calls in
``--syscalls``, and a client that loses every race for a freed slot).
"""

from __future__ import annotations

import errno as errno_module
import math
import socket
import struct

from netprobe.events import Trace
from netprobe.syscalls import now, report, sys_bind, sys_connect_ex

_TIMEVAL = struct.Struct("ll")


def set_send_timeout(trace: Trace, sock: socket.socket, seconds: float) -> None:
    """setsockopt(SO_SNDTIMEO): how long a blocking connect() may wait for the queue."""
    # At least a microsecond: a zero timeval would mean "wait for ever".
    whole, micros = divmod(max(round(seconds * 1e6), 1), 1_000_000)
    fd = sock.fileno()
    args = {"sockfd": fd, "level": "SOL_SOCKET", "optname": "SO_SNDTIMEO",
            "optval": {"tv_sec": whole, "tv_usec": micros}, "optlen": _TIMEVAL.size}
    started = now()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _TIMEVAL.pack(whole, micros))
    except OSError as exc:
        report(trace, "setsockopt", args, -1, exc.errno, started, fd)
        raise
    report(trace, "setsockopt", args, 0, None, started, fd)


def connect_unix(trace: Trace, sock: socket.socket, address: str,
                 timeout: float | None) -> int:
    """connect() that waits at most ``timeout`` for a full queue; the errno (0: connected).

    EAGAIN after the wait is returned as ETIMEDOUT: the attempt timed out
    (``--syscalls`` still shows the kernel's EAGAIN).
    """
    if sock.type == socket.SOCK_DGRAM:
        # Autobind (bind with only sa_family): the kernel gives the socket an
        # abstract name, so that the server has an address to answer to; an
        # unnamed datagram socket can send but never be answered.
        try:
            sys_bind(trace, sock, "")
        except OSError as exc:
            return exc.errno or errno_module.EINVAL
    if timeout is not None and not math.isinf(timeout):
        set_send_timeout(trace, sock, max(timeout, 0.0))
    number = sys_connect_ex(trace, sock, address)
    if number == errno_module.EAGAIN:
        return errno_module.ETIMEDOUT
    return number
