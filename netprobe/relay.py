"""The stream relay loop, shared by plain TCP (netprobe.connect.data) and TLS (netprobe.tls.relay).

stdin (or ``--send``) goes to the peer and the peer to an ``output`` sink,
both at once; at the end of the input the write side is closed and the
peer is read until it closes; ``--expect`` ends it early.  What differs
between a plain socket and a TLS session is behind ``Transport``: how the
peer's bytes are received, how ours are queued and flushed, and how the
write side is closed (SHUT_WR or close_notify).

Design decision: one loop, the transport as a small object with hooks at
fixed places of each round.  Each hook a transport does not need is a
no-op that makes no system call, so each transport makes exactly the calls
its own loop made before they were merged (tests/test_syscalls.py compares
them with strace).

Design decision: the loop is a small machine, ``StreamRelay``: what it
knows is a list of attributes set in one place (``__init__``: input still
to read, write side open, peer open, why it will end), and each step of a
round is a method, so a reader can say at every point of a round what the
relay knows.  It replaced one function of eight flags and four closures.
"""

from __future__ import annotations

import os
import select
import selectors
import socket
from collections.abc import Callable

from netprobe.errors import CheckFailed, NetprobeError
from netprobe.events import Clock, Trace, monotonic, ms, no_trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Protocol

    from netprobe.schema import ClosedEvent

#: Read size for stdin and the socket: large enough that a bulk transfer costs
#: few system calls (the bench compares with socat), small enough to stay
#: interactive (a read returns whatever is there, it does not wait to fill).
CHUNK = 256 * 1024
#: --expect keeps at most this much of the peer's data to match against, so
#: a peer that talks forever cannot make netprobe use unbounded memory.
EXPECT_WINDOW = 1024 * 1024

#: ``Transport.receive``'s answer when the peer reset the connection.
RESET = "reset by peer"
#: Why the relay ends when --expect matched (the ``closed`` event's reason).
MATCHED = "expect matched"

#: What a transport hands the relay: bytes, or a view of the transport's own
#: buffer, valid only until the call returns (see ``view_sink``).
Chunk = bytes | memoryview

# Design decision: a view of the transport's buffer goes to a sink that
# writes it before returning, with no copy.  TLS decrypts into one buffer
# (netprobe.tls.relay); copying each chunk into a new bytes object is one
# more pass over every byte: 10-14 ms per 256 MiB here, of the client's
# ~330 ms of data-phase CPU.  Small, but per byte, and a bench/tls.py
# download is bound by the server's CPU: on two cores what the client does
# not spend is left to the server.  Only a sink that
# says so gets the view: a renderer whose ``payload`` has a ``payload_view``
# beside it (render.quiet.QuietConnect: bytes straight to fd 1).  Every other
# sink (the JSON renderer holds half a character back, a test's list.append
# keeps what it gets) gets bytes of its own, as before.


def view_sink(output: Callable[[bytes], None]) -> Callable[[Chunk], None] | None:
    """``output``'s owner's ``payload_view`` (writes a view before returning), if it has one."""
    method = getattr(getattr(output, "__self__", None), "payload_view", None)
    return method if callable(method) else None


