"""``listen``'s serving core: many clients at once, byte-exact, bounded memory.

Given the sockets ``netprobe.listen`` bound, serve clients until ``--count``
is reached or SIGINT/SIGTERM arrives, then report a summary.  Like the rest
of the core it never prints: it calls ``trace`` (``accepted``, ``data``,
``closed``, ``stopped``, ...) and the renderer decides what a user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import sys
import termios
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from netprobe import syscalls
from netprobe.errors import StdoutClosed, errno_name
from netprobe.events import Clock, Event, Fields, PayloadSink, Trace, monotonic, ms, no_payload
from netprobe.limits import raise_fd_limit
from netprobe.listen import Listener
from netprobe.resolver import getnameinfo
from netprobe.syscalls import report_loop_call, sockaddr, sockaddr_len, sys_setsockopt

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

# Design decision: --max-clients accepts the extra client and closes it at once.
#
# Leaving it in the backlog was the alternative, but neither asyncio nor
# uvloop can stop accepting without closing the listening socket, and a client
# parked in the backlog believes it is connected and then hangs (trio's notes
# on backlogs say the same).  Accept-and-close answers it at once with EOF and
# leaves a trace line (an ``accepted`` then a ``closed`` event with reason
# ``max-clients``), so the user sees why.

# Design decision: how long stopping waits.
#
# On SIGINT/SIGTERM clients are closed gracefully (their pending echo is
# flushed first); a client that does not read gets STOP_GRACE seconds, then
# the connection is aborted so a stuck peer cannot keep the server alive.
STOP_GRACE = 1.0

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

SENDERS_REMEMBERED = 65536
_FOUR_ZEROS = bytes(4)

#: How long a --names lookup (getnameinfo) may take before the numeric form is used.
NAMES_TIMEOUT = 2.0


@dataclass
class ServeConfig:
    echo: bool = False
    iterative: bool = False
    max_clients: int = 1024
    idle_timeout: float | None = None
    count: int | None = None
    names: bool = False
    backlog: int = 4096
    #: listen --tls: the server's ssl.SSLContext (netprobe.tls.serving puts TLS under
    #: each Connection); None for plain TCP.
    tls: Any = None


class StopSignals:
    """SIGINT/SIGTERM caught from before binding until the server's loop takes over.

    The ``listening`` event is emitted (and a test or script may signal the
    server) before the event loop runs; a signal in that gap must still mean
    "stop cleanly with a summary", not the default action (death by SIGTERM,
    KeyboardInterrupt for SIGINT).  Signals are recorded here and the server
    stops as soon as it starts.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.caught: list[str] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: leave it alone
                self.previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum: int, frame: object) -> None:
        self.caught.append(signal.Signals(signum).name)

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


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


def _client_fields(client_id: int, peer: Any) -> Fields:
    if isinstance(peer, tuple) and len(peer) >= 2:
        address, port = str(peer[0]), int(peer[1])
    else:
        address, port = str(peer), 0
    # Numeric by default: the address *is* what getnameinfo(NI_NUMERICHOST)
    # would return, so no system call is made for it.
    return {"id": client_id, "address": address, "port": port, "host": address}


def _buffered(transport: asyncio.BaseTransport) -> int:
    """Bytes a transport holds unsent (datagram transports have the method, untyped)."""
    size = getattr(transport, "get_write_buffer_size", None)
    return int(size()) if size is not None else 0


def _accepted(conn: Connection) -> Fields:
    """The ``accepted`` event; with --tls it carries the client's handshake."""
    fields: Fields = {"client": conn.client}
    if conn.transport is not None:
        tls = conn.transport.get_extra_info("netprobe_tls")
        if tls is not None:
            fields["tls"] = tls
    return fields


