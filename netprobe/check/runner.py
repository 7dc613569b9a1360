"""``check``: many targets probed at once, each exactly as ``connect --check`` probes one.

Each target goes through the same core as ``connect``: one round of
``netprobe.connect.rounds`` (resolve, bounded by ``--timeout`` the way
connect bounds it; open_clientfd or Happy Eyeballs; the UDP probe for
``udp://``; the handshake for ``tls://``).  Nothing here opens a socket
itself: this module only decides *when* each target is probed, and what
its verdict is.

Design decision: a pool of worker threads over the blocking core.  The core
is blocking on purpose (one attempt at a time, each step traced, Ctrl-C
interrupts it), and writing it a second time on asyncio would be the
"second implementation of connecting" that makes two commands disagree.  A
thread blocked in connect() or getaddrinfo() releases the GIL, so a silent
target costs its own worker at most ``--timeout``; workers take the next
target from one queue, and are added (up to ``--parallel``) as targets
block (``Runner._grow``), so a silent target holds up no other for more
than ``STUCK``.  Rejected: ``concurrent.futures.ThreadPoolExecutor``: its
workers are not daemon threads and the interpreter joins them at exit, so
Ctrl-C would wait for every in-flight connect to time out.

Design decision: ``--wait`` rounds are scheduled, not slept.  A failing
target does not keep its worker asleep for ``--interval``; it goes back on a
timer heap and a worker picks it up when it is due.  Otherwise 64 dead
targets would hold all 64 workers for the whole deadline and the 65th target
would never be checked once.  The deadline is global (from the start of the
run): "until all pass or the deadline", as the SPEC says, and each attempt
is cut at the deadline through the Plan, as ``connect --wait`` does.

``tls://`` adds what ``connect --tls -z`` adds: the handshake (and the
verification) on the candidate that connected, the winner of the race with
``--happy-eyeballs``, bounded by ``--timeout``, then close_notify.  The
context is made once for every target (loading the trust store takes
milliseconds); each target's HOST is its SNI and the name verified.

The verdict of a round is ``ok`` when the target accepted (connected, for
``tls://`` with a handshake that succeeded, for ``dns://`` resolved);
``--invert`` flips it: a target passes when it does
*not* accept (a port freed, a server gone).
"""

from __future__ import annotations

import heapq
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from netprobe.addrinfo import Hints, Resolution
from netprobe.check.targets import Scheme, Target
from netprobe.connect import Plan
from netprobe.connect.rounds import (
    UDP_PROBE_WAIT,
    Method,
    Resolve,
    connect_round,
    round_outcome,
    smallest,
)
from netprobe.errors import CheckFailed, NetprobeError, TimedOut
from netprobe.events import Clock, Event, Trace, monotonic, ms, no_trace
from netprobe.inputs import is_ip_literal
from netprobe.resolver import getaddrinfo

if TYPE_CHECKING:
    import ssl

    from netprobe.schema import SummaryEvent, SummaryTargetFields
    from netprobe.tls.channel import TlsChannel
    from netprobe.tls.context import TlsOptions

#: Descriptors one target in flight may hold: its socket(s) (a Happy Eyeballs
#: race keeps a few open at once) and the resolver's (glibc asks over UDP and
#: falls back to TCP).  Plus a reserve for stdio, the interpreter and rich.
FDS_PER_TARGET = 4
FDS_RESERVE = 64
#: Workers at the start (one: on a 2-core box extra runnable threads only queue
#: for the GIL); more are added as targets block (see Runner._grow).
FIRST_WORKERS = 1
#: A worker busy with one target this long is taken as blocked (seconds).
STUCK = 0.050
#: How often the main thread looks for blocked workers while targets wait.
GROW_CHECK = 0.010


class TlsSetup(NamedTuple):
    """``tls://``: the TLS options (checked) and the one client context made from them."""

    options: TlsOptions
    context: ssl.SSLContext


class Config(NamedTuple):
    """How every target is probed (the command's options)."""

    #: Per attempt, and bounds getaddrinfo; ``inf`` for none (``--timeout 0``).
    timeout: float
    family: int = socket.AF_UNSPEC
    happy_eyeballs: bool = False
    he_delay: float = 0.25
    #: How long ``udp://`` waits for an ICMP port-unreachable (connect's probe).
    udp_probe: float = UDP_PROBE_WAIT
    wait: float | None = None
    interval: float = 1.0
    invert: bool = False
    parallel: int = 64
    #: Set when a target is ``tls://``.
    tls: TlsSetup | None = None


