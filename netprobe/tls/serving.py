"""``listen --tls``: a TLS layer between a client's TCP transport and the server's protocol.

Design decision: netprobe's own TLS layer (an SSLObject over memory BIOs)
under the unchanged ``serve.Connection``, rather than
``loop.create_server(ssl=...)``.  asyncio and uvloop both run TLS
themselves when given a context, but a client whose handshake fails is
then invisible: the failure is an OSError, which both loops only log in
debug mode, and the protocol never hears of the client.  The SPEC wants a
failed client handshake as a trace line (with the client's address and
OpenSSL's reason) and the accepted client's version, cipher, ALPN and SNI
in its ``accepted`` event.  ``loop.start_tls()`` on an accepted plain
connection was rejected too: uvloop starts reading right after
connection_made, so a ClientHello could arrive before start_tls takes
over and be lost.  The layer below is the few lines of asyncio's
sslproto that matter here, the same in both loops: data in, decrypted
data to the protocol; the protocol's writes encrypted to the transport;
close() sends close_notify first; flow control passes straight through
(the TLS layer buffers nothing of its own between calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import TYPE_CHECKING, Any, Protocol

from netprobe.events import ms
from netprobe.tls.context import remembered_sni
from netprobe.tls.errors import describe_ssl_error

if TYPE_CHECKING:
    from netprobe.schema import AcceptedTlsFields

#: Plaintext handed to the protocol per read of the TLS layer.
CHUNK = 256 * 1024
#: A client that has not finished its handshake by then is dropped (asyncio's default too).
HANDSHAKE_TIMEOUT = 60.0


class HandshakeSlots(Protocol):
    """The server's --max-clients, asked for a client still in its handshake.

    Design decision: a client counts against --max-clients from its accept
    on, not from the end of its handshake.  The ``Connection`` (and with it
    the server's admission) only sees a client once its handshake is done,
    so clients that connect and stall mid-handshake were counted nowhere:
    thousands of them held a descriptor and ~50 KB each (the SSLObject and
    its buffers) for HANDSHAKE_TIMEOUT, bounded by nothing but the
    descriptor limit.  Now a slot is taken at accept and given back when
    the handshake ends either way; a client that finds no slot is turned
    away as a plain TCP one is (``accepted`` with ``served`` false, then
    ``closed`` with reason ``max-clients``), without a handshake.
    """

    def take_handshake_slot(self) -> bool:
        """A slot for a client starting its handshake; False: none is free."""

    def give_back_handshake_slot(self) -> None:
        """Its handshake ended (done, failed or cut): the slot is free again."""


def handshake_fields(tls: ssl.SSLObject) -> AcceptedTlsFields:
    cipher = tls.cipher()
    return {"version": tls.version(), "cipher": cipher[0] if cipher else None,
            "alpn": tls.selected_alpn_protocol(), "sni": remembered_sni(tls)}


class TlsTransport(asyncio.Transport):
    """What the server's protocol sees: a transport that encrypts what it writes."""

    def __init__(self, layer: TlsLayer) -> None:
        super().__init__()
        self._layer = layer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        layer = self._layer
        if layer.closing:
            return
        layer.tls.write(data)
        layer.flush()

    def close(self) -> None:
        self._layer.close()

    def abort(self) -> None:
        self._layer.raw.abort()

    def is_closing(self) -> bool:
        return self._layer.closing or self._layer.raw.is_closing()

    def pause_reading(self) -> None:
        self._layer.raw.pause_reading()

    def resume_reading(self) -> None:
        self._layer.raw.resume_reading()

    def is_reading(self) -> bool:
        return self._layer.raw.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._layer.raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._layer.raw.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._layer.tls
        if name == "netprobe_tls":
            # None for a client turned away before any handshake (--max-clients).
            return handshake_fields(self._layer.tls) if self._layer.established else None
        return self._layer.raw.get_extra_info(name, default)


class TlsLayer(asyncio.Protocol):
    """One client: the handshake, then TLS records to and from ``inner``."""

    def __init__(self, context: ssl.SSLContext, inner: asyncio.Protocol,
                 failed: Any, slots: HandshakeSlots | None = None,
                 idle_timeout: float | None = None) -> None:
        self.context = context
        self.inner = inner
        #: failed(peer, code, message, elapsed_ms): the handshake did not complete.
        self.failed = failed
        self.raw: asyncio.Transport = None  # type: ignore[assignment]
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.slots = slots
        #: A --max-clients slot is held for the handshake (see HandshakeSlots).
        self.holds_slot = False
        self.handshaking = True
        #: The handshake completed: there is a TLS session to read, write and close.
        self.established = False
        self.closing = False
        self.started = 0.0
        #: --idle-timeout holds during the handshake too: when its last bytes came.
        self.idle_timeout = idle_timeout
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.transport = TlsTransport(self)

    # --- towards the client -------------------------------------------------------

    def flush(self) -> None:
        if self.outgoing.pending:
            self.raw.write(self.outgoing.read())

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        if self.established:
            with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                self.tls.unwrap()  # close_notify; the client's is not awaited
            self.flush()
        self.raw.close()

    # --- from the client -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        self.started = self.last = time.monotonic()
        if self.slots is not None:
            if not self.slots.take_handshake_slot():
                # No slot: the protocol turns it away at once, as a TCP client.
                self.handshaking = False
                self.inner.connection_made(self.transport)
                return
            self.holds_slot = True
        self._arm(self.started)

    def _arm(self, now: float) -> None:
        """The handshake's timer: its deadline, or --idle-timeout after its last bytes."""
        due = self.started + HANDSHAKE_TIMEOUT
        if self.idle_timeout is not None:
            due = min(due, self.last + self.idle_timeout)
        self.timer = asyncio.get_running_loop().call_later(max(due - now, 0.0), self._too_slow)

    def _too_slow(self) -> None:
        # One timer, re-armed for what is left rather than reset on every
        # read (as serve.stream's idle check): a read only stores the time.
        self.timer = None
        if not self.handshaking:
            return
        now = time.monotonic()
        if now - self.started >= HANDSHAKE_TIMEOUT:
            self._fail("ETIMEDOUT", f"no TLS handshake within {HANDSHAKE_TIMEOUT:g} s")
        elif self.idle_timeout is not None and now - self.last >= self.idle_timeout:
            self._fail("ETIMEDOUT", f"idle for {self.idle_timeout:g} s during the TLS "
                       "handshake (--idle-timeout)")
        else:
            self._arm(now)

    def _give_back_slot(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            assert self.slots is not None
            self.slots.give_back_handshake_slot()

    def _fail(self, code: str, message: str) -> None:
        self._give_back_slot()
        if self.handshaking and not self.closing:
            self.failed(self.raw.get_extra_info("peername"), code, message,
                        ms(time.monotonic() - self.started))
        self.closing = True
        self.flush()  # the alert, so the client learns why
        self.raw.close()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # turned away, or failed: nothing more is read
        self.incoming.write(data)
        if self.handshaking:
            self.last = time.monotonic()
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self.flush()
                return
            except ssl.SSLError as exc:
                self._fail(*describe_ssl_error(exc))
                return
            self.flush()
            self.handshaking = False
            self.established = True
            if self.timer is not None:
                self.timer.cancel()
            # Given back first: the protocol's admission counts this client itself.
            self._give_back_slot()
            self.inner.connection_made(self.transport)
        self._drain()

    def _drain(self) -> None:
        while not self.closing:
            try:
                data = self.tls.read(CHUNK)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._end_of_input()
                break
            except ssl.SSLError:
                self.raw.abort()
                break
            if not data:
                self._end_of_input()
                break
            self.inner.data_received(data)
        self.flush()

    def _end_of_input(self) -> None:
        """The client's close_notify (or its FIN): as a TCP half-close to the protocol."""
        keep_open = self.inner.eof_received()
        if not keep_open:
            self.close()

    def eof_received(self) -> bool | None:
        if self.handshaking:
            self._fail("UNEXPECTED_EOF_WHILE_READING",
                       "the client closed the connection during the handshake")
            return None
        self.incoming.write_eof()
        self._drain()
        return True  # the layer closes (after the protocol's last writes)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self._give_back_slot()
        if self.handshaking:
            if not self.closing:
                self.failed(self.raw.get_extra_info("peername"), "ECONNRESET",
                            "the client went away during the handshake",
                            ms(time.monotonic() - self.started))
            return
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
