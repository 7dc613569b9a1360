"""One TCP client (``Connection``): echo or payload, backpressure, coalescing, idle timeout.

``data_received`` is the server's hot path: one Python call per chunk read.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import sys
import termios
import time
from typing import TYPE_CHECKING, cast

from netprobe.errors import errno_name
from netprobe.events import Fields
from netprobe.syscalls import sys_setsockopt

if TYPE_CHECKING:
    from netprobe.serve.owner import StreamOwner

# Design decision: the backpressure high-water mark.
#
# A client that sends but never reads must not make the server buffer its
# echo without limit.  The transport's write buffer is capped: above HIGH
# bytes unsent the protocol stops reading from that client (pause_reading),
# below LOW it reads again.  TCP flow control then pushes back on the client
# through the kernel's socket buffers, which are not the server's memory.
# The bound per client is HIGH plus one read (256 KiB in both loops), so
# 1024 such clients cost at most ~0.5 GiB; the 50 MiB test client costs
# well under 1 MiB.  256 KiB keeps a fast client's throughput (smaller marks
# pause and resume every few chunks: about 10% slower at 64 KiB).
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024

# Design decision: Nagle's algorithm back on for echoed small-write streams.
#
# asyncio and uvloop set TCP_NODELAY on every accepted socket.  For an echo
# of many small writes (100-byte lines) that turns every read into its own
# tiny segment back, the client then reads 100 bytes at a time too, and both
# sides settle into one system call per line: 30-70 MB/s on loopback.  With
# Nagle on (the socket default, and what the textbook C server runs with)
# echoes sent while earlier ones are unacknowledged are coalesced: 90-120
# MB/s, and no change for one-line-per-round-trip clients, whose echo always
# leaves at once.  The cost is the classic one: a client that writes twice
# and then waits may see its second echo after the first ACK.  So it is only
# switched on for a connection where a stream of small writes was detected
# (see "coalescing" below): round-trip clients keep TCP_NODELAY, and no
# connection pays a setsockopt() it does not need.

# Design decision: coalescing streams of small writes.
#
# A client that pipelines small writes (100-byte lines, sent as fast as it
# can) meets a server that reads each one as it lands: every send() of the
# client then goes out as its own segment and wakes the server, the client
# burns its CPU in the kernel (~4 us a line) and the transfer crawls at
# 25-50 MB/s however lean the server is.  The textbook C server is faster
# there (~150 MB/s) only because it drains slowly: its receive window fills,
# the client's writes pile up into large segments and both sides move big
# chunks.  So when a connection delivers COALESCE_RUN quick small reads
# (each under COALESCE_SMALL bytes, within COALESCE_GAP of the last) found
# more data already queued behind them (FIONREAD, asked only after such a
# read and before its echo is written), the server stops reading it for
# COALESCE_PAUSE.  Round-trip clients (a line, then wait for its echo) never
# qualify, however short their round trip: until the echo is written they
# cannot have sent more.  Tried and rejected: a time threshold alone (on
# loopback a C ping-pong client's round trips, 13-70 us apart, overlap the
# 2-30 us gaps of a pipelining one: it was paused every 8 round trips) and
# asking FIONREAD after the echo is written (a fast client has often
# answered by then).  A pipelining
# client pays at most COALESCE_PAUSE once per run.
# Rejected: SO_RCVLOWAT (a client waiting for the echo of a short line would
# never wake the server) and a smaller SO_RCVBUF (caps bulk throughput).
# Measured (bench/echo.py, lines): a 1 ms pause is too short to fill the
# window reliably (45-180 MB/s), 2 ms gives 160-190 MB/s on both loops, longer
# pauses add latency for little more; runs of 4 or 8 reads behave alike and
# 8 is the more conservative trigger.
COALESCE_SMALL = 2048
COALESCE_GAP = 0.0002
COALESCE_RUN = 8
COALESCE_PAUSE = 0.002

_monotonic = time.monotonic
_FOUR_ZEROS = bytes(4)


class Connection(asyncio.Protocol):
    """One TCP client.  Kept lean: data_received is the hot path."""

    __slots__ = ("_paused", "began", "bytes_in", "client", "coalescing", "fd", "held", "held_eof",
                 "holding", "last", "listen_fd", "reason", "server", "small_run", "start",
                 "streaming", "timer", "transport", "unsent")

    def __init__(self, server: StreamOwner[Connection], listen_fd: int = -1) -> None:
        self.server = server
        #: The listening socket that accepted it (for --syscalls' accept4 line).
        self.listen_fd = listen_fd
        self.transport: asyncio.Transport | None = None
        self.client: Fields = {}
        self.bytes_in = 0
        self.unsent = 0
        self.start = 0.0
        self.last = 0.0
        self.reason: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self._paused = False
        # Not served yet (--iterative queue, --names lookup): what arrives is
        # held, and reading is paused, so at most one read is held.
        self.holding = False
        self.held: list[bytes] = []
        self.held_eof = False
        #: Its `accepted` event was emitted.
        self.began = False
        # Small-write streams (see COALESCE_*): consecutive quick small reads.
        self.small_run = 0
        self.coalescing = False
        self.streaming = False
        self.fd = -1

    # --- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)
        self.server.admit(self)

    def data_received(self, data: bytes) -> None:
        if self.holding:
            # uvloop starts reading after connection_made, so a pause made
            # there does not stop the first read: hold it and pause again.
            self.held.append(data)
            assert self.transport is not None  # set by connection_made, before any data
            self.transport.pause_reading()
            return
        size = len(data)
        self.bytes_in += size
        now = _monotonic()
        if size < COALESCE_SMALL and now - self.last < COALESCE_GAP:
            # A quick small read: is the client pipelining?  Only if more
            # data is already queued behind this chunk, asked before its
            # echo is written: a client waiting for its echo cannot have sent
            # the next message yet, however short its round trip.
            if self._queued() > 0:
                self.small_run += 1
                if self.small_run >= COALESCE_RUN:
                    self._coalesce()
        else:
            self.small_run = 0
        self.last = now
        if self.server.echo:
            transport = self.transport
            assert transport is not None
            transport.write(data)
        else:
            self.server.deliver(data, client=self.client)

    def _queued(self) -> int:
        """Bytes waiting in the socket's receive queue (FIONREAD), 0 if unknown."""
        if self.fd < 0:
            assert self.transport is not None
            sock = self.transport.get_extra_info("socket")
            self.fd = sock.fileno() if sock is not None else -1
            if self.fd < 0:
                return 0
        try:
            return int.from_bytes(fcntl.ioctl(self.fd, termios.FIONREAD, _FOUR_ZEROS),
                                  sys.byteorder)
        except OSError:
            return 0

    def _coalesce(self) -> None:
        transport = self.transport
        assert transport is not None
        self.small_run = 0
        if not self.streaming:
            # First small-write stream on this connection: say so (-v), and
            # let the echo's small writes coalesce too (see "Nagle's
            # algorithm" above).
            self.streaming = True
            self.server.emit("coalescing", {"client": self.client,
                                            "pause_ms": COALESCE_PAUSE * 1000})
            sock = transport.get_extra_info("socket")
            if sock is not None and self.server.echo and sock.family != socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    sys_setsockopt(self.server.trace, sock, socket.IPPROTO_TCP,
                                   socket.TCP_NODELAY, 0)
        self.coalescing = True
        transport.pause_reading()
        self.server.loop.call_later(COALESCE_PAUSE, self._end_coalesce)

    def _end_coalesce(self) -> None:
        self.coalescing = False
        self.resume()

    def resume(self) -> None:
        """Read again unless something else still wants reading paused."""
        transport = self.transport
        if (transport is not None and not transport.is_closing() and not self._paused
                and not self.holding and not self.coalescing):
            transport.resume_reading()

    def hold(self) -> None:
        self.holding = True
        assert self.transport is not None
        self.transport.pause_reading()

    def release_held(self) -> None:
        """Serve what was held, then read again (unless the echo is backed up)."""
        self.holding = False
        held, self.held = self.held, []
        for data in held:
            self.data_received(data)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.held_eof:
            self.reason = self.reason or "eof"
            transport.close()  # flushes the echo first
        else:
            self.resume()

    def eof_received(self) -> bool | None:
        if self.holding:
            # EOF before the client was served: keep the transport open so
            # its held data is still echoed when its turn comes.
            self.held_eof = True
            return True
        # The client half-closed.  Returning None makes the transport close,
        # and close() first sends everything still buffered: the client
        # gets the rest of its echo, then the server's FIN.
        self.reason = self.reason or "eof"
        return None

    def pause_writing(self) -> None:
        self._paused = True
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        self.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if exc is not None and self.reason in (None, "eof", "stopped"):
            self.reason = (errno_name(exc.errno) if isinstance(exc, OSError) else None) or str(exc)
        self.server.release(self)

    # --- server side ---------------------------------------------------------------

    def pending(self) -> int:
        transport = self.transport
        if transport is None:
            return 0
        try:
            return transport.get_write_buffer_size()
        except Exception:  # a closed uvloop transport may refuse
            return 0

    def arm_idle(self, timeout: float) -> None:
        self.last = _monotonic()
        self.timer = self.server.loop.call_later(timeout, self._idle_check, timeout)

    def _idle_check(self, timeout: float) -> None:
        # One timer per client, re-armed for the remaining time rather than
        # reset on every chunk: the hot path only stores a timestamp.
        idle = _monotonic() - self.last
        if idle < timeout:
            self.timer = self.server.loop.call_later(timeout - idle, self._idle_check, timeout)
            return
        self.timer = None
        self.cut("idle-timeout")

    def cut(self, reason: str) -> None:
        """Close at once, dropping what is unsent (it is counted as not sent)."""
        # "eof" too: a client that half-closed and is cut while its echo still
        # drains did not leave by its EOF; the closed line must say what cut it.
        if self.reason in (None, "stopped", "eof"):
            self.reason = reason
        self.unsent = self.pending()
        if self.transport is not None:
            self.transport.abort()