class Transfer:
    """What the data phase moved, and why it ended."""

    __slots__ = ("bytes_in", "bytes_out", "duration", "reason")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0
        self.reason = ""
        self.duration = 0.0

    def to_json(self) -> ClosedEvent:
        return {"bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "duration_ms": ms(self.duration), "reason": self.reason}


class Expectation:
    """Matches --expect against a bounded window of what the peer sent."""

    def __init__(self, pattern: re.Pattern[bytes] | None) -> None:
        self.pattern = pattern
        self.window = bytearray()

    def feed(self, data: Chunk) -> bool:
        if self.pattern is None:
            return False
        self.window += data
        if len(self.window) > EXPECT_WINDOW:
            del self.window[: len(self.window) - EXPECT_WINDOW]
        return self.pattern.search(self.window) is not None


class PeerGone(Exception):
    """Raised by a transport when the peer takes no more of our data."""


class SessionFailed(Exception):
    """Raised by a transport when the session itself failed (a TLS alert).

    ``reason`` goes into the ``closed`` event, then ``error`` is raised.
    """

    def __init__(self, reason: str, error: NetprobeError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


# Only ever an annotation: a Protocol is typing's, imported for mypy alone.
if TYPE_CHECKING:
    class Transport(Protocol):
        """A connected stream as the relay loop drives it (see TcpTransport, TlsTransport)."""

        @property
        def sock(self) -> socket.socket: ...

        def start(self) -> None:
            """Make the socket non-blocking."""

        def queue(self, data: bytes) -> None:
            """Take ``data`` to send later (``--send``, or stdin read while ending)."""

        def take(self, data: bytes) -> int:
            """Take a chunk just read from stdin; the bytes sent at once (PeerGone)."""

        def unsent(self) -> int:
            """Bytes of our input the transport has not passed on yet."""

        def busy(self) -> bool:
            """Whether anything of ours still waits to go out (input or encrypted backlog)."""

        def wants_write(self) -> bool:
            """Whether the socket must be polled for writing."""

        def encode(self) -> int:
            """Start of a round, while the write side is open: bytes of input taken (PeerGone)."""

        def close_write(self) -> None:
            """The end of our input: close the write side (SHUT_WR, close_notify)."""

        def flush(self) -> None:
            """After close_write: send what waits, as far as the socket takes it (PeerGone)."""

        def write_side_closed(self) -> None:
            """Each round after the write side closed, with half-close."""

        def writable(self) -> int:
            """poll() said the socket has room: bytes of input sent (PeerGone)."""

        def receive(self, deliver: Callable[[Chunk], None]) -> str | None:
            """Read the socket, hand the peer's data to ``deliver`` (a view only lives in the call).

            None while the peer is open, the reason when it closed, RESET when
            it reset the connection; SessionFailed if the session failed.
            """

        def discard(self) -> None:
            """Forget everything not sent yet: the peer takes no more."""


def relay_stream(
    transport: Transport,
    *,
    stdin: int | None,
    send: bytes | None,
    output: Callable[[bytes], None],
    expect: re.Pattern[bytes] | None = None,
    timeout: float | None = None,
    half_close: bool = True,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """Stream sockets: stdin (or ``send``) to the peer and the peer to ``output``, at once.

    At the end of the input the write side is closed and the peer is read
    until it closes, so a request/response peer sees the whole request and
    the whole response arrives.  With ``expect`` it ends as soon as the
    peer's data matches, and raises CheckFailed when the peer closes first
    or ``timeout`` passes.  ``half_close=False`` keeps the write side open
    after the input (``--check --expect``: a banner check must not look
    like a client that left).
    """
    return StreamRelay(transport, stdin=stdin, send=send, output=output, expect=expect,
                       timeout=timeout, half_close=half_close, trace=trace, clock=clock).run()


class StreamRelay:
    """One stream relay: its state, and one method per step of a round (``run``).

    One thread and poll(): poll, unlike epoll, accepts any stdin (a regular
    file, /dev/null, a pipe, a terminal).  The socket is non-blocking so a
    full send buffer never stops the peer's data from being read; stdin is
    only read when what was read before has been sent, so memory stays at one
    chunk.  stdout writes block: a slow reader slows the transfer down, as it
    should.

    A round: top up the input (``_take_rest_of_stdin``), push ours out
    (``_send``), end if there is nothing left to do, say what to wait for
    (``_arm``), wait (``_wait``), then handle what poll() reported
    (``_on_socket``, ``_on_stdin``).
    """

    __slots__ = ("clock", "deadline", "ending", "expect", "half_close", "matcher", "output",
                 "output_view", "peer_open", "reading_stdin", "selector", "sock_events", "start",
                 "stdin", "stdin_registered", "timeout", "trace", "transfer", "transport",
                 "write_open")

    def __init__(self, transport: Transport, *, stdin: int | None, send: bytes | None,
                 output: Callable[[bytes], None], expect: re.Pattern[bytes] | None,
                 timeout: float | None, half_close: bool, trace: Trace, clock: Clock) -> None:
        self.transport = transport
        self.stdin = stdin
        self.output = output
        #: The sink's no-copy twin, when it has one (see ``view_sink``).
        self.output_view = view_sink(output)
        self.expect = expect
        self.timeout = timeout
        self.half_close = half_close
        self.trace = trace
        self.clock = clock
        self.start = clock()
        self.transfer = Transfer()
        self.matcher = Expectation(expect)
        #: --expect's deadline (``timeout`` bounds the wait for a match only).
        self.deadline: float | None = None
        if expect is not None and timeout is not None:
            self.deadline = self.start + timeout
        if send is not None:
            transport.queue(send)
        #: stdin is ours to send until its EOF (never with --send).
        self.reading_stdin = send is None and stdin is not None
        #: Our write side is open (no SHUT_WR / close_notify yet).
        self.write_open = True
        #: The peer may still send: the socket is polled for reading.
        self.peer_open = True
        # Why the relay ends once our own sending is done: "expect matched", or
        # the peer's close (EOF, close_notify, a reset).  Neither event may cut
        # the other side's work short: --send is a promise, so the payload (and
        # whatever stdin already holds) is written in full, and half-closed as
        # usual, before the end.  What stdin has not yet produced is not waited
        # for.  The first reason stays: a reset after the peer's EOF is still
        # "peer closed", and the --expect verdict never depends on the order
        # the two came in (issue 17).
        self.ending: str | None = None
        self.selector = selectors.PollSelector()
        #: What the selector was last told: stdin registered, the socket's events.
        self.stdin_registered = False
        self.sock_events = 0

    @property
    def matched(self) -> bool:
        return self.ending == MATCHED

    def run(self) -> Transfer:
        self.transport.start()
        try:
            while True:
                self._take_rest_of_stdin()
                self._send()
                if self.ending is not None and not self.transport.busy():
                    return self._end()
                self._arm()
                for key, mask in self._wait():
                    if key.fileobj is self.transport.sock:
                        self._on_socket(mask)
                    elif self.reading_stdin and not self.transport.unsent():
                        self._on_stdin()
        finally:
            self.selector.close()

    def _take_rest_of_stdin(self) -> None:
        """Ending: what stdin holds right now still goes (a chunk at a time), nothing more."""
        if self.ending is not None and self.reading_stdin and not self.transport.unsent():
            assert self.stdin is not None
            chunk = read_if_ready(self.stdin)
            if chunk:
                self.transport.queue(chunk)
            else:
                self.reading_stdin = False

    def _send(self) -> None:
        """Our side of the round: encode input, half-close at its end, flush."""
        transport = self.transport
        if self.write_open:
            try:
                self.transfer.bytes_out += transport.encode()
            except PeerGone:
                self._stop_sending()  # the session is closing: nothing more can go
        if (self.write_open and self.half_close and not transport.unsent()
                and not self.reading_stdin):
            transport.close_write()
            self.write_open = False
        try:
            transport.flush()
        except PeerGone:
            self._stop_sending()  # the peer takes no more; keep reading what it sends
        if not self.write_open and self.half_close:
            transport.write_side_closed()

    def _arm(self) -> None:
        """Tell the selector what this round waits for (only what changed)."""
        transport, selector = self.transport, self.selector
        want_stdin = self.reading_stdin and not transport.busy()
        if want_stdin != self.stdin_registered:
            assert self.stdin is not None
            if want_stdin:
                selector.register(self.stdin, selectors.EVENT_READ)
            else:
                selector.unregister(self.stdin)
            self.stdin_registered = want_stdin
        events = ((selectors.EVENT_READ if self.peer_open else 0)
                  | (selectors.EVENT_WRITE if transport.wants_write() else 0))
        if events != self.sock_events:
            if self.sock_events and events:
                selector.modify(transport.sock, events)
            elif events:
                selector.register(transport.sock, events)
            else:
                selector.unregister(transport.sock)
            self.sock_events = events

    def _wait(self) -> list[tuple[selectors.SelectorKey, int]]:
        """poll(); CheckFailed when --expect's deadline passes first."""
        deadline, clock = self.deadline, self.clock
        wait = None if deadline is None else max(0.0, deadline - clock())
        ready = self.selector.select(wait)
        # Whether or not poll() found something: a peer that never stops
        # sending keeps the socket readable, and must not keep --expect alive
        # past its deadline.
        if deadline is not None and clock() >= deadline:
            pattern = pattern_text(self.expect)
            if self.matched:
                self._finish("expect matched, payload not all sent")
                raise CheckFailed("expect", pattern,
                                  f"matched, but {self.transport.unsent()} bytes of the payload "
                                  f"were not taken by the peer within {self.timeout:g} s",
                                  "EXPECT")
            self._finish("expect timed out")
            raise CheckFailed("expect", pattern,
                              f"no match within {self.timeout:g} s "
                              f"({self.transfer.bytes_in} bytes received)", "EXPECT")
        return ready

    def _on_socket(self, mask: int) -> None:
        """The peer's data (or close) first, then room to send."""
        if mask & selectors.EVENT_READ:
            try:
                closed_by = self.transport.receive(self._deliver)
            except SessionFailed as failure:
                self._finish(failure.reason)
                raise failure.error from None
            if closed_by == RESET:
                self._stop_sending()  # nothing more can be sent either: end now
                self.ending = self.ending or RESET
                return
            if closed_by is not None:
                self.peer_open = False
                self.ending = self.ending or closed_by
        if mask & selectors.EVENT_WRITE:
            try:
                self.transfer.bytes_out += self.transport.writable()
            except PeerGone:
                self._stop_sending()  # keep reading what the peer sends

    def _on_stdin(self) -> None:
        assert self.stdin is not None
        try:
            chunk = os.read(self.stdin, CHUNK)
        except BlockingIOError:
            return  # a non-blocking stdin that poll() woke too early
        if not chunk:
            self.reading_stdin = False
            return
        try:
            self.transfer.bytes_out += self.transport.take(chunk)
        except PeerGone:
            self._stop_sending()

    def _deliver(self, data: Chunk) -> None:
        self.transfer.bytes_in += len(data)
        if self.output_view is not None:
            self.output_view(data)
        else:
            self.output(data if isinstance(data, bytes) else bytes(data))
        if self.ending is None and self.matcher.feed(data):
            self.ending = MATCHED

    def _stop_sending(self) -> None:
        self.transport.discard()
        self.reading_stdin, self.write_open = False, False

    def _finish(self, reason: str) -> Transfer:
        transfer = self.transfer
        transfer.reason = reason
        transfer.duration = self.clock() - self.start
        self.trace("closed", transfer.to_json())
        return transfer

    def _end(self) -> Transfer:
        """Our sending is done and the relay has a reason to end: the verdict."""
        done = self._finish(self.ending or "")
        if self.expect is not None and not self.matched:
            raise CheckFailed("expect", pattern_text(self.expect),
                              f"the peer closed without a match ({done.bytes_in} bytes received)",
                              "EXPECT")
        return done


def read_if_ready(fd: int) -> bytes:
    """What ``fd`` holds right now (up to CHUNK), b"" at EOF or when nothing is ready."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if not poller.poll(0):
        return b""
    try:
        return os.read(fd, CHUNK)
    except (BlockingIOError, InterruptedError):
        return b""


def pattern_text(pattern: re.Pattern[bytes] | None) -> str:
    return pattern.pattern.decode("utf-8", "replace") if pattern is not None else ""