class Connection(asyncio.Protocol):
    """One TCP client.  Kept lean: data_received is the hot path."""

    __slots__ = ("_paused", "began", "bytes_in", "client", "coalescing", "fd", "held", "held_eof",
                 "holding", "last", "listen_fd", "reason", "server", "small_run", "start",
                 "streaming", "timer", "transport", "unsent")

    def __init__(self, server: Server, listen_fd: int = -1) -> None:
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
            self.transport.pause_reading()  # type: ignore[union-attr]
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
            self.transport.write(data)  # type: ignore[union-attr]
        else:
            self.server.deliver(data, client=self.client)

    def _queued(self) -> int:
        """Bytes waiting in the socket's receive queue (FIONREAD), 0 if unknown."""
        if self.fd < 0:
            sock = self.transport.get_extra_info("socket")  # type: ignore[union-attr]
            self.fd = sock.fileno() if sock is not None else -1
            if self.fd < 0:
                return 0
        try:
            return int.from_bytes(fcntl.ioctl(self.fd, termios.FIONREAD, _FOUR_ZEROS),
                                  sys.byteorder)
        except OSError:
            return 0

    def _coalesce(self) -> None:
        self.small_run = 0
        if not self.streaming:
            # First small-write stream on this connection: say so (-v), and
            # let the echo's small writes coalesce too (see "Nagle's
            # algorithm" above).
            self.streaming = True
            self.server.emit("coalescing", {"client": self.client,
                                            "pause_ms": COALESCE_PAUSE * 1000})
            sock = self.transport.get_extra_info("socket")  # type: ignore[union-attr]
            if sock is not None and self.server.echo:
                with contextlib.suppress(OSError):
                    sys_setsockopt(self.server.trace, sock, socket.IPPROTO_TCP,
                                   socket.TCP_NODELAY, 0)
        self.coalescing = True
        self.transport.pause_reading()  # type: ignore[union-attr]
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
        self.transport.pause_reading()  # type: ignore[union-attr]

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
        self.transport.pause_reading()  # type: ignore[union-attr]

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
        if self.reason in (None, "stopped"):
            self.reason = reason
        self.unsent = self.pending()
        if self.transport is not None:
            self.transport.abort()


