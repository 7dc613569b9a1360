"""The data phase: after connecting, stdin (or ``--send``) to the peer and the peer to an output.

``relay`` for stream sockets (both directions at once, half-close at the end
of the input, ``--expect``), ``relay_datagrams`` for ``--udp`` (a datagram per
line).  What the peer sends goes, raw, to an ``output`` sink (a renderer's
``payload``, see netprobe.render).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import socket
from typing import TYPE_CHECKING

from netprobe.connect.attempts import finite
from netprobe.errors import AllCandidatesFailed, CheckFailed, InvalidInput
from netprobe.events import Clock, PayloadSink, Trace, monotonic, ms, no_trace

if TYPE_CHECKING:
    from netprobe.schema import ClosedEvent

#: Read size for stdin and the socket: large enough that a bulk transfer costs
#: few system calls (the bench compares with socat), small enough to stay
#: interactive (a read returns whatever is there, it does not wait to fill).
CHUNK = 256 * 1024
#: --expect keeps at most this much of the peer's data to match against, so
#: a peer that talks forever cannot make netprobe use unbounded memory.
EXPECT_WINDOW = 1024 * 1024

#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


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


class _Expectation:
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


def compile_expect(regex: str | None, stage: str = "expect") -> re.Pattern[bytes] | None:
    """The --expect regex, matched against the raw bytes (so binary peers work)."""
    if regex is None:
        return None
    try:
        return re.compile(regex.encode("utf-8", "surrogateescape"), re.MULTILINE)
    except re.error as exc:
        raise InvalidInput(stage, regex, f"not a valid regular expression ({exc})") from None


def usable_stdin(fd: int = 0) -> int | None:
    """fd 0 if it is open, else None (a closed stdin reads as immediate EOF)."""
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def relay(
    sock: socket.socket,
    *,
    stdin: int | None,
    send: bytes | None,
    output: PayloadSink,
    expect: re.Pattern[bytes] | None = None,
    timeout: float | None = None,
    half_close: bool = True,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """Stream sockets: stdin (or ``send``) to the peer and the peer to ``output``, at once.

    At the end of the input the write side is shut down (SHUT_WR) and the
    peer is read until it closes, so a request/response peer sees the whole
    request and the whole response arrives.  With ``expect`` it ends as soon
    as the peer's data matches, and raises CheckFailed when the peer closes
    first or ``timeout`` passes.  ``half_close=False`` keeps the write side
    open after the input (``--check --expect``: a banner check must not look
    like a client that left).

    One thread and poll(): poll, unlike epoll, accepts any stdin (a regular
    file, /dev/null, a pipe, a terminal).  The socket is non-blocking so a
    full send buffer never stops the peer's data from being read; stdin is
    only read when what was read before has been sent, so memory stays at one
    chunk.  stdout writes block: a slow reader slows the transfer down, as it
    should.
    """
    start = clock()
    transfer = Transfer()
    matcher = _Expectation(expect)
    deadline = start + timeout if (expect is not None and timeout is not None) else None
    pending = memoryview(send) if send is not None else memoryview(b"")
    reading_stdin = send is None and stdin is not None
    write_open = True
    selector = selectors.PollSelector()
    sock.setblocking(False)
    registered_stdin = False
    sock_events = 0

    # Why the relay ends once our own sending is done: "expect matched", or
    # "peer closed" (EOF).  Neither event may cut the other side's work
    # short: --send is a promise, so the payload (and whatever stdin already
    # holds) is written in full, and half-closed as usual, before the end.
    # What stdin has not yet produced is not waited for.
    ending: str | None = None
    peer_open = True

    def finish(reason: str) -> Transfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        return transfer

    def end() -> Transfer:
        if ending == "peer closed":
            return _after_close(finish(ending), expect)
        return finish(ending or "")

    try:
        while True:
            if ending is not None and reading_stdin and not pending:
                assert stdin is not None
                chunk = _read_if_ready(stdin)
                if chunk:
                    pending = memoryview(chunk)
                else:
                    reading_stdin = False
            if write_open and half_close and not pending and not reading_stdin:
                _shutdown_write(sock)
                write_open = False
            if ending is not None and not pending:
                return end()
            want_stdin = reading_stdin and not pending
            if want_stdin != registered_stdin:
                assert stdin is not None
                if want_stdin:
                    selector.register(stdin, selectors.EVENT_READ)
                else:
                    selector.unregister(stdin)
                registered_stdin = want_stdin
            events = ((selectors.EVENT_READ if peer_open else 0)
                      | (selectors.EVENT_WRITE if pending else 0))
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
                    raise CheckFailed("expect", _pattern_text(expect),
                                      f"matched, but {len(pending)} bytes of the payload were "
                                      f"not taken by the peer within {timeout:g} s", "EXPECT")
                finish("expect timed out")
                raise CheckFailed("expect", _pattern_text(expect),
                                  f"no match within {timeout:g} s "
                                  f"({transfer.bytes_in} bytes received)", "EXPECT")
            for key, mask in ready:
                if key.fileobj is sock:
                    if mask & selectors.EVENT_READ:
                        try:
                            data = sock.recv(CHUNK)
                        except (BlockingIOError, InterruptedError):
                            data = None
                        except ConnectionResetError:
                            # Nothing more can be sent either: end now.
                            if ending is not None:
                                return finish(ending)
                            return _after_close(finish("reset by peer"), expect)
                        if data == b"":
                            peer_open = False
                            ending = ending or "peer closed"
                        elif data:
                            transfer.bytes_in += len(data)
                            output(data)
                            if ending is None and matcher.feed(data):
                                ending = "expect matched"
                    if mask & selectors.EVENT_WRITE and pending:
                        try:
                            sent = sock.send(pending)
                        except (BlockingIOError, InterruptedError):
                            sent = 0
                        except (BrokenPipeError, ConnectionResetError):
                            # The peer will take no more; keep reading what it sends.
                            pending, reading_stdin, write_open = memoryview(b""), False, False
                            continue
                        transfer.bytes_out += sent
                        pending = pending[sent:]
                elif reading_stdin and not pending:
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, CHUNK)
                    except BlockingIOError:
                        continue  # a non-blocking stdin that poll() woke too early
                    if not chunk:
                        reading_stdin = False
                        continue
                    # Send at once when the socket takes it: saves a poll round.
                    try:
                        sent = sock.send(chunk)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except (BrokenPipeError, ConnectionResetError):
                        reading_stdin, write_open = False, False
                        continue
                    transfer.bytes_out += sent
                    pending = memoryview(chunk)[sent:]
    finally:
        selector.close()


def _read_if_ready(fd: int) -> bytes:
    """What ``fd`` holds right now (up to CHUNK), b"" at EOF or when nothing is ready."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if not poller.poll(0):
        return b""
    try:
        return os.read(fd, CHUNK)
    except (BlockingIOError, InterruptedError):
        return b""


