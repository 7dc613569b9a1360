"""The ``Server``: admission (--max-clients, --iterative, --names), --count, stopping, summary.

It runs the listeners on the event loop (``netprobe.serve.loop``) with a
``Connection`` per TCP client (``netprobe.serve.stream``) or a ``Datagrams``
per UDP socket (``netprobe.serve.datagrams``), and keeps the totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import socket
from collections import deque
from typing import Any

from netprobe.errors import StdoutClosed, errno_name
from netprobe.events import Clock, Event, Fields, PayloadSink, Trace, monotonic, ms, no_payload
from netprobe.limits import raise_fd_limit
from netprobe.serve.clients import accepted_fields, client_fields
from netprobe.serve.config import ServeConfig, StopSignals
from netprobe.serve.datagrams import Datagrams
from netprobe.serve.listenfd import Listener
from netprobe.serve.loop import new_event_loop
from netprobe.serve.loopcalls import accepted_calls, closed_calls, loop_call, report_accepts
from netprobe.serve.stream import HIGH_WATER, LOW_WATER, Connection

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

#: Distinct senders counted as UDP "clients" (see ``Server.senders``).
SENDERS_REMEMBERED = 65536


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
        self.unix = bool(listeners) and listeners[0].family == socket.AF_UNIX
        #: Set by run(); nothing uses it before.
        self.loop: asyncio.AbstractEventLoop
        self.servers: list[asyncio.AbstractServer] = []
        #: Listening descriptors handed to the loop, until it closes them.
        self.listen_fds: list[int] = []
        self.endpoints: list[asyncio.BaseTransport] = []
        self.active: set[Connection] = set()
        self.waiting: deque[Connection] = deque()  # --iterative: accepted, not yet served
        #: --tls: clients accepted and still in their handshake (they hold a slot too).
        self.handshaking = 0
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
                if listener.family == socket.AF_UNIX:
                    # Not the loop's datagram transport: see netprobe.unix.datagrams.
                    from netprobe.unix.datagrams import serve_datagrams

                    serve_datagrams(self, listener.sock, loop)
                    continue
                await loop.create_datagram_endpoint(
                    functools.partial(Datagrams, self, fd),
                    sock=listener.sock)
            else:
                # backlog is passed again because create_server calls
                # listen() itself (asyncio's default, 100, would shrink ours).
                fd = listener.sock.fileno()
                if self.loop_name == "asyncio" and self.shows_syscalls:
                    report_accepts(listener.sock, self)
                # Reported before the await: create_server calls listen() before
                # it first yields, and a client already queued may be accepted
                # (and reported) as soon as it does.
                loop_call(self, "listen", {"sockfd": fd, "backlog": self.config.backlog}, 0, fd)
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
        idle = self.config.idle_timeout
        return lambda: TlsLayer(context, Connection(self, listen_fd), self.tls_failed, self, idle)

    def take_handshake_slot(self) -> bool:
        """--tls: a client in its handshake holds a --max-clients slot (netprobe.tls.serving)."""
        if self.stopping is None and self._busy() >= self.config.max_clients:
            return False
        self.handshaking += 1
        return True

    def give_back_handshake_slot(self) -> None:
        self.handshaking -= 1

    def _busy(self) -> int:
        """Clients holding a --max-clients slot: served, waiting, or in their TLS handshake."""
        return len(self.active) + len(self.waiting) + self.handshaking

    def tls_failed(self, peer: Any, code: str, message: str, elapsed_ms: float) -> None:
        """A client whose TLS handshake failed: a trace line; the server goes on."""
        client = client_fields(0, peer, unix=self.unix)
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

    def emit(self, event: str, fields: Event) -> None:
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
            loop_call(self, "close", {"fd": fd}, 0, fd)
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

    def add_endpoint(self, transport: asyncio.BaseTransport) -> None:
        """A datagram socket is served; closed at once if the server is already stopping."""
        self.endpoints.append(transport)
        if self.stopping is not None:
            transport.close()

    def took_datagram(self, data: bytes, sender: Any, *, echoed: bool) -> None:
        """One datagram arrived (echoed or not): counted, reported, --count honoured."""
        self.datagrams += 1
        self.bytes_in += len(data)
        if echoed:
            self.bytes_out += len(data)
        client = client_fields(self.datagrams, sender, unix=self.unix)
        if len(self.senders) < SENDERS_REMEMBERED:
            self.senders.add((client["address"], client["port"]))
        self.deliver(data, client=client, datagram=True, echoed=echoed)
        if self.config.count is not None and self.datagrams >= self.config.count:
            self.stop("count")


    def admit(self, conn: Connection) -> None:
        """A new TCP connection: serve it, queue it (--iterative) or turn it away."""
        self.next_id += 1
        transport = conn.transport
        assert transport is not None
        accepted_calls(self, conn, transport)
        conn.client = client_fields(self.next_id, transport.get_extra_info("peername"),
                                    unix=self.unix)
        conn.start = self.clock()
        if self.stopping is not None:
            conn.reason = "stopped"
            transport.abort()
            return
        self.active.add(conn)
        if self._busy() > self.config.max_clients:
            self.rejected += 1
            conn.reason = "max-clients"
            conn.began = True
            if self.shows_accepted:
                self.emit("accepted", {**accepted_fields(conn), "served": False})
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

    def _begin(self, conn: Connection) -> None:
        if self.config.names:
            from netprobe.serve.names import lookup_then_begin

            lookup_then_begin(self, conn, self.config.idle_timeout)
            return
        conn.began = True
        if self.shows_accepted:
            self.emit("accepted", accepted_fields(conn))
        if self.config.idle_timeout is not None:
            conn.arm_idle(self.config.idle_timeout)
        if conn.holding:
            conn.release_held()

    def release(self, conn: Connection) -> None:
        """A connection is gone: account for it, report it, serve the next."""
        if conn in self.waiting:
            self.waiting.remove(conn)
        was_active = conn in self.active
        self.active.discard(conn)
        if not conn.client:
            closed_calls(self, conn, None)
            return
        if not conn.began:  # it left while waiting for its turn (or its name)
            conn.began = True
            if self.shows_accepted:
                self.emit("accepted", accepted_fields(conn))
        sent = conn.bytes_in - max(conn.unsent, conn.pending()) if self.echo else 0
        sent = max(sent, 0)
        closed_calls(self, conn, sent)
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