class Datagrams(asyncio.DatagramProtocol):
    """A UDP socket: every datagram traced; echoed back to its sender with --echo."""

    def __init__(self, server: Server, fd: int = -1) -> None:
        self.server = server
        self.fd = fd
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.server.loop_name == "uvloop":
            # libuv's uv_udp_open sets SO_REUSEADDR again (seen with strace).
            self.server.loop_call("setsockopt", {"sockfd": self.fd, "level": "SOL_SOCKET",
                                                 "optname": "SO_REUSEADDR", "optval": 1,
                                                 "optlen": 4}, 0, self.fd)
        # Known at once, not after create_datagram_endpoint returns: a datagram
        # can arrive (and --count stop the server) before the await resumes.
        self.server.endpoints.append(transport)
        if self.server.stopping is not None:
            transport.close()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server.on_datagram(self, data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a sender that went away: not our failure.
        number = exc.errno if isinstance(exc, OSError) else None
        self.server.emit("datagram_error", {"errno": errno_name(number), "message": str(exc)})


def _report_accepts(sock: socket.socket, server: Server) -> None:
    """asyncio: make the listening socket report each accept() the loop makes on it.

    asyncio's accept loop calls ``sock.accept()`` on the very socket object
    create_server was given, several times a wake-up (until EAGAIN), and
    sets the connections up later: reporting from connection_made would put
    the calls out of order.  So the object's class is switched to a subclass
    whose accept() reports (same layout, no new state: Python allows it)
    and makes the one accept4() it always made.  The accepted socket gets
    the same treatment for the one setsockopt(TCP_NODELAY) the loop makes
    when it sets the connection up (later, and maybe after further
    accepts), then becomes a plain socket again.  uvloop accepts in C and
    is reported from connection_made instead.
    """

    class ReportingConnection(socket.socket):
        __slots__ = ()

        def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
            self.__class__ = socket.socket  # type: ignore[assignment]  # only the first call
            fd = self.fileno()
            args: Fields = {"sockfd": fd, "level": syscalls.level_name(level),
                            "optname": syscalls.option_name(level, option), "optval": value,
                            "optlen": 4}
            started = syscalls.now()
            try:
                super(socket.socket, self).setsockopt(level, option, value, *rest)
            except OSError as exc:
                _loop_report(server, "setsockopt", args, -1, exc.errno, started, fd)
                raise
            _loop_report(server, "setsockopt", args, 0, None, started, fd)

    class ReportingListener(socket.socket):
        __slots__ = ()

        def accept(self) -> tuple[socket.socket, Any]:
            fd = self.fileno()
            length = 28 if self.family == socket.AF_INET6 else 16
            started = syscalls.now()
            try:
                conn, address = super().accept()
            except OSError as exc:
                _loop_report(server, "accept4", {"sockfd": fd, "addr": None, "addrlen": length,
                                                 "flags": ["SOCK_CLOEXEC"]},
                             -1, exc.errno, started, fd)
                raise
            addr = sockaddr(address)
            _loop_report(server, "accept4", {"sockfd": fd, "addr": addr,
                                             "addrlen": sockaddr_len(addr),
                                             "flags": ["SOCK_CLOEXEC"]},
                         conn.fileno(), None, started, fd)
            conn.__class__ = ReportingConnection
            return conn, address

    sock.__class__ = ReportingListener


def _loop_report(server: Server, call: str, args: Fields, result: int, number: int | None,
                 started: float, fd: int) -> None:
    try:
        syscalls.report(server.trace, call, args, result, number, started, fd,
                        by=server.loop_name)
    except StdoutClosed as exc:
        if server.failure is None:
            server.fail(exc)


class Server:
    """Serves the listeners until stopped; ``run()`` returns normally when it is done."""

    def __init__(self, listeners: list[Listener], config: ServeConfig, *, trace: Trace,
                 payload: PayloadSink = no_payload, clock: Clock = monotonic,
                 signals: StopSignals | None = None) -> None:
        self.listeners = listeners
        self.signals = signals
        self.config = config
        self.echo = config.echo
        self.trace = trace
        self.payload = payload
        self.clock = clock
        self.udp = bool(listeners) and listeners[0].candidate.socktype == socket.SOCK_DGRAM
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.servers: list[asyncio.AbstractServer] = []
        #: Listening descriptors handed to the loop, until it closes them.
        self.listen_fds: list[int] = []
        self.endpoints: list[asyncio.BaseTransport] = []
        self.active: set[Connection] = set()
        self.waiting: deque[Connection] = deque()  # --iterative: accepted, not yet served
        self.next_id = 0
        self.served = 0
        self.rejected = 0
        self.datagrams = 0
        # UDP has no connections: "clients" are the distinct senders seen,
        # remembered up to SENDERS_REMEMBERED so a flood of spoofed sources
        # cannot grow the set without bound (past it, the count is a floor).
        self.senders: set[tuple[str, int]] = set()
        self.bytes_in = 0
        self.bytes_out = 0
        self.stopping: str | None = None
        self.accepting = True
        self.failure: BaseException | None = None
        self.done: asyncio.Future[None] | None = None
        self.started = clock()
        self.loop_name = ""
        # Design decision: per-client events are built only if they show.
        # A busy server accepts thousands of clients a second and its
        # renderer draws two lines for each; with -q it draws none, yet
        # building, dispatching and formatting them was about a third of the
        # server's own instructions per connection (valgrind, uvloop).  The
        # renderer says once whether it would show them (``wants``); a plain
        # callable (a test's recorder) gets every event.
        wants = getattr(trace, "wants", None)
        self.shows_accepted = wants is None or bool(wants("accepted"))
        self.shows_closed = wants is None or bool(wants("closed"))
        #: --syscalls: the loop's calls per client are reported only when shown
        #: (the calls themselves are the same either way).
        self.shows_syscalls = wants is None or bool(wants("syscall"))

    # --- running -------------------------------------------------------------------------

    def run(self) -> None:
        self._raise_fd_limit()
        loop, self.loop_name = new_event_loop()
        self.loop = loop
        loop.set_exception_handler(self._loop_error)
        try:
            loop.run_until_complete(self._main())
        finally:
            for sig in StopSignals.SIGNALS:
                with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                    loop.remove_signal_handler(sig)
            loop.close()
        if self.failure is not None:
            raise self.failure

    async def _main(self) -> None:
        loop = self.loop
        self.done = loop.create_future()
        # Design decision: our own signal handlers, so SIGINT is a request to
        # stop (exit 0 with a summary, as the SPEC says) rather than a
        # KeyboardInterrupt unwinding through the callbacks.
        for sig in StopSignals.SIGNALS:
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)
        self.started = self.clock()
        self.emit("serving", {"loop": self.loop_name, "echo": self.echo,
                              "iterative": self.config.iterative, "udp": self.udp})
        for listener in self.listeners:
            if self.udp:
                fd = listener.sock.fileno()
                self.listen_fds.append(fd)
                await loop.create_datagram_endpoint(
                    lambda fd=fd: Datagrams(self, fd),  # type: ignore[misc]
                    sock=listener.sock)
            else:
                # backlog is passed again because create_server calls
                # listen() itself (asyncio's default, 100, would shrink ours).
                fd = listener.sock.fileno()
                if self.loop_name == "asyncio" and self.shows_syscalls:
                    _report_accepts(listener.sock, self)
                # Reported before the await: create_server calls listen() before
                # it first yields, and a client already queued may be accepted
                # (and reported) as soon as it does.
                self.loop_call("listen", {"sockfd": fd, "backlog": self.config.backlog}, 0, fd)
                self.listen_fds.append(fd)
                server = await loop.create_server(
                    self._protocol_factory(fd), sock=listener.sock,
                    backlog=self.config.backlog)
                self.servers.append(server)
                if not self.accepting:  # stopped (a signal) while the servers were set up
                    server.close()
        if self.signals is not None and self.signals.caught:
            self.stop(self.signals.caught[0])  # signalled before the loop ran
        await self.done
        totals = {
            "clients": len(self.senders) if self.udp else self.served,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_ms": ms(self.clock() - self.started),
            "reason": self.stopping or "stopped",
            "rejected": self.rejected,
        }
        if self.udp:
            totals["datagrams"] = self.datagrams
        if self.failure is None or not isinstance(self.failure, StdoutClosed):
            self.emit("stopped", totals)

    def _protocol_factory(self, listen_fd: int = -1) -> Any:
        if self.config.tls is None:
            return lambda: Connection(self, listen_fd)
        from netprobe.tls.serving import TlsLayer

        context = self.config.tls
        return lambda: TlsLayer(context, Connection(self, listen_fd), self.tls_failed)

    def tls_failed(self, peer: Any, code: str, message: str, elapsed_ms: float) -> None:
        """A client whose TLS handshake failed: a trace line; the server goes on."""
        client = _client_fields(0, peer)
        del client["id"]
        self.emit("tls_failed", {"client": client, "code": code, "message": message,
                                 "elapsed_ms": elapsed_ms})

    def _raise_fd_limit(self) -> None:
        # Design decision: --max-clients must be reachable.  Many systems
        # start processes with a soft limit of 1024 descriptors, fewer than
        # the default --max-clients plus the listening sockets, and accept()
        # would fail with EMFILE before the bound the user asked for.  The
        # soft limit is raised (never above the hard limit) to fit it.
        raise_fd_limit(self.config.max_clients + len(self.listeners) + 64)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client's failure, already reported by its connection_lost
        if isinstance(exc, OSError):
            # accept() out of descriptors or memory (EMFILE, ENFILE, ENOBUFS):
            # the loop backs off and retries; the server goes on.
            self.emit("server_error", {"errno": errno_name(exc.errno), "message": str(exc),
                                       "context": str(context.get("message", ""))})
            return
        self.fail(exc if isinstance(exc, BaseException)
                  else RuntimeError(str(context.get("message", "event loop error"))))

    def fail(self, exc: BaseException) -> None:
        """Something the server cannot go on after (stdout closed, a bug): stop, re-raise."""
        if self.failure is None:
            self.failure = exc
        self.stop("stdout closed" if isinstance(exc, StdoutClosed) else "error")

    def emit(self, event: str, fields: Fields) -> None:
        """trace(), but a closed stdout stops the server instead of unwinding a callback."""
        try:
            self.trace(event, fields)
        except StdoutClosed as exc:
            if self.failure is None:
                self.fail(exc)

    def deliver(self, data: bytes, *, client: Fields, datagram: bool = False,
                echoed: bool | None = None) -> None:
        """payload(), with a closed stdout handled as emit() handles it."""
        try:
            self.payload(data, client=client, datagram=datagram, echoed=echoed)
        except StdoutClosed as exc:
            if self.failure is None:
                self.fail(exc)

    # --- stopping --------------------------------------------------------------------------

    def stop_accepting(self) -> None:
        if not self.accepting:
            return
        self.accepting = False
        for server in self.servers:
            server.close()
        for fd in self.listen_fds:
            self.loop_call("close", {"fd": fd}, 0, fd)
        self.listen_fds.clear()

    def stop(self, reason: str) -> None:
        """Stop accepting, close every client (flushing), finish when they are gone."""
        if self.stopping is not None:
            return
        self.stopping = reason
        self.stop_accepting()
        for endpoint in self.endpoints:
            endpoint.close()
        while self.waiting:
            waiting = self.waiting.popleft()
            waiting.reason = "stopped"
            if waiting.transport is not None:
                waiting.transport.close()
        for conn in list(self.active):
            conn.reason = conn.reason or "stopped"
            if conn.transport is not None:
                conn.transport.close()
        if self.active:
            self.loop.call_later(STOP_GRACE, self._abort_all)
        self._maybe_done()

    def _abort_all(self) -> None:
        for conn in list(self.active):
            conn.cut("stopped")

    def _maybe_done(self) -> None:
        if self.done is None or self.done.done():
            return
        if self.stopping is not None and not self.active and not self.waiting:
            self.done.set_result(None)

    # --- clients -------------------------------------------------------------------------------

    def admit(self, conn: Connection) -> None:
        """A new TCP connection: serve it, queue it (--iterative) or turn it away."""
        self.next_id += 1
        transport = conn.transport
        assert transport is not None
        self._accepted_calls(conn, transport)
        conn.client = _client_fields(self.next_id, transport.get_extra_info("peername"))
        conn.start = self.clock()
        if self.stopping is not None:
            conn.reason = "stopped"
            transport.abort()
            return
        self.active.add(conn)
        busy = len(self.active) + len(self.waiting)
        if busy > self.config.max_clients:
            self.rejected += 1
            conn.reason = "max-clients"
            conn.began = True
            if self.shows_accepted:
                self.emit("accepted", {**_accepted(conn), "served": False})
            transport.close()
            return
        self.served += 1
        if self.config.count is not None and self.served >= self.config.count:
            # --count N: the Nth client is the last one taken; finish when it is done.
            self.stop_accepting()
        if self.echo:
            transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        if self.config.iterative and len(self.active) > 1:
            # One at a time, as the textbook server: the rest wait, unread, in
            # arrival order (they would wait in its backlog).
            self.active.discard(conn)
            self.waiting.append(conn)
            conn.hold()
            return
        self._begin(conn)

    def loop_call(self, call: str, args: Fields, result: int, fd: int) -> None:
        """--syscalls: a call the event loop made (see ``syscalls.report_loop_call``)."""
        if not self.shows_syscalls:
            return
        try:
            report_loop_call(self.trace, call, args, result, fd, self.loop_name)
        except StdoutClosed as exc:
            if self.failure is None:
                self.fail(exc)

    def _accepted_calls(self, conn: Connection, transport: asyncio.BaseTransport) -> None:
        """The loop's accept4() and its setsockopt(TCP_NODELAY) for a new connection.

        What each loop passes was read off strace: uvloop (libuv) asks for no
        address and a non-blocking socket; asyncio's sock.accept() asks for
        the address, then makes the socket non-blocking with ioctl.  Both
        set TCP_NODELAY on TCP sockets.  Only uvloop's are reported here.
        """
        if not self.shows_syscalls:
            return
        sock = transport.get_extra_info("socket")
        conn.fd = sock.fileno() if sock is not None else -1
        if conn.fd < 0:
            return
        if self.loop_name == "uvloop":
            # libuv accepts in C: reported here, from the callback that follows
            # (asyncio's calls are reported as they are made: _report_accepts).
            args: Fields = {"sockfd": conn.listen_fd, "addr": None, "addrlen": None,
                            "flags": ["SOCK_CLOEXEC", "SOCK_NONBLOCK"]}
            self.loop_call("accept4", args, conn.fd, conn.listen_fd)
            self.loop_call("setsockopt", {"sockfd": conn.fd, "level": "IPPROTO_TCP",
                                          "optname": "TCP_NODELAY", "optval": 1, "optlen": 4},
                           0, conn.fd)

    def _closed_calls(self, conn: Connection, sent: int | None) -> None:
        """--syscalls: what the loop read and wrote on a client's socket, and its close().

        The loop's recv()/send() calls are its own business (how many depends
        on its buffers): only their bytes are known, so only bytes are given.
        """
        if conn.fd < 0 or not self.shows_syscalls:
            return
        if sent is not None:
            self.emit("syscall_summary", {"fd": conn.fd, "recv": {"calls": None,
                                                                  "bytes": conn.bytes_in},
                                          "send": {"calls": None, "bytes": sent},
                                          "by": self.loop_name})
        self.loop_call("close", {"fd": conn.fd}, 0, conn.fd)
        conn.fd = -1

    def _begin(self, conn: Connection) -> None:
        if self.config.names:
            self._lookup_then_begin(conn)
            return
        conn.began = True
        if self.shows_accepted:
            self.emit("accepted", _accepted(conn))
        if self.config.idle_timeout is not None:
            conn.arm_idle(self.config.idle_timeout)
        if conn.holding:
            conn.release_held()

    def _lookup_then_begin(self, conn: Connection) -> None:
        # getnameinfo blocks (a slow resolver can take seconds), so it runs
        # in a worker thread; the client is not read until its name is known,
        # so `accepted` always comes before its `data`.
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
            try:
                name: str = getnameinfo(address, str(port), socket.NI_NUMERICSERV,
                                        timeout=NAMES_TIMEOUT, trace=keep).host
                return name
            except Exception:
                return address

        def looked_up(future: asyncio.Future[str]) -> None:
            for call in calls:
                self.emit("syscall", dict(call))
            if future.cancelled() or future.exception() is not None:
                host = address
            else:
                host = future.result()
            if conn.began:
                return  # it left before its name came back: already reported
            conn.client["host"] = host
            conn.began = True
            if self.shows_accepted:
                self.emit("accepted", _accepted(conn))
            if conn.transport is not None and not conn.transport.is_closing():
                if self.config.idle_timeout is not None:
                    conn.arm_idle(self.config.idle_timeout)
                conn.release_held()

        self.loop.run_in_executor(None, lookup).add_done_callback(looked_up)

    def release(self, conn: Connection) -> None:
        """A connection is gone: account for it, report it, serve the next."""
        if conn in self.waiting:
            self.waiting.remove(conn)
        was_active = conn in self.active
        self.active.discard(conn)
        if not conn.client:
            self._closed_calls(conn, None)
            return
        if not conn.began:  # it left while waiting for its turn (or its name)
            conn.began = True
            if self.shows_accepted:
                self.emit("accepted", _accepted(conn))
        sent = conn.bytes_in - max(conn.unsent, conn.pending()) if self.echo else 0
        sent = max(sent, 0)
        self._closed_calls(conn, sent)
        self.bytes_in += conn.bytes_in
        self.bytes_out += sent
        if self.shows_closed:
            self.emit("closed", {
                "client": conn.client,
                "bytes_in": conn.bytes_in,
                "bytes_out": sent,
                "duration_ms": ms(self.clock() - conn.start),
                "reason": conn.reason or "eof",
            })
        if was_active and self.config.iterative and self.waiting and self.stopping is None:
            following = self.waiting.popleft()
            self.active.add(following)
            self._begin(following)
        if (self.config.count is not None and self.served >= self.config.count
                and not self.active and not self.waiting):
            self.stop("count")
        self._maybe_done()

    # --- datagrams -------------------------------------------------------------------------------

    def on_datagram(self, endpoint: Datagrams, data: bytes, addr: Any) -> None:
        self.datagrams += 1
        self.bytes_in += len(data)
        echoed = False
        transport = endpoint.transport
        # The datagram transport buffers when the socket is full; past the
        # high-water mark the echo is dropped (UDP may lose it anyway) rather
        # than buffered without bound.
        if (self.echo and transport is not None
                and _buffered(transport) < HIGH_WATER):
            transport.sendto(data, addr)
            self.bytes_out += len(data)
            echoed = True
        client = _client_fields(self.datagrams, addr)
        if len(self.senders) < SENDERS_REMEMBERED:
            self.senders.add((client["address"], client["port"]))
        self.deliver(data, client=client, datagram=True, echoed=echoed)
        if self.config.count is not None and self.datagrams >= self.config.count:
            self.stop("count")
