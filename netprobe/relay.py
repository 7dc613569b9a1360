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
"""

from __future__ import annotations

import os
import re
import select
import selectors
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from netprobe.errors import CheckFailed, NetprobeError
from netprobe.events import Clock, Trace, monotonic, ms, no_trace

if TYPE_CHECKING:
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

    def feed(self, data: bytes) -> bool:
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

    def receive(self, deliver: Callable[[bytes], None]) -> str | None:
        """Read the socket, hand the peer's data to ``deliver``.

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

    One thread and poll(): poll, unlike epoll, accepts any stdin (a regular
    file, /dev/null, a pipe, a terminal).  The socket is non-blocking so a
    full send buffer never stops the peer's data from being read; stdin is
    only read when what was read before has been sent, so memory stays at one
    chunk.  stdout writes block: a slow reader slows the transfer down, as it
    should.
    """
    sock = transport.sock
    start = clock()
    transfer = Transfer()
    matcher = Expectation(expect)
    deadline = start + timeout if (expect is not None and timeout is not None) else None
    if send is not None:
        transport.queue(send)
    reading_stdin = send is None and stdin is not None
    write_open = True
    selector = selectors.PollSelector()
    transport.start()
    registered_stdin = False
    sock_events = 0

    # Why the relay ends once our own sending is done: "expect matched", or
    # the peer's close (EOF, close_notify, a reset).  Neither event may cut
    # the other side's work short: --send is a promise, so the payload (and
    # whatever stdin already holds) is written in full, and half-closed as
    # usual, before the end.  What stdin has not yet produced is not waited
    # for.  The first reason stays: a reset after the peer's EOF is still
    # "peer closed", and the --expect verdict never depends on the order the
    # two came in (issue 17).
    ending: str | None = None
    matched = False
    peer_open = True

    def finish(reason: str) -> Transfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        return transfer

    def end() -> Transfer:
        done = finish(ending or "")
        if expect is not None and not matched:
            raise CheckFailed("expect", pattern_text(expect),
                              f"the peer closed without a match ({done.bytes_in} bytes received)",
                              "EXPECT")
        return done

    def deliver(data: bytes) -> None:
        nonlocal matched, ending
        transfer.bytes_in += len(data)
        output(data)
        if ending is None and matcher.feed(data):
            matched = True
            ending = "expect matched"

    def stop_sending() -> None:
        nonlocal reading_stdin, write_open
        transport.discard()
        reading_stdin, write_open = False, False

    try:
        while True:
            if ending is not None and reading_stdin and not transport.unsent():
                assert stdin is not None
                chunk = read_if_ready(stdin)
                if chunk:
                    transport.queue(chunk)
                else:
                    reading_stdin = False
            if write_open:
                try:
                    transfer.bytes_out += transport.encode()
                except PeerGone:
                    stop_sending()  # the session is closing: nothing more can go
            if write_open and half_close and not transport.unsent() and not reading_stdin:
                transport.close_write()
                write_open = False
            try:
                transport.flush()
            except PeerGone:
                stop_sending()  # the peer takes no more; keep reading what it sends
            if not write_open and half_close:
                transport.write_side_closed()
            if ending is not None and not transport.busy():
                return end()
            want_stdin = reading_stdin and not transport.busy()
            if want_stdin != registered_stdin:
                assert stdin is not None
                if want_stdin:
                    selector.register(stdin, selectors.EVENT_READ)
                else:
                    selector.unregister(stdin)
                registered_stdin = want_stdin
            events = ((selectors.EVENT_READ if peer_open else 0)
                      | (selectors.EVENT_WRITE if transport.wants_write() else 0))
            if events != sock_events:
                if sock_events and events:
                    selector.modify(sock, events)
                elif events:
                    selector.register(sock, events)
                else:
                    selector.unregister(sock)
                sock_events = events
            wait = None if deadline is None else max(0.0, deadline - clock())
            ready = selector.select(wait)
            if deadline is not None and not ready and clock() >= deadline:
                if ending == "expect matched":
                    finish("expect matched, payload not all sent")
                    raise CheckFailed("expect", pattern_text(expect),
                                      f"matched, but {transport.unsent()} bytes of the payload "
                                      f"were not taken by the peer within {timeout:g} s",
                                      "EXPECT")
                finish("expect timed out")
                raise CheckFailed("expect", pattern_text(expect),
                                  f"no match within {timeout:g} s "
                                  f"({transfer.bytes_in} bytes received)", "EXPECT")
            for key, mask in ready:
                if key.fileobj is sock:
                    if mask & selectors.EVENT_READ:
                        try:
                            closed_by = transport.receive(deliver)
                        except SessionFailed as failure:
                            finish(failure.reason)
                            raise failure.error from None
                        if closed_by == RESET:
                            # Nothing more can be sent either: end now.
                            stop_sending()
                            ending = ending or RESET
                            continue
                        if closed_by is not None:
                            peer_open = False
                            ending = ending or closed_by
                    if mask & selectors.EVENT_WRITE:
                        try:
                            transfer.bytes_out += transport.writable()
                        except PeerGone:
                            stop_sending()  # keep reading what the peer sends
                            continue
                elif reading_stdin and not transport.unsent():
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, CHUNK)
                    except BlockingIOError:
                        continue  # a non-blocking stdin that poll() woke too early
                    if not chunk:
                        reading_stdin = False
                        continue
                    try:
                        transfer.bytes_out += transport.take(chunk)
                    except PeerGone:
                        stop_sending()
                        continue
    finally:
        selector.close()


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
