"""``connect --tls``: TLS on the connection the attempts made (the glue between the two).

The TLS machinery itself is ``netprobe.tls`` (imported only with --tls,
as this module is).

TLS runs on the candidate that connected: after open_clientfd's first
success, on the winner of a Happy Eyeballs race (the race is on TCP: racing
handshakes would send ClientHellos to servers that will be dropped), on
every candidate with ``--all``, and in each ``--wait`` round (a round
succeeds only when its handshake does).  The handshake is bounded by
``--timeout``, like each connect.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Sequence

from netprobe.addrinfo import Candidate
from netprobe.connect.attempts import Attempt, Outcome, Plan, failure
from netprobe.connect.clientfd import open_clientfd
from netprobe.errors import CheckFailed, NetprobeError, TimedOut, TlsFailed
from netprobe.events import Clock, Trace, monotonic, no_trace
from netprobe.syscalls import sys_close
from netprobe.tls.channel import TlsChannel, client_handshake
from netprobe.tls.context import TlsOptions, check, client_context, names
from netprobe.tls.relay import relay_tls


class TlsClient:
    """The TLS options checked and the context made once (before connecting); a handshake each."""

    def __init__(self, host: str, options: TlsOptions, stage: str = "connect") -> None:
        check(options, stage)
        self.host = host
        self.options = options
        # Made before any connection: loading the trust store takes
        # milliseconds and is not part of the handshake's time; a bad --ca
        # or --cert is a usage error before anything is sent.  (With
        # --insecure the system store waits for a prediction that needs it:
        # netprobe.tls.context.)
        self.context = client_context(options, stage)
        if names(host, options)[0] is None:
            # --sni '': no name to send, so none to check (ssl refuses
            # check_hostname without one); the chain is still verified.
            self.context.check_hostname = False

    def handshake(self, sock: socket.socket, where: str, timeout: float | None, *,
                  trace: Trace = no_trace, clock: Clock = monotonic) -> TlsChannel:
        return client_handshake(sock, self.host, self.options, self.context, timeout=timeout,
                                where=where, trace=trace, clock=clock)


def close_after_check(channel: TlsChannel, trace: Trace = no_trace) -> None:
    """``--check``: say goodbye properly (close_notify), then close."""
    with contextlib.suppress(OSError):
        channel.sock.setblocking(False)
        channel.close_notify()
        channel.flush()
    sys_close(trace, channel.sock)


def connect_every_tls(
    candidates: Sequence[Candidate],
    plan: Plan,
    where: str,
    client: TlsClient,
    timeout: float | None,
    *,
    trace: Trace = no_trace,
) -> list[Attempt]:
    """``--all --tls``: every candidate connects and completes a handshake, or it fails.

    The first failure decides the exit status: a candidate that did not
    connect (4/5, as without --tls), else the first failed handshake (7,
    or 5 when it timed out, or 6 for --min-days).
    """
    attempts = open_clientfd(candidates, plan, every=True, trace=trace)
    first_error: NetprobeError | None = None
    try:
        for attempt in attempts:
            if attempt.sock is None:
                continue
            sock, attempt.sock = attempt.sock, None
            try:
                channel = client.handshake(sock, where, timeout, trace=trace)
            except (TlsFailed, TimedOut, CheckFailed) as exc:
                first_error = first_error or exc
                continue
            close_after_check(channel, trace)
    finally:
        for attempt in attempts:
            if attempt.sock is not None:
                sys_close(trace, attempt.sock)
                attempt.sock = None
    if len(attempts) < len(candidates) or any(a.outcome is not Outcome.CONNECTED
                                              for a in attempts):
        raise failure(where, attempts)
    if first_error is not None:
        raise first_error
    return attempts


def talk_tls(channel: TlsChannel, *, check: bool, stdin: int | None, send: bytes | None,
             expect: re.Pattern[bytes] | None, timeout: float | None, where: str,
             trace: Trace, output: Callable[[bytes], None]) -> None:
    """The data phase over TLS, as ``commands.connect._talk`` runs it over TCP.

    ``trace`` takes the events, ``output`` the peer's bytes (a renderer's
    ``payload``), as for ``relay``.
    """
    try:
        if check and expect is None:
            close_after_check(channel, trace)
            trace("closed", {"bytes_in": 0, "bytes_out": 0, "duration_ms": 0.0,
                             "reason": "check"})
            return
        relay_tls(channel, stdin=stdin, send=send, output=output, expect=expect,
                  timeout=timeout, half_close=not check, where=where, trace=trace)
    finally:
        sys_close(trace, channel.sock)
