"""The data phase: after connecting, stdin (or ``--send``) to the peer and the peer to an output.

``relay`` for stream sockets (both directions at once, half-close at the end
of the input, ``--expect``: the loop in netprobe.relay, shared with TLS,
over a plain-socket transport), ``relay_datagrams`` for ``--udp`` (a datagram per
line).  What the peer sends goes, raw, to an ``output`` sink (a renderer's
``payload``, see netprobe.render).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
from collections.abc import Callable

from netprobe.connect.attempts import finite
from netprobe.errors import AllCandidatesFailed, CheckFailed, InvalidInput
from netprobe.events import Clock, PayloadSink, Trace, monotonic, no_trace
from netprobe.relay import (
    CHUNK,
    RESET,
    Expectation,
    PeerGone,
    Transfer,
    pattern_text,
    read_if_ready,
    relay_stream,
)
from netprobe.syscalls import sys_recv, sys_send, sys_setblocking, sys_shutdown

#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


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


class TcpTransport:
    """A plain stream socket for ``relay_stream``: bytes go to send() as they are."""

    __slots__ = ("pending", "sock", "trace")

    def __init__(self, sock: socket.socket, trace: Trace) -> None:
        self.sock = sock
        self.trace = trace
        #: What the socket has not taken yet (a view, so a partial send costs no copy).
        self.pending = memoryview(b"")

    def start(self) -> None:
        sys_setblocking(self.trace, self.sock, False)

    def queue(self, data: bytes) -> None:
        self.pending = memoryview(data)

    def take(self, data: bytes) -> int:
        # Send at once when the socket takes it: saves a poll round.
        try:
            sent = sys_send(self.trace, self.sock, data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except (BrokenPipeError, ConnectionResetError):
            raise PeerGone from None
        self.pending = memoryview(data)[sent:]
        return sent

    def unsent(self) -> int:
        return len(self.pending)

    def busy(self) -> bool:
        return bool(self.pending)

    def wants_write(self) -> bool:
        return bool(self.pending)

    def encode(self) -> int:
        return 0  # bytes are sent as they are, when poll() says the socket has room

    def close_write(self) -> None:
        # Already gone is fine: reading will tell.
        with contextlib.suppress(OSError):
            sys_shutdown(self.trace, self.sock, socket.SHUT_WR)

    def flush(self) -> None:
        pass  # nothing is buffered between netprobe and the kernel

    def write_side_closed(self) -> None:
        pass  # SHUT_WR went with close_write

    def writable(self) -> int:
        if not self.pending:
            return 0
        try:
            sent = sys_send(self.trace, self.sock, self.pending)
        except (BlockingIOError, InterruptedError):
            return 0
        except (BrokenPipeError, ConnectionResetError):
            raise PeerGone from None
        self.pending = self.pending[sent:]
        return sent

    def receive(self, deliver: Callable[[bytes], None]) -> str | None:
        try:
            data = sys_recv(self.trace, self.sock, CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionResetError:
            return RESET
        if not data:
            return "peer closed"
        deliver(data)
        return None

    def discard(self) -> None:
        self.pending = memoryview(b"")


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
    """Stream sockets: ``relay_stream`` over ``sock`` (SHUT_WR at the end of the input)."""
    return relay_stream(TcpTransport(sock, trace), stdin=stdin, send=send, output=output,
                        expect=expect, timeout=timeout, half_close=half_close, trace=trace,
                        clock=clock)


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
    matcher = Expectation(expect)
    selector = selectors.PollSelector()
    sys_setblocking(trace, sock, False)
    selector.register(sock, selectors.EVENT_READ)
    reading_stdin = send is None and stdin is not None
    if reading_stdin:
        assert stdin is not None
        selector.register(stdin, selectors.EVENT_READ)
    partial = b""
    last = clock()

    def datagram(payload: bytes) -> None:
        try:
            transfer.bytes_out += sys_send(trace, sock, payload)
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
                    raise CheckFailed("expect", pattern_text(expect),
                                      f"no match within {idle:g} s "
                                      f"({transfer.bytes_in} bytes received)", "EXPECT")
                return finish("idle")
            for key, _ in ready:
                if key.fileobj is sock:
                    try:
                        data = sys_recv(trace, sock, 65535)
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
                            while chunk := read_if_ready(stdin):
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
