"""Rounds: resolve, connect by the command's rules, TLS on the winner; again and again with --wait.

``connect``, ``check`` and the probes of ``connect --count`` all ask the
same question, "does this destination accept, and on which address", and
this module is where it is asked.  One round is one call of
``connect_round``:

1. resolve (a ``Resolve`` the caller gives: getaddrinfo, the DNS view of
   ``--server``, or a resolution kept from before), bounded by the attempt
   timeout and what is left of a ``--wait`` deadline;
2. connect by the rules of a ``Method``: open_clientfd's first success,
   ``--all`` (every candidate), or the Happy Eyeballs race;
3. with ``--tls``, the handshake on the candidate that connected;
4. with an ``Exchange``, the data phase on that connection, which is then
   closed (``talk``): ``-z``'s close, ``--send``/``--expect``, a datagram
   and its answer.

Design decision: a round returns what happened (``Round``), it does not
raise.  Each caller has its own policy for a failure: ``connect`` raises it
(or, with --wait, retries the failures a later round can mend:
``RETRIED``), ``check`` turns it into a verdict for the summary, a probe
into a line and a statistic.  All three need the same facts, which the
error alone does not carry: the attempt the round ended on (the winner
even when its handshake failed), the attempts made, the time.

Design decision: the resolution is a parameter, not a host and a service.
``connect`` explains a failed lookup (--explain) and may ask a DNS server
instead of getaddrinfo; ``check`` skips the bounding thread for a numeric
address; a probe resolves once, or for every probe with --resolve-each.
The rounds only bound it in time.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable

from netprobe.addrinfo import Resolution
from netprobe.connect.attempts import (
    Attempt,
    AttemptsFailed,
    CandidatesFailed,
    Connected,
    Outcome,
    Plan,
)
from netprobe.connect.clientfd import connect_every, connect_sequential
from netprobe.connect.data import relay, relay_datagrams, usable_stdin
from netprobe.connect.happy_eyeballs import DEFAULT_DELAY, happy_eyeballs
from netprobe.errors import NetprobeError, ResolutionFailed, TimedOut, TlsFailed
from netprobe.events import (
    Clock,
    PayloadSink,
    Trace,
    monotonic,
    ms,
    no_payload,
    wants_of,
)
from netprobe.record import Record, field
from netprobe.syscalls import sys_close

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Protocol

    from netprobe.schema import ClosedEvent, RoundEvent
    from netprobe.tls.channel import TlsChannel

    class Handshaker(Protocol):
        """``--tls``: the handshake on a connected socket (``connect.tls.TlsClient`` is one)."""

        def handshake(self, sock: socket.socket, where: str, timeout: float | None, *,
                      trace: Trace = ..., clock: Clock = ...) -> TlsChannel: ...

# --udp --check waits this long for an ICMP port-unreachable (or a reply).
# On loopback and LANs the ICMP error arrives within a millisecond; a second
# covers slow paths without making a check of an open port (which answers
# nothing at all) feel hung.  --timeout shortens it.
UDP_PROBE_WAIT = 1.0

#: Resolves the destination within a bound (seconds; None for none).
Resolve = Callable[[float | None], Resolution]

#: The failures a later --wait round may mend (a name not yet in DNS, a
#: server not yet listening, a handshake before its certificate is in place).
#: Anything else (a bad --source, --min-days) is raised at once.
RETRIED = (ResolutionFailed, CandidatesFailed, TimedOut, TlsFailed)


class Method(Record):
    """How a round connects: the command's candidate rules."""

    __slots__ = ()
    _fields = ("plan", "every", "race", "he_delay", "tls")
    #: Per attempt; ``deadline`` (--wait's) cuts every attempt and the round.
    plan: Plan = field(0)
    #: --all: every candidate must connect (and, with TLS, complete a handshake).
    every: bool = field(1)
    #: --happy-eyeballs (stream sockets only: datagram connects finish at once).
    race: bool = field(2)
    he_delay: float = field(3)
    tls: Handshaker | None = field(4)

    def __new__(cls, plan: Plan, every: bool = False, race: bool = False,
                he_delay: float = DEFAULT_DELAY, tls: Handshaker | None = None) -> Method:
        return tuple.__new__(cls, (plan, every, race, he_delay, tls))


