"""A TLS connection over an already-connected socket, and the client handshake made visible.

Design decision: an SSLObject over two memory BIOs, not an SSLSocket.
The socket is connected by netprobe's own attempts (sequential, --all,
Happy Eyeballs), so TLS has to start on a socket that exists.  Both would
do that, but the memory BIOs give netprobe what it needs from the TLS
layer and an SSLSocket hides:

* Every byte between the TLS layer and the kernel passes through netprobe,
  so the relay polls the raw descriptor and knows exactly when the TLS
  object still holds decrypted data (it never does after a drain) or
  encrypted data not yet sent (``backlog``), with no SSLWantWrite games on
  a non-blocking SSLSocket.
* Half-close: SSLSocket.shutdown(SHUT_WR) throws the TLS state away, and
  its unwrap() waits for the peer's close_notify, discarding the data that
  comes first.  Here close_notify is produced into the outgoing BIO while
  the incoming one is empty, and reading goes on until the peer's own
  close_notify: an echo server's last bytes arrive.
* A failed handshake leaves the SSLObject intact (SSLSocket's connect path
  closes it), so the chain the server sent can still be read.

Design decision: what was negotiated, even when the certificate fails.
A handshake stopped by verification never reaches its end, and Python's
SSLObject answers ``version()`` only at the end (``cipher()`` too under
TLS 1.2), although OpenSSL accepted the ServerHello and judged the
certificate that came with it: "TLSv1.3, TLS_AES_256_GCM_SHA384,
certificate expired 3 days ago" is what a user needs to see.  The
handshake still verifies, so the verdict, its X509_V_ERR_* code and depth
are OpenSSL's own, the server gets the usual bad-certificate alert, and a
``--cert`` is never presented to a server that failed.  What OpenSSL does
answer is taken from it (ALPN always, the cipher under TLS 1.3); the
version, and the cipher under TLS 1.2, from the ServerHello as it came
(``wire.server_hello``), the suite named by the context's own table
(``get_ciphers()``: the names ``cipher()`` gives).  Rejected: a handshake
without verification followed by the ``--insecure`` replay's verdict, the
data phase held back on failure -- the verdict would be a replay's, the
server would see a completed handshake and the client certificate.  These
fields are filled in whenever OpenSSL got the server's certificate (so it
had taken the ServerHello); a peer refused before (a plain TCP peer)
leaves them null.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from netprobe.errors import CheckFailed, TimedOut, TlsFailed
from netprobe.events import Clock, Trace, monotonic, ms, no_trace, wants_of
from netprobe.syscalls import sys_close
from netprobe.tls.context import SETTINGS_LOCK, TlsOptions, names
from netprobe.tls.errors import (
    HOSTNAME_MISMATCH,
    IP_ADDRESS_MISMATCH,
    describe_os_error,
    describe_ssl_error,
    x509_name,
)
from netprobe.tls.verify import failure_depth, matched_name, peer_chain, predict_verification

if TYPE_CHECKING:
    from netprobe.schema import TlsEvent, VerifyErrorFields

#: Raw bytes read from the socket at once in the data phase (as many as a
#: chunk of plaintext, netprobe.tls.relay.TLS_READ, says why).
RAW_CHUNK = 1024 * 1024
#: ... and during the handshake, whose messages are a few KiB.
HANDSHAKE_READ = 256 * 1024
#: What the handshake keeps of the server's bytes, for its ServerHello (at the
#: start, or after a HelloRetryRequest's few hundred bytes).
HELLO_KEPT = 64 * 1024


def ascii_name(name: str | None) -> str | bytes | None:
    """``server_hostname`` for ssl: an ASCII name as the bytes ssl would make of it.

    ssl encodes a str with the "idna" codec, whose import (encodings.idna,
    stringprep, unicodedata) costs some 3 ms; for an ASCII name the codec
    returns the name's own bytes once its labels are 1-63 characters (the
    last may be empty: a trailing dot), and ssl takes bytes as they are
    (decoded as ASCII).  Any other name stays a str: the codec decides,
    its errors included.
    """
    if name is None or not name.isascii():
        return name
    *labels, last = name.split(".")
    if len(last) < 64 and all(0 < len(label) < 64 for label in labels):
        return name.encode("ascii")
    return name


class TlsChannel:
    """An SSLObject, its memory BIOs and the socket under them."""

    __slots__ = ("_raw_view", "backlog", "incoming", "outgoing", "received", "sock",
                 "tls")

    def __init__(self, sock: socket.socket, context: ssl.SSLContext,
                 server_hostname: str | None, server_side: bool = False) -> None:
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        # The context's settings are copied now: not while a replay has them switched.
        with SETTINGS_LOCK:
            self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                        server_hostname=ascii_name(server_hostname))
        #: Encrypted bytes the socket has not taken yet, in the order to send
        #: them (views, so a partial send costs no copy).
        self.backlog: deque[memoryview] = deque()
        #: The start of what the server sent during the handshake (see HELLO_KEPT).
        self.received = bytearray()
        #: The data phase's read buffer, made by its first read (not for --check).
        self._raw_view: memoryview | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    # --- the handshake (blocking, bounded by a deadline) ------------------------------

    def handshake(self, deadline: float | None, clock: Clock = monotonic) -> None:
        """Run the handshake to its end; SSLError, OSError or TimeoutError if it fails."""
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self._send_blocking(deadline, clock)
                data = self._recv_blocking(deadline, clock)
                if data:
                    self.incoming.write(data)
                    if len(self.received) < HELLO_KEPT:
                        self.received += data
                else:
                    self.incoming.write_eof()
                continue
            except ssl.SSLError:
                self._send_alert()
                raise
            self._send_blocking(deadline, clock)
            return

    def _remaining(self, deadline: float | None, clock: Clock) -> float | None:
        if deadline is None:
            return None
        left = deadline - clock()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def _send_blocking(self, deadline: float | None, clock: Clock) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.settimeout(self._remaining(deadline, clock))
            self.sock.sendall(data)

    def _recv_blocking(self, deadline: float | None, clock: Clock) -> bytes:
        self.sock.settimeout(self._remaining(deadline, clock))
        return self.sock.recv(HANDSHAKE_READ)

    def _send_alert(self) -> None:
        """Best effort: the alert OpenSSL wrote, so the peer learns why (bad certificate...)."""
        data = self.outgoing.read()
        if data:
            try:
                self.sock.setblocking(False)
                self.sock.send(data)
            except OSError:
                pass

    # --- the data phase (non-blocking socket) ----------------------------------------

    def collect(self) -> None:
        """Move what the TLS layer wrote into the backlog."""
        if self.outgoing.pending:
            self.backlog.append(memoryview(self.outgoing.read()))

    def flush(self) -> None:
        """Send as much of the backlog as the socket takes now (OSError if it is gone)."""
        self.collect()
        backlog = self.backlog
        while backlog:
            head = backlog[0]
            try:
                sent = self.sock.send(head)
            except (BlockingIOError, InterruptedError):
                return
            if sent < len(head):
                backlog[0] = head[sent:]
                return  # the socket is full: wait for poll to say it has room
            backlog.popleft()

    def feed(self, limit: int = RAW_CHUNK) -> bool:
        """Read what the socket has (up to ``limit`` bytes) into the TLS layer; False at EOF."""
        raw = self._raw_view
        if raw is None:
            raw = self._raw_view = memoryview(bytearray(RAW_CHUNK))
        size = self.sock.recv_into(raw, min(limit, RAW_CHUNK))
        if not size:
            self.incoming.write_eof()
            return False
        self.incoming.write(raw[:size])
        return True

    def close_notify(self) -> None:
        """Send close_notify (the TLS half-close) and keep reading.

        unwrap() sends close_notify, then tries to read the peer's and finds
        the incoming BIO empty (the relay drains it before coming here), so
        it stops with SSLWantReadError and no application data is lost.
        """
        with contextlib.suppress(ssl.SSLError, OSError, ValueError):
            self.tls.unwrap()
        self.collect()


# --- the client handshake and what it saw -----------------------------------------------


def client_handshake(
    sock: socket.socket,
    host: str,
    options: TlsOptions,
    context: ssl.SSLContext,
    *,
    timeout: float | None,
    where: str,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> TlsChannel:
    """The handshake on a connected socket; emits ``tls``; raises TlsFailed, TimedOut, CheckFailed.

    ``context`` is ``client_context(options)`` (made before connecting, so
    loading the trust store is not counted as handshake time).
    """
    server_hostname, sni = names(host, options)
    channel = TlsChannel(sock, context, server_hostname)
    trace("tls_started", {"sni": sni, "alpn_offered": list(options.alpn),
                          "verify": not options.insecure})
    start = clock()
    deadline = start + timeout if timeout is not None else None
    failure: tuple[str, str] | None = None
    verify_code: int | None = None
    verify_message = ""
    timed_out = False
    try:
        channel.handshake(deadline, clock)
    except ssl.SSLCertVerificationError as exc:
        verify_code, verify_message = exc.verify_code, exc.verify_message
    except ssl.SSLError as exc:
        failure = describe_ssl_error(exc)
    except TimeoutError:
        timed_out = True
    except OSError as exc:
        failure = describe_os_error(exc)
    elapsed = clock() - start
    wanted = wants_of(trace)("tls")
    if not wanted and (failure is None and verify_code is None and not timed_out
                       and options.min_days is None):
        channel.received = bytearray()  # nobody reads the event, nothing depends on it
        return channel
    fields = _tls_fields(channel, options, server_hostname, sni, verify_code, verify_message,
                         elapsed, predict=wanted)
    channel.received = bytearray()  # read: its memory goes
    trace("tls", fields)
    if timed_out:
        error: TlsFailed | TimedOut | CheckFailed = TimedOut(
            "tls", where, f"no TLS handshake within {timeout:g} s", "ETIMEDOUT")
    elif failure is not None:
        error = TlsFailed("tls", where, failure[1], failure[0])
    elif verify_code is not None:  # the handshake's own verdict (not --insecure's prediction)
        problem = fields["verify_error"]
        assert problem is not None
        depth = problem["depth"]
        error = TlsFailed("tls", where, verify_message
                          + (f" (depth {depth})" if depth is not None else ""), problem["code"])
    else:
        error_or_none = _min_days(fields, options, where)
        if error_or_none is None:
            return channel
        error = error_or_none
    error.extra = {"tls": fields}
    sys_close(trace, sock)
    raise error


def _min_days(fields: TlsEvent, options: TlsOptions, where: str) -> CheckFailed | None:
    if options.min_days is None:
        return None
    for depth, cert in enumerate(fields["chain"]):
        if cert["seconds_left"] < options.min_days * 86400:
            when = (f"expired {-cert['days_left']} days ago" if cert["seconds_left"] < 0
                    else f"expires in {cert['days_left']} days")
            return CheckFailed("tls", where,
                               f"certificate at depth {depth} ({cert['subject']}) {when}, "
                               f"within --min-days {options.min_days}", "MIN_DAYS")
    return None


# Design decision: the ``tls`` event is built only when a trace wants it
# (``events.wants_of``) or the outcome depends on it.  Building it costs
# more than a handshake on loopback: the chain is described with
# cryptography (~75 ms to import) and, under --insecure, the verdict is
# predicted against the system trust store (~50 ms to load).  Under -q
# without --json nothing shows it, so a handshake that succeeded with no
# --min-days returns without it.  What the exit status and the one-line
# error depend on is always worked out: a failed handshake or
# verification (the X509_V_ERR_* name and the depth are in the message),
# a timeout, --min-days (the chain's dates).  Those fields are built
# whole, except that an unwanted event skips --insecure's prediction: it
# never changes the outcome, only what the event says ("verification":
# "none" then, nothing checked); the error's ``extra`` that carries the
# fields is only written with --json, whose trace wants every event.


def _tls_fields(channel: TlsChannel, options: TlsOptions, server_hostname: str | None,
                sni: str | None, verify_code: int | None, verify_message: str,
                elapsed: float, *, predict: bool = True) -> TlsEvent:
    """The SPEC's ``tls`` event: what the handshake negotiated and the chain, verified or not.

    ``predict``: under --insecure, say what verification would have said.
    """
    from netprobe.tls.certs import describe_chain, is_rsa, load_der

    tls = channel.tls
    chain, complete = peer_chain(tls, "get_unverified_chain")
    built: list[bytes] = []
    verification = "handshake"
    if verify_code is None and options.insecure and not predict:
        verification = "none"
    elif verify_code is None and options.insecure:
        # What verification would have said: OpenSSL's own verdict on the
        # same chain (see netprobe.tls.verify, "what verification would say").
        verification = "predicted"
        predicted = predict_verification(tls.context, server_hostname, chain,
                                         is_rsa(chain[0]) if chain else True)
        if predicted is None:
            verification = "unknown"
        elif predicted[0] != 0:
            verify_code, verify_message, built = predicted
    elif verify_code is not None:
        built, _ = peer_chain(tls, "get_verified_chain")
    verify_error: VerifyErrorFields | None = None
    if verify_code is not None:
        depth = failure_depth(verify_code, [load_der(der) for der in built])
        verify_error = {"code": x509_name(verify_code), "number": verify_code,
                        "message": verify_message, "depth": depth}
    described = describe_chain(chain)
    hostname_match = None
    if (described and server_hostname is not None
            and verify_code not in (HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH)):
        hostname_match = matched_name(described[0]["san"], server_hostname)
    handshake_done = tls.version() is not None
    negotiated = _negotiated(channel, bool(chain))
    return {
        "version": negotiated.version,
        "cipher": negotiated.cipher,
        "cipher_bits": negotiated.bits,
        "alpn": negotiated.alpn,
        "sni": sni,
        "verified": (verify_code is None and verification not in ("unknown", "none")
                     and (handshake_done or verification == "predicted")),
        "verification": verification if not options.insecure or chain else "none",
        "verify_error": verify_error,
        "hostname": server_hostname,
        "hostname_match": hostname_match,
        "chain": described,
        "chain_complete": complete,
        "elapsed_ms": ms(elapsed),
    }


class Negotiated(NamedTuple):
    """The protocol version, cipher suite (and its secret bits) and ALPN protocol agreed."""

    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    alpn: str | None = None


def _negotiated(channel: TlsChannel, certificate_seen: bool) -> Negotiated:
    """What the handshake agreed on, finished or stopped at the certificate (see the top)."""
    tls = channel.tls
    cipher = tls.cipher()
    version = tls.version()
    if version is not None:  # the handshake's end: OpenSSL says it all
        return Negotiated(version, cipher[0] if cipher else None, cipher[2] if cipher else None,
                          tls.selected_alpn_protocol())
    if not certificate_seen:
        return Negotiated()
    from netprobe.tls.wire import server_hello  # a failed handshake's only

    hello = server_hello(bytes(channel.received))
    if hello is None:
        return Negotiated()
    name: str | None
    bits: int | None
    if cipher is not None:
        name, bits = cipher[0], cipher[2]
    else:
        name, bits = _suite_name(tls.context, hello.suite)
    return Negotiated(hello.version_name, name, bits, tls.selected_alpn_protocol())


def _suite_name(context: ssl.SSLContext, suite: int) -> tuple[str | None, int | None]:
    """OpenSSL's name and secret bits of the cipher suite numbered ``suite`` (one it offered)."""
    for entry in context.get_ciphers():
        if entry["id"] & 0xFFFF == suite:
            return entry["name"], entry["strength_bits"]
    return None, None