class Verdict(NamedTuple):
    """What one round of one target found."""

    accepted: bool
    outcome: str
    address: str | None
    errno: str | None
    message: str
    error: NetprobeError | None
    attempts: int
    elapsed: float


class Result:
    """A target's final verdict, after every round it took."""

    __slots__ = ("address", "attempts", "elapsed", "errno", "error", "message", "ok",
                 "outcome", "rounds", "target")

    def __init__(self, target: Target, ok: bool, verdict: Verdict, error: NetprobeError | None,
                 rounds: int, attempts: int, elapsed: float) -> None:
        self.target = target
        self.ok = ok
        self.outcome = verdict.outcome
        self.address = verdict.address
        self.errno = verdict.errno
        self.message = error.message if error is not None else verdict.message
        self.error = error
        self.rounds = rounds
        self.attempts = attempts
        self.elapsed = elapsed

    def to_json(self, status: int) -> SummaryTargetFields:
        fields: SummaryTargetFields = {
            "target": self.target.text, "ok": self.ok, "exit": status, "outcome": self.outcome,
            "address": self.address, "elapsed_ms": ms(self.elapsed), "errno": self.errno,
            "message": self.message, "rounds": self.rounds, "attempts": self.attempts}
        if self.error is not None:
            from netprobe.kernel import why_of_error  # a failed target's why (issue 19)

            fields["why"] = why_of_error(self.error)
        return fields


def probe(target: Target, config: Config, *, deadline: float | None = None,
          trace: Trace, clock: Clock = monotonic) -> Verdict:
    """One round for one target: resolve, then (unless ``dns://``) connect and close.

    Failures are returned, not raised: a verdict is data for the summary.
    """
    if target.scheme is Scheme.DNS:
        return _resolve_only(target, config, deadline, trace, clock)
    udp = target.scheme is Scheme.UDP
    hints = Hints(config.family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM, 0,
                  socket.AI_ADDRCONFIG)
    method = Method(Plan(timeout=config.timeout, deadline=deadline,
                         probe=min(config.timeout, config.udp_probe) if udp else None),
                    race=config.happy_eyeballs and target.scheme is not Scheme.UNIX,
                    he_delay=config.he_delay,
                    tls=_TargetTls(target, config.tls) if target.scheme is Scheme.TLS else None)
    done = connect_round(_resolver(target, target.port, hints, "connect", trace, clock),
                         method, target.text, trace=trace, clock=clock)
    last = done.attempt
    address = last.candidate.endpoint() if last is not None else None
    if done.error is None:
        done.close(trace)  # tls://: close_notify, then close
        message = last.message if last is not None else ""
        if done.channel is not None:
            message = "TLS handshake done"
        return Verdict(True, done.outcome, address, None, message, None, len(done.attempts),
                       clock() - done.started)
    exc = done.error
    return Verdict(False, done.outcome, address,
                   last.errno if last is not None and last.errno else exc.code,
                   exc.message, exc, len(done.attempts), clock() - done.started)