class Exchange(Record):
    """The data phase once connected (``talk``)."""

    __slots__ = ()
    _fields = ("check", "send", "expect", "timeout", "stdin")
    #: -z: close at once; with ``expect``, a banner check (stdin unread,
    #: the write side kept open).
    check: bool = field(0)
    send: bytes | None = field(1)
    expect: re.Pattern[bytes] | None = field(2)
    #: --timeout: bounds the wait for --expect's match, and --udp's wait for replies.
    timeout: float | None = field(3)
    #: Whether stdin goes to the peer (connect); never with ``send`` or ``check``.
    stdin: bool = field(4)

    def __new__(cls, check: bool = False, send: bytes | None = None,
                expect: re.Pattern[bytes] | None = None, timeout: float | None = None,
                stdin: bool = True) -> Exchange:
        return tuple.__new__(cls, (check, send, expect, timeout, stdin))


class Round:
    """What one round did: the connection it made, or the error it ended with.

    On success the connection is open (``connected.sock``, ``channel``
    with TLS) unless the round ran an exchange: it is the caller's, to
    ``talk`` on or ``close``.  With ``--all`` nothing is left open and
    ``connected`` is None.
    """

    __slots__ = ("attempts", "channel", "connected", "elapsed", "error", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        #: Seconds from the start of the round to its end (set when it ends).
        self.elapsed = 0.0
        self.connected: Connected | None = None
        self.channel: TlsChannel | None = None
        self.error: NetprobeError | None = None
        #: Every attempt of the round, in the order they started.
        self.attempts: list[Attempt] = []

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def attempt(self) -> Attempt | None:
        """The attempt the round ended on: the one that connected, else the last that failed."""
        if self.connected is not None:
            return self.connected.attempt
        return self.attempts[-1] if self.attempts else None

    @property
    def outcome(self) -> str:
        return Outcome.CONNECTED.value if self.error is None else round_outcome(self.error)

    def close(self, trace: Trace) -> None:
        """Close what the round left open, quietly (TLS: close_notify first)."""
        if self.channel is not None:
            from netprobe.connect.tls import close_after_check

            close_after_check(self.channel, trace)
        elif self.connected is not None:
            sys_close(trace, self.connected.sock)


def round_outcome(exc: NetprobeError) -> str:
    """The word for a failed round: its last attempt's outcome, else the stage's."""
    attempts = exc.attempts if isinstance(exc, AttemptsFailed) else []
    if attempts and attempts[-1].outcome is not None:
        return attempts[-1].outcome.value
    if isinstance(exc, ResolutionFailed):
        return "unresolved"
    if exc.stage == "tls":
        return "tls_failed"
    if isinstance(exc, TimedOut):
        return Outcome.TIMEOUT.value
    return Outcome.ERROR.value


def smallest(*bounds: float | None) -> float | None:
    """The tightest of some time bounds; None (or inf) is no bound."""
    tightest: float | None = None
    for bound in bounds:
        if (bound is not None and -math.inf < bound < math.inf
                and (tightest is None or bound < tightest)):
            tightest = bound
    return tightest


def connect_round(resolve: Resolve, method: Method, where: str, *,
                  exchange: Exchange | None = None, output: PayloadSink = no_payload,
                  trace: Trace, clock: Clock = monotonic) -> Round:
    """One round: resolve, connect, TLS, and with ``exchange`` the data phase (``output``).

    Never raises a NetprobeError: the round's own is in ``Round.error``.
    """
    done = Round(clock())
    plan = method.plan
    timeout = plan.timeout
    # The resolution's bound: --timeout (a finite one), and what is left of --wait's.
    bound = (smallest(timeout, _remaining(plan, done.started)) if plan.deadline is not None
             else timeout if -math.inf < timeout < math.inf else None)
    try:
        resolution = resolve(bound)
        _connect(done, resolution, method, where, trace, clock)
        if exchange is not None and done.connected is not None:
            talk(done, exchange, where=where, trace=trace, output=output)
    except NetprobeError as exc:
        done.error = exc
        if isinstance(exc, AttemptsFailed):
            done.attempts = exc.attempts
    done.elapsed = clock() - done.started
    return done


def _remaining(plan: Plan, now: float) -> float | None:
    """What is left of the --wait deadline (at least a millisecond: a bound of 0 is none)."""
    return None if plan.deadline is None else max(plan.deadline - now, 0.001)


def _connect(done: Round, resolution: Resolution, method: Method, where: str, trace: Trace,
             clock: Clock) -> None:
    plan, tls, candidates = method.plan, method.tls, resolution.candidates
    if method.every and tls is not None:
        from netprobe.connect.tls import TlsClient, connect_every_tls

        # --all --tls is connect's alone, with its TlsClient.
        assert isinstance(tls, TlsClient)
        done.attempts = connect_every_tls(
            candidates, plan, where, tls,
            smallest(plan.timeout, _remaining(plan, done.started)), trace=trace)
        return
    if method.every:
        done.attempts = connect_every(candidates, plan, where, trace=trace, clock=clock)
        return
    if method.race and resolution.hints.socktype == socket.SOCK_STREAM:
        connected = happy_eyeballs(candidates, plan, where, delay=method.he_delay, trace=trace,
                                   clock=clock)
    else:
        connected = connect_sequential(candidates, plan, where, trace=trace, clock=clock)
    done.connected, done.attempts = connected, connected.attempts
    if tls is not None:
        # TLS on the candidate that connected (the race, if any, was on TCP),
        # bounded by --timeout and by what is left of --wait's deadline now.
        # On failure the handshake has closed the socket.
        done.channel = tls.handshake(connected.sock, where,
                                     smallest(plan.timeout, _remaining(plan, clock())),
                                     trace=trace, clock=clock)


def connect_rounds(resolve: Resolve, method: Method, where: str, *, wait: float | None,
                   interval: float, trace: Trace, clock: Clock = monotonic) -> Round:
    """``connect``: one round, or with ``wait`` rounds every ``interval`` until one succeeds.

    Returns the round that succeeded; raises the round's error (without
    --wait, or one not in RETRIED), or TimedOut when --wait's deadline
    passes.  Each --wait round is a ``round`` event.
    """
    deadline = clock() + wait if wait is not None else None
    method = method._replace(plan=method.plan._replace(deadline=deadline))
    number = 0
    while True:
        number += 1
        done = connect_round(resolve, method, where, trace=trace, clock=clock)
        exc = done.error
        if deadline is None or wait is None:
            if exc is not None:
                raise exc
            return done
        now = clock()
        event: RoundEvent = {"n": number, "outcome": done.outcome,
                             "errno": exc.code if exc is not None else None,
                             "message": exc.message if exc is not None else "",
                             "elapsed_ms": ms(now - done.started),
                             "remaining_ms": ms(max(deadline - now, 0.0))}
        if exc is None:
            trace("round", event)
            return done
        if not isinstance(exc, RETRIED):
            raise exc
        trace("round", event)
        if now + interval >= deadline:
            # Sleeping past the deadline would only delay the verdict.
            time.sleep(max(deadline - now, 0.0))
            raise TimedOut("connect", where,
                           f"not connected within {wait:g} s ({number} round"
                           f"{'s' * (number != 1)}; last: {exc.message})", exc.code) from None
        time.sleep(interval)


def talk(done: Round, exchange: Exchange, *, where: str, trace: Trace,
         output: PayloadSink) -> None:
    """The data phase on the round's connection, which it then closes.

    -z closes at once; otherwise what the peer sends goes to ``output``
    (stdin or --send to the peer, both ways at once, --expect).  The
    candidate that connected decides how to talk: --socktype any or dgram
    can give a datagram socket without --udp.
    """
    connected = done.connected
    assert connected is not None
    # --check --expect: a banner check (-z --expect '^SSH-'): stdin is not
    # read, only --send is sent, and the write side stays open.
    reads_stdin = exchange.stdin and not exchange.check
    if done.channel is not None:
        from netprobe.connect.tls import talk_tls

        talk_tls(done.channel, check=exchange.check,
                 stdin=usable_stdin() if reads_stdin else None, send=exchange.send,
                 expect=exchange.expect, timeout=exchange.timeout, where=where,
                 trace=trace, output=output)
        return
    sock = connected.sock
    try:
        if exchange.check and exchange.expect is None:
            # Asked: a probe's -z close is one a run of probes does not show.
            if wants_of(trace)("closed"):
                checked: ClosedEvent = {"bytes_in": 0, "bytes_out": 0, "duration_ms": 0.0,
                                        "reason": "check"}
                trace("closed", checked)
            return
        stdin = usable_stdin() if reads_stdin else None
        # SOCK_SEQPACKET (Unix) is connected, with an EOF: it talks as a stream does.
        if connected.attempt.candidate.socktype == socket.SOCK_DGRAM:
            relay_datagrams(sock, stdin=stdin, send=exchange.send, output=output, where=where,
                            idle=exchange.timeout if exchange.timeout is not None else math.inf,
                            expect=exchange.expect, trace=trace)
        else:
            relay(sock, stdin=stdin, send=exchange.send, output=output, expect=exchange.expect,
                  timeout=exchange.timeout, half_close=not exchange.check, trace=trace)
    finally:
        sys_close(trace, sock)
