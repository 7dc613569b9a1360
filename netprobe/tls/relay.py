"""The data phase over TLS: what ``relay`` does for TCP, with a TLS layer in between.

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
import os
import re
import select
import selectors
import socket
import ssl
from collections.abc import Callable
from typing import cast

from netprobe.errors import CheckFailed, TlsFailed
from netprobe.events import Clock, Trace, monotonic, no_trace
from netprobe.tls.channel import TlsChannel, describe_ssl_error

#: Plaintext taken from stdin and handed to the TLS layer at once.
CHUNK = 256 * 1024
#: --expect matches against at most this much of the peer's latest data.
EXPECT_WINDOW = 1024 * 1024


class TlsTransfer:
    """What the data phase moved, and why it ended (the ``closed`` event)."""

    __slots__ = ("bytes_in", "bytes_out", "duration", "reason")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0
        self.duration = 0.0
        self.reason = ""


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
) -> TlsTransfer:
    """Relay both ways over ``channel`` until the peer closes (or --expect decides)."""
    sock = channel.sock
    tls = channel.tls
    start = clock()
    transfer = TlsTransfer()
    window = bytearray()
    deadline = start + timeout if (expect is not None and timeout is not None) else None
    plain = memoryview(send) if send is not None else memoryview(b"")
    reading_stdin = send is None and stdin is not None
    write_open = True
    selector = selectors.PollSelector()
    sock.setblocking(False)
    stdin_registered = False
    sock_events = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)

    def finish(reason: str) -> TlsTransfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", {"bytes_in": transfer.bytes_in, "bytes_out": transfer.bytes_out,
                         "duration_ms": round(transfer.duration * 1000, 3), "reason": reason})
        return transfer

    # Why the relay ends once our own sending is done, as over TCP:
    # "expect matched" or the peer's close.  Neither cuts our side short:
    # --send (and what stdin already holds) is written in full, then
    # close_notify, before the end.
    ending: str | None = None
    peer_open = True

    def end() -> TlsTransfer:
        done = finish(ending or "")
        if expect is not None and not matched:
            raise CheckFailed("expect", _text(expect),
                              f"the peer closed without a match ({done.bytes_in} bytes received)",
                              "EXPECT")
        return done

    def drain() -> str | None:
        """Plaintext out of the TLS layer; a reason when the peer's side is closed."""
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
                finish(f"TLS error {code}")
                raise TlsFailed("tls", where, message, code) from None
            if not got:
                closed_by = "peer closed"
                break
            filled += got
            if filled == CHUNK:
                deliver(filled)
                filled = 0
        if filled:
            deliver(filled)
        channel.collect()  # a read can make TLS write (a KeyUpdate answer)
        return closed_by

    matched = False

    def deliver(size: int) -> None:
        nonlocal matched, ending
        data = bytes(view[:size])
        transfer.bytes_in += size
        output(data)
        if expect is not None and not matched:
            window.extend(data)
            if len(window) > EXPECT_WINDOW:
                del window[: len(window) - EXPECT_WINDOW]
            matched = expect.search(window) is not None
            if matched and ending is None:
                ending = "expect matched"

    def stop_sending() -> None:
        nonlocal plain, reading_stdin, write_open
        channel.backlog.clear()
        plain, reading_stdin, write_open = memoryview(b""), False, False

    try:
        while True:
            if ending is not None and reading_stdin and not plain:
                assert stdin is not None
                chunk = _read_if_ready(stdin)
                if chunk:
                    plain = memoryview(chunk)
                else:
                    reading_stdin = False
            # Plaintext goes into TLS only when what it made before is sent.
            if plain and write_open and not channel.backlog:
                size = min(len(plain), CHUNK)
                try:
                    tls.write(plain[:size])
                except ssl.SSLError:
                    stop_sending()  # the session is closing: nothing more can go
                else:
                    transfer.bytes_out += size
                    plain = plain[size:]
                    channel.collect()
            if write_open and half_close and not plain and not reading_stdin:
                channel.close_notify()
                write_open = False
            if channel.backlog:
                try:
                    channel.flush()
                except (BrokenPipeError, ConnectionResetError):
                    stop_sending()  # the peer takes no more; keep reading what it sends
            if not write_open and not channel.backlog and half_close:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            if ending is not None and not plain and not channel.backlog:
                return end()
            want_stdin = reading_stdin and not plain and not channel.backlog
            if want_stdin != stdin_registered:
                assert stdin is not None
                if want_stdin:
                    selector.register(stdin, selectors.EVENT_READ)
                else:
                    selector.unregister(stdin)
                stdin_registered = want_stdin
            events = ((selectors.EVENT_READ if peer_open else 0)
                      | (selectors.EVENT_WRITE if channel.backlog else 0))
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
                    raise CheckFailed("expect", _text(expect),
                                      f"matched, but {len(plain)} bytes of the payload were "
                                      f"not taken by the peer within {timeout:g} s", "EXPECT")
                finish("expect timed out")
                raise CheckFailed("expect", _text(expect),
                                  f"no match within {timeout:g} s "
                                  f"({transfer.bytes_in} bytes received)", "EXPECT")
            for key, mask in ready:
                if key.fileobj is sock:
                    if mask & selectors.EVENT_READ and peer_open:
                        try:
                            channel.feed()
                        except (BlockingIOError, InterruptedError):
                            pass
                        except ConnectionResetError:
                            channel.incoming.write_eof()
                            drain()
                            # Nothing more can be sent either: end now.
                            stop_sending()
                            ending = ending or "reset by peer"
                            continue
                        closed_by = drain()
                        if closed_by is not None:
                            peer_open = False
                            ending = ending or closed_by
                    # EVENT_WRITE: the flush at the top of the loop sends it.
                elif reading_stdin and not plain:
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        reading_stdin = False
                    else:
                        plain = memoryview(chunk)
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


def _text(pattern: re.Pattern[bytes] | None) -> str:
    return pattern.pattern.decode("utf-8", "replace") if pattern is not None else ""