def _shutdown_write(sock: socket.socket) -> None:
    # Already gone is fine: reading will tell.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _pattern_text(pattern: re.Pattern[bytes] | None) -> str:
    return pattern.pattern.decode("utf-8", "replace") if pattern is not None else ""


def _after_close(transfer: Transfer, expect: re.Pattern[bytes] | None) -> Transfer:
    if expect is not None:
        raise CheckFailed("expect", _pattern_text(expect),
                          f"the peer closed without a match ({transfer.bytes_in} bytes received)",
                          "EXPECT")
    return transfer


def relay_datagrams(
    sock: socket.socket,
    *,
    stdin: int | None,
    send: bytes | None,
    output: PayloadSink,
    where: str,
    idle: float,
    expect: re.Pattern[bytes] | None = None,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """``--udp``: each stdin line (or ``send``) is one datagram; every reply goes to ``output``.

    UDP has no close, so after the input ends replies are awaited until
    ``idle`` seconds pass without one (the SPEC's --timeout).  ICMP
    port-unreachable arrives as ECONNREFUSED on the connected socket: the
    peer's port is closed, which is a connect failure (exit 4).
    """
    start = clock()
    transfer = Transfer()
    matcher = _Expectation(expect)
    selector = selectors.PollSelector()
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ)
    reading_stdin = send is None and stdin is not None
    if reading_stdin:
        assert stdin is not None
        selector.register(stdin, selectors.EVENT_READ)
    partial = b""
    last = clock()

    def datagram(payload: bytes) -> None:
        try:
            transfer.bytes_out += sock.send(payload)
        except ConnectionRefusedError:
            refused()

    def refused() -> None:
        transfer.reason = "ECONNREFUSED"
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        raise AllCandidatesFailed("connect", where, "port unreachable (ICMP): nothing listens",
                                  "ECONNREFUSED")

    def finish(reason: str) -> Transfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        return transfer

    def lines(text: bytes) -> bytes:
        """Send each complete line of ``text`` as a datagram; return the rest."""
        *complete, rest = text.split(b"\n")
        for line in complete:
            datagram(line + b"\n")
        # A "line" longer than a datagram can hold goes in pieces,
        # so input without newlines never piles up in memory.
        while len(rest) >= MAX_DATAGRAM:
            datagram(rest[:MAX_DATAGRAM])
            rest = rest[MAX_DATAGRAM:]
        return rest

    try:
        if send is not None:
            datagram(send)
        while True:
            wait = None if reading_stdin else finite(max(0.0, last + idle - clock()))
            ready = selector.select(wait)
            if not ready and not reading_stdin and clock() >= last + idle:
                if expect is not None:
                    finish("expect timed out")
                    raise CheckFailed("expect", _pattern_text(expect),
                                      f"no match within {idle:g} s "
                                      f"({transfer.bytes_in} bytes received)", "EXPECT")
                return finish("idle")
            for key, _ in ready:
                if key.fileobj is sock:
                    try:
                        data = sock.recv(65535)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionRefusedError:
                        refused()
                    last = clock()
                    transfer.bytes_in += len(data)
                    output(data, datagram=True)
                    if matcher.feed(data):
                        # A match does not cut the input short: what stdin
                        # already holds is sent (as with streams), then it ends.
                        if reading_stdin:
                            assert stdin is not None
                            while chunk := _read_if_ready(stdin):
                                partial = lines(partial + chunk)
                            if partial:
                                datagram(partial)
                        return finish("expect matched")
                else:
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        if partial:
                            datagram(partial)
                            partial = b""
                        reading_stdin = False
                        selector.unregister(stdin)
                        last = clock()
                        continue
                    partial = lines(partial + chunk)
    finally:
        selector.close()
