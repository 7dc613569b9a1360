"""One probe: one call of the connect core, watched.

A probe is exactly what ``connect -z`` does (with ``--send``/``--expect``
the exchange, with ``--tls`` the handshake): the command hands the probe a
function that makes that one call, and nothing here connects, resolves or
talks on its own.  What a probe adds is reading what the call did, from
the round it returns (``connect.rounds.Round``) and the events it reports:

* which candidate it ended on, and when that attempt started: a probe's
  time is that attempt's, from its socket() to established (``--tls``: to
  the end of the handshake, from the ``tls_started`` and ``tls`` events;
  ``--expect``: to the match).  The round's attempts say it: each records
  its candidate, when it started and ended, its outcome and errno;
* with ``-v``, the kernel's view of the socket (TCP_INFO) while the core
  still holds it open: at ``connected``, and for an attempt that timed out
  at its failed connect step, before the core closes it, which is the only
  moment the SYNs it sent can be counted;
* the kernel's ``why`` of a failed attempt, when the core gave it one
  (SPEC, "The kernel's side"), onto the probe.

Design decision: watch the events rather than hook the core, for what
only the moment can tell (the kernel's view of an open socket).  The
descriptor of each attempt is in the ``socket`` call the core reports
right after ``attempt_started`` (both in open_clientfd and the Happy
Eyeballs race, which start attempts one at a time), and every failed
connect is reported as a ``step`` before its socket is closed.  So the
probe needs no second code path in the core, and reads exactly the
sockets the core made.

Design decision: what the round records is read off the round, not off
events.  The attempt events (``attempt_started``, ``attempt``,
``connected``) said nothing a probe needs that the attempts do not keep,
and building them for a line that shows none was a third of a fast
probe's own cost; the core builds nothing its trace does not want
(``events.wants_of``), so without -vv they are not made.  The one order
the round's list does not keep, that in which a race's attempts ended
(the order their events came in), is their ``ended`` times'
(``finish_order``).  A call that returns no round (a test's, feeding
events by hand) is watched through the events, as before.

What a probe run publishes: the resolution (``resolving``, ``resolved``),
the ``probe`` events, ``probe_stats``, the calls (``--syscalls``) and
errors.  The events of each probe's attempts, handshake and exchange are
passed on only with ``-vv``: a run of 100 000 probes is 100 000 lines, not
half a million.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from netprobe.connect.attempts import CANCELLED, CONNECTED, Attempt
from netprobe.connect.rounds import Round
from netprobe.errors import NetprobeError
from netprobe.events import Clock, Event, Trace, Wants, monotonic, wants_of
from netprobe.probes.outcome import OK, ProbeResult, failed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.events import Fields
    from netprobe.probes.tcpinfo import TcpInfo
    from netprobe.schema import CandidateFields

#: Published whatever the verbosity (the rest only with -vv).
RUN_EVENTS = frozenset({"resolving", "resolved", "probe", "probe_stats", "syscall",
                        "syscall_summary", "error"})
#: A probe's end, by what it was asked to do: the connect, the handshake, the exchange.
ASKS = ("connect", "tls", "exchange")
#: What the watcher reads of every probe: the attempts, the connection, the handshake.
OBSERVED = frozenset({"attempt_started", "attempt", "connected", "tls_started", "tls"})
#: What it reads with -v besides: each socket's descriptor (the ``socket`` call) and
#: the failed connect step before which a timed-out socket is still open.
KERNEL_OBSERVED = frozenset({"syscall", "step"})
#: What it reads when the call returns the round (the attempts are the round's): the
#: handshake; with -v besides, which attempt a ``socket`` call is of, the connect step,
#: and the moment one connected, when its TCP_INFO is read.
ROUND_OBSERVED = frozenset({"tls_started", "tls"})
KERNEL_ROUND_OBSERVED = frozenset({"attempt_started", "connected"}) | KERNEL_OBSERVED

_FAMILIES = {"AF_INET": 2, "AF_INET6": 10}


class Watcher:
    """The trace the core reports one probe to: it notes what the probe needs and passes
    the published events on.  Its state, reset for each probe, is listed in ``begin``.

    Design decision: the watcher says what it reads (``wants``), and the core
    builds nothing else.  A loopback probe's own calls take some 45 us here
    (bench/probes.py's loop of them); the fifteen events the core reported of
    each probe (eight calls, two steps, the race's summary...) cost about as
    much again to build and drop, for the one line shown.  What the
    watcher wants is what it observes (``OBSERVED``; with -v also
    ``KERNEL_OBSERVED``) and, of what it passes on, what the renderer
    itself wants.
    """

    def __init__(self, out: Trace, *, verbose: int = 0, syscalls: bool = False,
                 clock: Clock = monotonic, rounds: bool = False) -> None:
        """``rounds``: the probe's call returns its ``Round`` (``make_probe``), from which
        the attempts are read; without it, from their events."""
        self.out = out
        self.kernel = verbose >= 1
        self.everything = verbose >= 2
        #: What is passed on: a probe's eight or so calls reach the renderer only
        #: when they are shown (--syscalls), which is most of a fast run's events.
        self.published = RUN_EVENTS if syscalls else RUN_EVENTS - {"syscall", "syscall_summary"}
        observed, kernel = ((ROUND_OBSERVED, KERNEL_ROUND_OBSERVED) if rounds
                            else (OBSERVED, KERNEL_OBSERVED))
        self.observed = observed | kernel if self.kernel else observed
        #: Whether the attempts' events are read (else the round's attempts only).
        self.reads_attempts = self.kernel or not rounds
        self.out_wants = wants_of(out)
        #: Without -vv, the events wanted, once: what is observed, and what is published
        #: and shown.  (With -vv every event is passed on: the renderer is asked each time.)
        self.wanted = self.observed | {e for e in self.published if self.out_wants(e)}
        #: Whether the core should build an event at all (``events.wants_of``): asked
        #: of each call a probe makes, so without -vv the set's own membership test.
        self.wants: Wants = self._wants_everything if self.everything else self.wanted.__contains__
        self.clock = clock
        # Bound once: a fast probe reports some fifteen events, each looked up here.
        self.observers: dict[str, Callable[[Event], None]] = {
            "attempt_started": self._attempt_started, "syscall": self._syscall,
            "step": self._step, "attempt": self._attempt, "connected": self._connected,
            "tls_started": self._tls_started, "tls": self._tls}
        if rounds:
            # Only what it observes: a shown ``syscall`` is no attempt's without -v.
            self.observers = {e: o for e, o in self.observers.items() if e in self.observed}
        self.begin()

    def begin(self) -> None:
        #: When the probe started (its time when no attempt was made: a failed resolve).
        self.began = self.clock()
        #: When the handshake started, and when it ended (its start + its own time).
        self.tls_began: float | None = None
        self.tls_at: float | None = None
        self.tcp_info: TcpInfo | None = None
        self.unanswered_syns: int | None = None
        if not self.reads_attempts:
            return  # the round's, read at the end (``of_round``)
        #: Per attempt index: its candidate, when it started, its descriptor.
        self.candidates: dict[int, CandidateFields] = {}
        self.started: dict[int, float] = {}
        self.descriptors: dict[int, int] = {}
        #: The attempt that started last and has no descriptor yet.
        self.opening: int | None = None
        #: The last attempt decided (not cancelled), and the one that connected.
        self.last_decided: int | None = None
        self.connected: int | None = None
        self.connected_at: float | None = None
        self.why: Fields | None = None
        #: The failed attempt's own time (seconds), as its ``attempt`` event
        #: measured it: taken before the kernel's tables are read for its
        #: ``why``, which must not count as the probe's time.
        self.failed_in: float | None = None

    def _wants_everything(self, event: str) -> bool:
        """-vv: what is observed, and whatever the renderer shows."""
        return event in self.observed or self.out_wants(event)

    def __call__(self, event: str, fields: Event) -> None:
        observe = self.observers.get(event)
        if observe is not None:
            observe(fields)
        if self.everything or event in self.published:
            self.out(event, fields)

    # --- what each event tells -------------------------------------------------------

    def _attempt_started(self, fields: Event) -> None:
        index = fields["index"]
        self.candidates[index] = fields["candidate"]
        self.started[index] = self.clock()
        self.opening = index

    def _syscall(self, fields: Event) -> None:
        if self.opening is not None and fields["call"] == "socket":
            if isinstance(fields["result"], int) and fields["result"] >= 0:
                self.descriptors[self.opening] = fields["result"]
            self.opening = None

    def _step(self, fields: Event) -> None:
        if fields["step"] == "connect" and fields["errno"] == "ETIMEDOUT" and self.kernel:
            self.tcp_info = self._read(fields["index"])
            if self.tcp_info is not None:
                self.unanswered_syns = self.tcp_info.unanswered_syns()

    def _attempt(self, fields: Event) -> None:
        if fields["outcome"] not in (None, "cancelled"):
            self.last_decided = fields["index"]
            took = fields.get("elapsed_ms")
            failed = fields["outcome"] != "connected"
            self.failed_in = took / 1000.0 if failed and took is not None else None
        why = fields.get("why")
        if why is not None:
            self.why = why

    def _connected(self, fields: Event) -> None:
        self.connected = fields["index"]
        self.connected_at = self.clock()
        if self.kernel:
            self.tcp_info = self._read(fields["index"])

    def _tls_started(self, fields: Event) -> None:
        self.tls_began = self.clock()

    def _tls(self, fields: Event) -> None:
        # The handshake's end is its start plus the time the event says it
        # took, not the moment the event arrives: describing the chain and
        # predicting the verdict (milliseconds of netprobe's own work, with
        # cryptography) come between the two and are no part of the probe.
        took = fields.get("elapsed_ms")
        if self.tls_began is not None and isinstance(took, (int, float)):
            self.tls_at = self.tls_began + took / 1000.0
        else:
            self.tls_at = self.clock()

    def _read(self, index: int) -> TcpInfo | None:
        fd = self.descriptors.get(index)
        candidate = self.candidates.get(index)
        if fd is None or candidate is None or candidate["protocol"] != "IPPROTO_TCP":
            return None
        family = _FAMILIES.get(candidate["family"])
        if family is None:
            return None
        # Only with -v: the run without it does not import struct's layout.
        from netprobe.probes.tcpinfo import read_descriptor

        return read_descriptor(self.out, fd, family)

    # --- the probe's result --------------------------------------------------------------

    def succeeded(self, seq: int, asks: str, ended: float) -> ProbeResult:
        index = self.connected if self.connected is not None else self.last_decided
        start = self.started.get(index, self.began) if index is not None else self.began
        end = (self.connected_at if asks == "connect" else self.tls_at if asks == "tls"
               else None) or ended
        return ProbeResult(seq, self.candidates.get(index) if index is not None else None,
                           OK, max(0.0, end - start), tcp_info=self.tcp_info)

    def of_round(self, seq: int, done: Round, asks: str, ended: float) -> ProbeResult:
        """The probe's result from its round (``ended``: when the call returned)."""
        connected, attempts = done.connected, done.attempts
        if len(attempts) > 1:
            attempts = finish_order(attempts)
        chosen = connected.attempt if connected is not None else last_decided(attempts)
        start = self.began if chosen is None else chosen.started
        candidate = None if chosen is None else chosen.candidate_fields
        error = done.error
        if error is None:
            end = (chosen.ended if asks == "connect" and chosen is not None
                   else self.tls_at if asks == "tls" else None)
            return ProbeResult(seq, candidate, OK, max(0.0, (end or ended) - start),
                               tcp_info=self.tcp_info)
        # A failed attempt's own time, as its event would say it: taken before the
        # kernel's tables were read for its ``why``, which is no part of the probe.
        took = (chosen.elapsed if chosen is not None and chosen.outcome is not CONNECTED
                else ended - start)
        return failed(seq, error, max(0.0, took), candidate=candidate, tcp_info=self.tcp_info,
                      unanswered_syns=self.unanswered_syns, why=latest_why(attempts))

    def failed(self, seq: int, exc: NetprobeError, ended: float) -> ProbeResult:
        index = self.last_decided
        start = self.started.get(index, self.began) if index is not None else self.began
        candidate = self.candidates.get(index) if index is not None else None
        took = self.failed_in if self.failed_in is not None else ended - start
        return failed(seq, exc, max(0.0, took), candidate=candidate,
                      tcp_info=self.tcp_info, unanswered_syns=self.unanswered_syns,
                      why=self.why)


def _ended(attempt: Attempt) -> float:
    return attempt.ended if attempt.ended is not None else -math.inf


def finish_order(attempts: list[Attempt]) -> list[Attempt]:
    """The attempts in the order they ended, as their ``attempt`` events came (a race's
    list is in the order they started).  Stable: the attempts a race decides in one
    wait are decided in the list's order, and an attempt never ended comes first."""
    return attempts if len(attempts) < 2 else sorted(attempts, key=_ended)


def last_decided(attempts: list[Attempt]) -> Attempt | None:
    """The last attempt (of ``finish_order``'s list) that was decided: not cancelled."""
    for attempt in reversed(attempts):
        if attempt.outcome is not None and attempt.outcome is not CANCELLED:
            return attempt
    return None


def latest_why(attempts: list[Attempt]) -> Fields | None:
    """The kernel's ``why`` of the attempt that ended last with one (``finish_order``)."""
    for attempt in reversed(attempts):
        if attempt.why is not None:
            return attempt.why
    return None


#: The one call of the connect core a probe makes, reporting to the trace it is given:
#: its round; or the error it ended with (returned or raised), None if none.
CoreCall = Callable[[Trace], Round | NetprobeError | None]


def make_probe(call: CoreCall, watcher: Watcher, *, asks: str = "connect",
               clock: Clock = monotonic) -> Callable[[int], ProbeResult]:
    """A probe (``loop.Probe``): ``call`` under ``watcher``, its result or its error made a
    ``ProbeResult``.  ``asks``: what the probe's time runs to (one of ``ASKS``)."""

    def probe(seq: int) -> ProbeResult:
        watcher.begin()
        try:
            done = call(watcher)
        except NetprobeError as exc:
            done = exc
        if isinstance(done, Round):
            # The round's own end is the call's (its last clock read, just before return).
            return watcher.of_round(seq, done, asks, done.started + done.elapsed)
        if done is not None:
            return watcher.failed(seq, done, clock())
        return watcher.succeeded(seq, asks, clock())

    return probe
