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
  ``channel.backlog``, the socket is polled for writing while it is not
  empty, and no more plaintext is taken until it is sent (memory stays at
  one chunk).  Reads go on meanwhile, so a peer that echoes cannot
  deadlock the transfer.
* Half-close is close_notify (then reading goes on until the peer's own
  close_notify or EOF); the kernel-level SHUT_WR follows it.
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
from netprobe.relay import CHUNK, RESET, PeerGone, SessionFailed, Transfer, relay_stream
from netprobe.syscalls import sys_shutdown
from netprobe.tls.channel import TlsChannel, describe_ssl_error


class TlsTransport:
    """A TLS channel for ``relay_stream``: plaintext in, records through the memory BIOs."""

    __slots__ = ("buffer", "channel", "closed", "plain", "trace", "view", "where")

    def __init__(self, channel: TlsChannel, where: str, trace: Trace) -> None:
        self.channel = channel
        self.where = where
        self.trace = trace
        #: Plaintext not yet handed to the TLS layer.
        self.plain = memoryview(b"")
        #: The peer's close_notify or EOF was seen: nothing more to read.
        self.closed = False
        self.buffer = bytearray(CHUNK)
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
        return bool(self.channel.backlog)

    def encode(self) -> int:
        # Plaintext goes into TLS only when what it made before is sent.
        channel = self.channel
        if not self.plain or channel.backlog:
            return 0
        size = min(len(self.plain), CHUNK)
        try:
            channel.tls.write(self.plain[:size])
        except ssl.SSLError:
            raise PeerGone from None  # the session is closing: nothing more can go
        self.plain = self.plain[size:]
        channel.collect()
        return size

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
        if not self.channel.backlog:
            with contextlib.suppress(OSError):
                sys_shutdown(self.trace, self.channel.sock, socket.SHUT_WR)

    def writable(self) -> int:
        return 0  # the flush at the top of the loop sends the backlog

    def receive(self, deliver: Callable[[bytes], None]) -> str | None:
        if self.closed:
            return None
        try:
            self.channel.feed()
        except (BlockingIOError, InterruptedError):
            pass
        except ConnectionResetError:
            self.channel.incoming.write_eof()
            self._drain(deliver)
            return RESET
        closed_by = self._drain(deliver)
        if closed_by is not None:
            self.closed = True
        return closed_by

    def discard(self) -> None:
        self.channel.backlog.clear()
        self.plain = memoryview(b"")

    def _drain(self, deliver: Callable[[bytes], None]) -> str | None:
        """Plaintext out of the TLS layer; a reason when the peer's side is closed."""
        tls, view = self.channel.tls, self.view
        filled = 0
        closed_by: str | None = None
        while True:
            try:
                # With a buffer, read() returns a count (typeshed says bytes).
                got = cast(int, tls.read(CHUNK - filled, view[filled:]))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                closed_by = "peer closed"
                break
            except ssl.SSLEOFError:
                closed_by = "peer closed (no close_notify)"
                break
            except ssl.SSLError as exc:
                # An alert after the handshake (TLS 1.3 servers refuse a
                # client certificate only now): the TLS session failed.
                code, message = describe_ssl_error(exc)
                raise SessionFailed(f"TLS error {code}",
                                    TlsFailed("tls", self.where, message, code)) from None
            if not got:
                closed_by = "peer closed"
                break
            filled += got
            if filled == CHUNK:
                deliver(bytes(view[:filled]))
                filled = 0
        if filled:
            deliver(bytes(view[:filled]))
        self.channel.collect()  # a read can make TLS write (a KeyUpdate answer)
        return closed_by


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
