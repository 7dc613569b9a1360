"""The data phase: after connecting, stdin (or ``--send``) to the peer and the peer to an output.

``relay`` for stream sockets (both directions at once, half-close at the end
of the input, ``--expect``: the loop in netprobe.relay, shared with TLS,
over a plain-socket transport), ``relay_datagrams`` for ``--udp`` (a
datagram per line; ``DatagramRelay``, a small machine as
``netprobe.relay.StreamRelay`` is).  What the peer sends goes, raw, to an
``output`` sink (a renderer's ``payload``, see netprobe.render).
"""

from __future__ import annotations

import os
import selectors
import socket
from collections.abc import Callable

from netprobe.connect.attempts import finite
from netprobe.errors import AllCandidatesFailed, CheckFailed, InvalidInput
from netprobe.events import Clock, PayloadSink, Trace, monotonic, no_trace
from netprobe.relay import (
    CHUNK,
    MATCHED,
    RESET,
    Expectation,
    PeerGone,
    Transfer,
    pattern_text,
    read_if_ready,
    relay_stream,
)
from netprobe.syscalls import sys_recv, sys_send, sys_setblocking, sys_shutdown

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import NoReturn

#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


def compile_expect(regex: str | None, stage: str = "expect") -> re.Pattern[bytes] | None:
    """The --expect regex, matched against the raw bytes (so binary peers work)."""
    if regex is None:
        return None
    import re  # only for --expect: re is not on the start-up path (netprobe.record)

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
        # Already gone is fine: reading will tell.  (No contextlib.suppress: contextlib
        # is otherwise not imported by a console-script start-up.)
        try:  # noqa: SIM105
            sys_shutdown(self.trace, self.sock, socket.SHUT_WR)
        except OSError:
            pass

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
    return DatagramRelay(sock, stdin=stdin, output=output, where=where, idle=idle,
                         expect=expect, trace=trace, clock=clock).run(send)


class DatagramRelay:
    """One ``--udp`` data phase: its state, and a method per step (``run``).

    A round: wait for a reply or a stdin chunk (bounded by ``idle`` once
    the input is over: UDP has no close), then ``_on_reply`` or
    ``_on_stdin``.  A reply that matches --expect ends it.
    """

    __slots__ = ("clock", "expect", "idle", "last", "matcher", "output", "partial",
                 "reading_stdin", "selector", "sock", "start", "stdin", "trace", "transfer",
                 "where")

    def __init__(self, sock: socket.socket, *, stdin: int | None, output: PayloadSink,
                 where: str, idle: float, expect: re.Pattern[bytes] | None, trace: Trace,
                 clock: Clock) -> None:
        self.sock = sock
        self.stdin = stdin
        self.output = output
        self.where = where
        self.idle = idle
        self.expect = expect
        self.trace = trace
        self.clock = clock
        self.start = clock()
        self.transfer = Transfer()
        self.matcher = Expectation(expect)
        self.selector = selectors.PollSelector()
        #: stdin is still to be read (never with --send).
        self.reading_stdin = False
        #: The end of stdin's last chunk: a line not complete yet.
        self.partial = b""
        #: When the last reply came (or the input ended): ``idle`` counts from here.
        self.last = self.start

    def run(self, send: bytes | None) -> Transfer:
        sock, selector, stdin = self.sock, self.selector, self.stdin
        sys_setblocking(self.trace, sock, False)
        selector.register(sock, selectors.EVENT_READ)
        self.reading_stdin = send is None and stdin is not None
        if self.reading_stdin:
            assert stdin is not None
            selector.register(stdin, selectors.EVENT_READ)
        self.last = self.clock()
        try:
            if send is not None:
                self._datagram(send)
            while True:
                ready = self.selector.select(self._patience())
                if not ready and self._silent():
                    return self._idle_over()
                for key, _ in ready:
                    if key.fileobj is sock:
                        if self._on_reply():
                            return self._finish(MATCHED)
                    else:
                        self._on_stdin()
        finally:
            selector.close()

    def _patience(self) -> float | None:
        """How long poll() may wait: for ever while stdin is read, then ``idle`` after the last."""
        if self.reading_stdin:
            return None
        return finite(max(0.0, self.last + self.idle - self.clock()))

    def _silent(self) -> bool:
        return not self.reading_stdin and self.clock() >= self.last + self.idle

    def _idle_over(self) -> Transfer:
        """The input is over and nothing came for ``idle``: the end, or --expect failed."""
        if self.expect is not None:
            self._finish("expect timed out")
            raise CheckFailed("expect", pattern_text(self.expect),
                              f"no match within {self.idle:g} s "
                              f"({self.transfer.bytes_in} bytes received)", "EXPECT")
        return self._finish("idle")

    def _on_reply(self) -> bool:
        """A datagram from the peer; True when it matched --expect."""
        try:
            data = sys_recv(self.trace, self.sock, 65535)
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionRefusedError:
            self._refused()
        self.last = self.clock()
        self.transfer.bytes_in += len(data)
        self.output(data, datagram=True)
        if not self.matcher.feed(data):
            return False
        # A match does not cut the input short: what stdin already holds is
        # sent (as with streams), then it ends.
        if self.reading_stdin:
            assert self.stdin is not None
            while chunk := read_if_ready(self.stdin):
                self.partial = self._lines(self.partial + chunk)
            if self.partial:
                self._datagram(self.partial)
        return True

    def _on_stdin(self) -> None:
        assert self.stdin is not None
        try:
            chunk = os.read(self.stdin, 65536)
        except BlockingIOError:
            return
        if chunk:
            self.partial = self._lines(self.partial + chunk)
            return
        if self.partial:
            self._datagram(self.partial)
            self.partial = b""
        self.reading_stdin = False
        self.selector.unregister(self.stdin)
        self.last = self.clock()

    def _lines(self, text: bytes) -> bytes:
        """Send each complete line of ``text`` as a datagram; return the rest."""
        *complete, rest = text.split(b"\n")
        for line in complete:
            self._datagram(line + b"\n")
        # A "line" longer than a datagram can hold goes in pieces,
        # so input without newlines never piles up in memory.
        while len(rest) >= MAX_DATAGRAM:
            self._datagram(rest[:MAX_DATAGRAM])
            rest = rest[MAX_DATAGRAM:]
        return rest

    def _datagram(self, payload: bytes) -> None:
        try:
            self.transfer.bytes_out += sys_send(self.trace, self.sock, payload)
        except ConnectionRefusedError:
            self._refused()

    def _refused(self) -> NoReturn:
        self._finish("ECONNREFUSED")
        raise AllCandidatesFailed("connect", self.where,
                                  "port unreachable (ICMP): nothing listens", "ECONNREFUSED")

    def _finish(self, reason: str) -> Transfer:
        transfer = self.transfer
        transfer.reason = reason
        transfer.duration = self.clock() - self.start
        self.trace("closed", transfer.to_json())
        return transfer