def _resolve_only(target: Target, config: Config, deadline: float | None, trace: Trace,
                  clock: Clock) -> Verdict:
    """``dns://``: resolve only, with connect's hints (one entry per address)."""
    started = clock()
    hints = Hints(config.family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    resolve = _resolver(target, None, hints, "resolve", trace, clock)
    remaining = None if deadline is None else max(deadline - started, 0.001)
    try:
        resolution = resolve(smallest(config.timeout, remaining))
    except NetprobeError as exc:
        return Verdict(False, round_outcome(exc), None, exc.code, exc.message, exc, 0,
                       clock() - started)
    first = resolution.candidates[0].address if resolution.candidates else None
    return Verdict(True, "resolved", first, None, "", None, 0, clock() - started)


def _resolver(target: Target, service: str | None, hints: Hints, stage: str, trace: Trace,
              clock: Clock) -> Resolve:
    """getaddrinfo, bounded as connect bounds it (a thread given up after --timeout),
    except for a numeric address: the C library answers that from the string, and
    the thread would cost a third of a 1000-target run on loopback (bench/check.py)."""
    if target.scheme is Scheme.UNIX:  # one candidate, nothing to resolve (nor to race)
        from netprobe.unix.candidate import unix_resolution

        return lambda timeout: unix_resolution(target.host, socket.SOCK_STREAM, "check")
    numeric = is_ip_literal(target.host)

    def resolve(timeout: float | None) -> Resolution:
        return getaddrinfo(target.host, service, hints, trace=trace, clock=clock,
                           timeout=None if numeric else timeout, stage=stage)

    return resolve


class _TargetTls:
    """``tls://``: the handshake with the target's HOST as SNI and name, on the one context."""

    __slots__ = ("host", "setup")

    def __init__(self, target: Target, setup: TlsSetup | None) -> None:
        assert setup is not None  # made whenever a target is tls://
        self.host = target.host
        self.setup = setup

    def handshake(self, sock: socket.socket, where: str, timeout: float | None, *,
                  trace: Trace = no_trace, clock: Clock = monotonic) -> TlsChannel:
        # Imported here: ssl and the TLS package only load when a target is tls://.
        from netprobe.tls.channel import client_handshake

        return client_handshake(sock, self.host, self.setup.options, self.setup.context,
                                timeout=timeout, where=where, trace=trace, clock=clock)


# --- many targets -----------------------------------------------------------------------


class _Job(NamedTuple):
    position: int
    round: int


StatusOf = Callable[[BaseException], int]


class Runner:
    """Probe every target with ``config.parallel`` workers; ``run()`` returns the results.

    ``trace`` receives every event of every probe with a ``target`` field
    added, plus ``check_started`` (the targets, before anything) and
    ``target_started`` / ``target_done`` per round, which the human renderer
    turns into its live table.
    """

    def __init__(self, targets: Sequence[Target], config: Config, *, trace: Trace,
                 status_of: StatusOf, clock: Clock = monotonic) -> None:
        self.targets = list(targets)
        self.config = config
        self.trace = trace
        #: The exit status an error stands for (``netprobe.status.status_for``: the
        #: one table lives there); each target's ``exit`` in the events.
        self.status_of = status_of
        self.clock = clock
        self._first_started: list[float | None] = [None] * len(self.targets)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.deadline: float | None = None
        # Shared by the workers, under ``_wake``'s lock where it says so.
        self._wake = threading.Condition()
        self._timers: list[tuple[float, int, int]] = []  # (due, index, round), under _wake
        self._unfinished = 0  # under _wake
        self._crash: BaseException | None = None  # under _wake
        # One slot per target: only the worker running that target writes it.
        self._results: list[Result | None] = [None] * len(self.targets)
        self._attempts = [0] * len(self.targets)
        #: Per worker: when it took its current target (None: idle).
        self._busy_since: list[float | None] = []

    def _traced(self, target: Target) -> Trace:
        text = target.text
        trace = self.trace

        def traced(event: str, fields: Event) -> None:
            trace(event, {"target": text, **fields})

        return traced

    def _work(self, slot: int) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._busy_since[slot] = self.clock()
            try:
                self._round(job)
            except BaseException as exc:  # a bug: handed to the main thread, which raises it
                with self._wake:
                    self._crash = exc
                    self._wake.notify()
                return
            self._busy_since[slot] = None

    def _round(self, job: _Job) -> None:
        """One round of one target, in a worker: probe, then its verdict or its next round.

        Design decision: the worker settles the round itself (events,
        result, retry) instead of handing every verdict to the main thread.
        A hand-off per target is a thread wake-up and a GIL transfer each;
        with 1000 loopback targets that was a third of the run.  The main
        thread only sleeps until the next --wait round is due or all are done.
        """
        config, clock, index = self.config, self.clock, job.position
        target = self.targets[index]
        trace = self._traced(target)
        if self._first_started[index] is None:
            self._first_started[index] = clock()
        trace("target_started", {"round": job.round})
        verdict = probe(target, config, deadline=self.deadline, trace=trace, clock=clock)
        self._attempts[index] += verdict.attempts
        ok = verdict.accepted != config.invert
        now = clock()
        elapsed = now - (self._first_started[index] or now)
        if self.deadline is not None:
            trace("round", {"n": job.round, "outcome": verdict.outcome, "errno": verdict.errno,
                            "message": verdict.message, "elapsed_ms": ms(verdict.elapsed),
                            "remaining_ms": ms(max(self.deadline - now, 0.0))})
        retry = not ok and self.deadline is not None and now + config.interval < self.deadline
        trace("target_done", {"round": job.round, "ok": ok, "final": not retry,
                              "outcome": verdict.outcome, "address": verdict.address,
                              "errno": verdict.errno, "message": verdict.message,
                              "elapsed_ms": ms(elapsed), "attempts": self._attempts[index]})
        if retry:
            with self._wake:
                heapq.heappush(self._timers, (now + config.interval, index, job.round + 1))
                self._wake.notify()
            return
        error = None if ok else self._failure(target, verdict, job.round)
        if error is not None:
            trace("error", {"stage": error.stage, "target": target.text, "code": error.code,
                            "message": error.message, "exit": self.status_of(error),
                            "outcome": verdict.outcome, "address": verdict.address})
        self._results[index] = Result(target, ok, verdict, error, job.round,
                                      self._attempts[index], elapsed)
        with self._wake:
            self._unfinished -= 1
            if not self._unfinished:
                self._wake.notify()

    def run(self) -> list[Result]:
        config, clock = self.config, self.clock
        count = len(self.targets)
        start = clock()
        self.deadline = start + config.wait if config.wait is not None else None
        self.trace("check_started", {"targets": [t.text for t in self.targets],
                                     "parallel": min(config.parallel, count)})
        self._unfinished = count
        for index in range(count):
            self._jobs.put(_Job(index, 1))
        most = min(config.parallel, count)
        self._spawn(min(most, FIRST_WORKERS))
        with self._wake:
            while self._unfinished and self._crash is None:
                now = clock()
                while self._timers and self._timers[0][0] <= now:
                    _, index, number = heapq.heappop(self._timers)
                    self._jobs.put(_Job(index, number))
                waiting = not self._jobs.empty() and len(self._busy_since) < most
                if waiting:
                    self._grow(now, most)
                wake = self._timers[0][0] - now if self._timers else None
                if waiting:
                    wake = GROW_CHECK if wake is None else min(wake, GROW_CHECK)
                self._wake.wait(None if wake is None else max(wake, 0.0))
            if self._crash is not None:
                raise self._crash
        for _ in self._busy_since:
            self._jobs.put(None)
        final = [r for r in self._results if r is not None]
        self.trace("summary", self.summary(final, clock() - start))
        return final

    # Design decision: workers are started as targets block, up to --parallel.
    # All 256 threads of --parallel 256 runnable at once cost more than the
    # probes themselves when targets answer at once (loopback, a LAN): each
    # releases and retakes the GIL around every system call, and the threads
    # queue for it (bench/check.py measured 2x).  So the run starts with one
    # worker (FIRST_WORKERS), and while targets wait, every worker busy with one target for
    # more than STUCK seconds gets a new worker beside it: a silent target
    # still costs the others at most ~STUCK before they start, and slow
    # networks (where every probe takes longer) reach --parallel in a few
    # doublings.

    def _spawn(self, count: int) -> None:
        for _ in range(count):
            slot = len(self._busy_since)
            self._busy_since.append(None)
            # Daemon threads: Ctrl-C (KeyboardInterrupt in the main thread) ends
            # the run at once; in-flight connects are abandoned with the process.
            threading.Thread(target=self._work, args=(slot,), name=f"netprobe-check-{slot}",
                             daemon=True).start()

    def _grow(self, now: float, most: int) -> None:
        stuck = sum(1 for since in list(self._busy_since)
                    if since is not None and now - since > STUCK)
        idle = sum(1 for since in list(self._busy_since) if since is None)
        if stuck and not idle:
            self._spawn(min(stuck, most - len(self._busy_since)))

    def summary(self, results: Sequence[Result], elapsed: float) -> SummaryEvent:
        """The ``summary`` event: counts, then every target in the order given."""
        passed = sum(1 for r in results if r.ok)
        return {"total": len(results), "ok": passed, "failed": len(results) - passed,
                "elapsed_ms": ms(elapsed), "invert": self.config.invert,
                "targets": [r.to_json(0 if r.error is None else self.status_of(r.error))
                            for r in results]}

    def _failure(self, target: Target, verdict: Verdict, rounds: int) -> NetprobeError:
        """The error a failed target stands for; its class decides the exit status."""
        config = self.config
        plural = "s" * (rounds != 1)
        if config.invert:
            what = "still resolves" if target.scheme is Scheme.DNS else "still accepts"
            where = f" ({verdict.address})" if verdict.address else ""
            if config.wait is not None:
                return TimedOut("check", target.text, f"{what}{where} after {config.wait:g} s "
                                f"({rounds} round{plural})", "ETIMEDOUT")
            return CheckFailed("check", target.text, f"{what}{where}", "INVERT")
        error = verdict.error
        assert error is not None
        if config.wait is not None:
            # As ``connect --wait``: the deadline passed, whatever the last round said.
            verb = "not resolved" if target.scheme is Scheme.DNS else "not connected"
            return TimedOut(error.stage, target.text,
                            f"{verb} within {config.wait:g} s ({rounds} round{plural}; "
                            f"last: {error.message})", error.code)
        return error


def wanted_descriptors(config: Config, count: int) -> int:
    """How many descriptors ``count`` targets at ``config.parallel`` may need at once."""
    return min(config.parallel, count) * FDS_PER_TARGET + FDS_RESERVE


