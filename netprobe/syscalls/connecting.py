"""connect() with a time limit, made call by call so that --syscalls shows each.

Its own room beside the wrappers (``netprobe.syscalls``), which it makes its
calls through: the sequence, and why it is this one, is the design decision
below.
"""

from __future__ import annotations

import errno as errno_module
import math
import select
import socket

from netprobe.events import Trace
from netprobe.syscalls import (
    poll_unreported,
    shown,
    sys_connect_ex,
    sys_getsockopt,
    sys_poll,
    sys_setblocking,
)

TYPE_CHECKING = False  # typing is not imported at run time (netprobe.record says why)
if TYPE_CHECKING:
    from typing import Any

# Design decision: how a connect with a time limit learns its outcome.
#
# The textbook (and CPython's own ``sock.connect`` with a timeout) makes
# three calls: a non-blocking connect() = EINPROGRESS, poll() for
# writability, then getsockopt(SO_ERROR) for the verdict.  netprobe asks
# first with a second connect(), which POSIX defines on a socket whose
# connect is under way: EALREADY while it still is; on Linux 0 once the
# handshake is done (EISCONN elsewhere, taken as the same); the error
# (ECONNREFUSED...) once it failed, which the call also clears as
# getsockopt(SO_ERROR) would.  When the peer is on this host the kernel
# has processed the answer to the SYN before the first connect() returns
# (the SYN-ACK or RST waits in the socket's backlog, handled as the call
# releases the socket), so the second call is the verdict: two calls, not
# three.  Only when it says EALREADY (a remote peer: the answer is a
# round trip away) do poll() and getsockopt(SO_ERROR) follow, exactly as
# before; a run of loopback probes makes one call fewer a probe, and
# every call, the second connect() too, is shown by --syscalls.
# Rejected: getsockopt(SO_ERROR) alone (0 both while in progress and when
# connected); getpeername() (tells connected, not why it failed); a poll()
# with a zero timeout (two calls on the slow path where this adds one).
#
# Design decision: a socket made non-blocking at socket() (SOCK_NONBLOCK,
# Linux 2.6.27+) needs no ioctl(FIONBIO): the attempt's socket is made so
# when it has a time limit (``open_candidate``), and ``sys_setblocking``
# makes the ioctl only for a socket that is still blocking (Python keeps
# the mode, so asking costs no call).

#: connect() again on a connect under way: still under way, or done (EISCONN).
_UNDER_WAY = (errno_module.EALREADY, errno_module.EINPROGRESS, errno_module.EAGAIN)


def connect_with_timeout(trace: Trace, sock: socket.socket, address: Any,
                         timeout: float | None) -> int:
    """connect() with a time limit: non-blocking connect() = EINPROGRESS, a second
    connect() for the outcome, and only while that says EALREADY, poll() for
    writability then getsockopt(SO_ERROR); each call reported (see above).

    Returns the errno (0 when connected, ETIMEDOUT when poll ran out of
    time).  The socket is left non-blocking; the caller decides what it
    needs next.  Without a timeout it is one blocking connect().
    """
    if timeout is None or math.isinf(timeout):
        return sys_connect_ex(trace, sock, address)
    if not shown(trace):
        # The same calls, asked about once rather than at each (a probe's path).
        if sock.gettimeout() != 0.0:  # as sys_setblocking does: no call when it is
            sock.setblocking(False)
        number = sock.connect_ex(address)
        if number not in (errno_module.EINPROGRESS, errno_module.EAGAIN):
            return number
        number = sock.connect_ex(address)
        if number not in _UNDER_WAY:
            return 0 if number == errno_module.EISCONN else number
        if not poll_unreported(sock, select.POLLOUT, timeout):
            return errno_module.ETIMEDOUT
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    sys_setblocking(trace, sock, False)
    number = sys_connect_ex(trace, sock, address)
    if number not in (errno_module.EINPROGRESS, errno_module.EAGAIN):
        return number
    number = sys_connect_ex(trace, sock, address)
    if number not in _UNDER_WAY:
        return 0 if number == errno_module.EISCONN else number
    if not sys_poll(trace, sock, select.POLLOUT, timeout):
        return errno_module.ETIMEDOUT
    return sys_getsockopt(trace, sock, socket.SOL_SOCKET, socket.SO_ERROR)
