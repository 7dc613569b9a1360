"""The data phase over TLS: the loop of netprobe.relay over a TLS transport.

The same contract as the TCP relay (stdin or ``--send`` to the peer, the
peer to ``output``, both at once; at the end of the input the write side is
closed and the peer read until it closes; ``--expect``), with the TLS
layer's own states handled:

* Decrypted data never waits inside the TLS object: every read of the
  socket is followed by reading plaintext until SSLWantReadError, so poll()
  on the raw descriptor stays the truth about what is left to read (a
  partial record needs more bytes from the socket, which poll reports).
* Encrypted output may not fit in the socket: it waits in
  ``channel.backlog``, the socket is polled for writing while it (or
  plaintext not yet encrypted) waits, and no more plaintext is encrypted
  until it is sent (memory stays at one chunk).  Reads go on meanwhile, so a peer that echoes cannot
  deadlock the transfer.
* Half-close is close_notify (then reading goes on until the peer's own
  close_notify or EOF); the kernel-level SHUT_WR follows it, once.
* A peer that closes without close_notify ends the transfer too (reason
  says so): many servers do, and the data received is still delivered.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
from collections.abc import Callable
from typing import cast

from netprobe.errors import TlsFailed
from netprobe.events import Clock, Trace, monotonic, no_trace
from netprobe.relay import CHUNK, RESET, Chunk, PeerGone, SessionFailed, Transfer, relay_stream
from netprobe.syscalls import sys_shutdown
from netprobe.tls.channel import TlsChannel
from netprobe.tls.errors import describe_ssl_error

# Design decision: the sizes of the TLS data phase (bench/tls.py measures
# them against socat, one direction at a time).
#
# * Plaintext goes into the TLS layer TLS_WRITE bytes at a time, and each
#   slice's records are sent before the next slice is encrypted.  A whole
#   relay chunk (256 KiB) at once made a 256 KiB record buffer and a 256 KiB
#   bytes object per round, beside the 256 KiB stdin read: glibc's heap grew
#   and shrank around them every round, and an upload took 50,000 page
#   faults (zeroed pages) for 256 MiB, a third of its time.  A 64 KiB slice
#   is four full records, small enough to be reused from the heap, large
#   enough that a slice costs one send.  Nothing more is encrypted while the
#   socket holds records back (memory stays bounded); the plaintext left
#   waits for poll's POLLOUT.
# * A readable socket is read again after each read is decrypted, until it
#   is empty or a chunk of plaintext is ready (READ_AGAIN is the room a read
#   needs to be worth it: a full record), and that is delivered at once.
#   While a peer streams, more has arrived by the time a read is decrypted;
#   taking it in the same round saves a poll and a round of the relay per
#   read (a 256 MiB download took ~3,700 rounds, now ~500).  An interactive
#   peer costs one more recv() (EAGAIN) per round.
# * The peer's bytes are read, and plaintext delivered, TLS_READ bytes at a
#   time at most: 1 MiB, where the relay's CHUNK is 256 KiB.  In a 256 MiB
#   download from socat (bench/tls.py's server), 256 KiB took 30-35 ms more
#   wall time than 1 MiB, medians of 25 runs each (client CPU ~20 ms more,
#   and the server's CPU 10-40 ms more: the server bounds the transfer, and
#   a client that drains its socket in larger gulps costs it less).  512 KiB
#   was in between, 2 MiB no better.  A read returns what is there, so an
#   interactive peer is not kept waiting.
# * Plaintext is decrypted into one buffer (``view``) and handed on as a
#   view of it, valid during the call: the relay copies it into bytes only
#   for a sink that keeps what it gets (netprobe.relay.view_sink).
TLS_WRITE = 64 * 1024
READ_AGAIN = 16 * 1024
TLS_READ = 1024 * 1024


class TlsTransport:
    """A TLS channel for ``relay_stream``: plaintext in, records through the memory BIOs."""

    __slots__ = ("buffer", "channel", "closed", "plain", "shut", "trace", "view", "where")

    def __init__(self, channel: TlsChannel, where: str, trace: Trace) -> None:
        self.channel = channel
        self.where = where
        self.trace = trace
        #: Plaintext not yet handed to the TLS layer.
        self.plain = memoryview(b"")
        #: The peer's close_notify or EOF was seen: nothing more to read.
        self.closed = False
        #: SHUT_WR was made (once: the relay asks every round after close_write).
        self.shut = False
        self.buffer = bytearray(TLS_READ)
        self.view = memoryview(self.buffer)

    @property
    def sock(self) -> socket.socket:
        return self.channel.sock

    def start(self) -> None:
        self.channel.sock.setblocking(False)

    def queue(self, data: bytes) -> None:
        self.plain = memoryview(data)

    def take(self, data: bytes) -> int:
        self.plain = memoryview(data)  # encode() at the top of the next round
        return 0

    def unsent(self) -> int:
        return len(self.plain)

    def busy(self) -> bool:
        return bool(self.plain) or bool(self.channel.backlog)

    def wants_write(self) -> bool:
        # Plaintext left means the socket was full when encode() stopped.
        return bool(self.channel.backlog) or bool(self.plain)

    def encode(self) -> int:
        # A slice at a time, until the socket is full or a chunk is taken
        # (see TLS_WRITE).
        channel = self.channel
        taken = 0
        while self.plain and taken < CHUNK:
            self.flush()  # the records of the slice before
            if channel.backlog:
                break  # the socket is full: poll says when it has room
            size = min(len(self.plain), TLS_WRITE)
            try:
                channel.tls.write(self.plain[:size])
            except ssl.SSLError:
                raise PeerGone from None  # the session is closing: nothing more can go
            self.plain = self.plain[size:]
            channel.collect()
            taken += size
        return taken

    def close_write(self) -> None:
        self.channel.close_notify()

    def flush(self) -> None:
        if self.channel.backlog:
            try:
                self.channel.flush()
            except (BrokenPipeError, ConnectionResetError):
                raise PeerGone from None

    def write_side_closed(self) -> None:
        # The kernel-level SHUT_WR once close_notify (and all before it) is out.
        if not self.shut and not self.channel.backlog:
            self.shut = True
            with contextlib.suppress(OSError):
                sys_shutdown(self.trace, self.channel.sock, socket.SHUT_WR)

    def writable(self) -> int:
        return self.encode()  # the backlog first, then more plaintext

    def receive(self, deliver: Callable[[Chunk], None]) -> str | None:
        # Read until the socket is empty or a chunk is ready (see READ_AGAIN).
        if self.closed:
            return None
        channel = self.channel
        filled = 0
        closed_by: str | None = None
        reset = False
        while True:
            try:
                more = channel.feed(TLS_READ - filled)
            except (BlockingIOError, InterruptedError):
                break  # nothing (more) to read: what came before is drained
            except ConnectionResetError:
                channel.incoming.write_eof()
                more, reset = False, True
            filled, closed_by = self._drain(deliver, filled)
            if not more or closed_by is not None or TLS_READ - filled < READ_AGAIN:
                break
        if filled:
            deliver(self.view[:filled])
        channel.collect()  # a read can make TLS write (a KeyUpdate answer)
        if reset:
            return RESET
        if closed_by is not None:
            self.closed = True
        return closed_by

    def discard(self) -> None:
        self.channel.backlog.clear()
        self.plain = memoryview(b"")

    def _drain(self, deliver: Callable[[Chunk], None], filled: int) -> tuple[int, str | None]:
        """Plaintext out of the TLS layer into ``view`` after ``filled`` bytes.

        Returns the bytes now in ``view`` (a full view is delivered on the
        way) and a reason when the peer's side is closed.
        """
        tls, view = self.channel.tls, self.view
        while True:
            try:
                # With a buffer, read() returns a count (typeshed says bytes).
                got = cast(int, tls.read(TLS_READ - filled, view[filled:]))
            except ssl.SSLWantReadError:
                return filled, None
            except ssl.SSLZeroReturnError:
                return filled, "peer closed"
            except ssl.SSLEOFError:
                return filled, "peer closed (no close_notify)"
            except ssl.SSLError as exc:
                # An alert after the handshake (TLS 1.3 servers refuse a
                # client certificate only now): the TLS session failed, after
                # what came before it.
                if filled:
                    deliver(view[:filled])
                code, message = describe_ssl_error(exc)
                raise SessionFailed(f"TLS error {code}",
                                    TlsFailed("tls", self.where, message, code)) from None
            if not got:
                return filled, "peer closed"
            filled += got
            if filled == TLS_READ:
                deliver(view[:filled])
                filled = 0


def relay_tls(
    channel: TlsChannel,
    *,
    stdin: int | None,
    send: bytes | None,
    output: Callable[[bytes], None],
    expect: re.Pattern[bytes] | None = None,
    timeout: float | None = None,
    half_close: bool = True,
    where: str = "",
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """Relay both ways over ``channel`` until the peer closes (or --expect decides)."""
    return relay_stream(TlsTransport(channel, where, trace), stdin=stdin, send=send,
                        output=output, expect=expect, timeout=timeout, half_close=half_close,
                        trace=trace, clock=clock)
