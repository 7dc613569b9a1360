"""The probe loop: one probe every ``--interval``, start to start, never two at a time.

Design decisions:

* **Start to start, on the monotonic clock.**  The interval is the time
  from one probe's start to the next one's, as ping's is, so a run of N
  probes at 1 s takes N seconds whatever the probes take, and the system
  clock being set (NTP, a suspended laptop) cannot shorten or stretch it.
* **Planned times, not "now + interval".**  Each start is planned from the
  previous *planned* start (``next_start``), so the sleep's own lateness
  (tens of microseconds a probe) does not add up over a long run.
* **An overrunning probe is followed at once, and the plan moves.**  When
  a probe takes longer than the interval, the next starts as soon as it
  ends, and later probes are planned from there: no burst of catch-up
  probes, and never two probes at a time (the loop is sequential; there is
  nothing to overlap).
* **Ctrl-C is the end of the run, not an error.**  A probe interrupted
  half-way is not counted (the core closes its sockets on the way out);
  the statistics of the probes that finished are reported, and the run's
  verdict follows the usual rule (``verdict``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netprobe.errors import NetprobeError
from netprobe.events import Clock, Trace, monotonic
from netprobe.probes.outcome import OK, ProbeResult
from netprobe.probes.stats import ProbeStats, Series
from netprobe.probes.verdict import verdict

#: One probe: its number (from 1) in, its result out.  Errors of the probe
#: are in the result; anything raised ends the run (a bug, or Ctrl-C).
Probe = Callable[[int], ProbeResult]
Sleep = Callable[[float], None]


class ProbePlan:
    """How many probes (``probes``; 0: until interrupted), how often, the loss allowed
    (None: ping's rule).

    Plain classes here, not NamedTuples or dataclasses: each of those costs
    a millisecond of start-up to generate, and connect runs in CI loops.
    """

    __slots__ = ("interval", "max_loss", "probes")

    def __init__(self, probes: int, interval: float, max_loss: float | None = None) -> None:
        self.probes = probes
        self.interval = interval
        self.max_loss = max_loss


def next_start(planned: float, ended: float, interval: float) -> float:
    """When the next probe starts: one interval after the last planned start, or at once
    (``ended``) when the last probe overran it."""
    return max(planned + interval, ended)


class ProbeRun:
    """The state of a run a reader can list: the statistics, the last failure, how it ended."""

    def __init__(self) -> None:
        self.stats = ProbeStats()
        self.last_failure: NetprobeError | None = None
        self.interrupted = False
        #: id(candidate) -> (the candidate, its address's series): a run's probes end on
        #: the same few candidate dicts (``connect.attempts.candidate_fields``), so a
        #: probe finds its series without making and hashing the address.
        self._series: dict[int, tuple[object, Series]] = {}

    def add(self, result: ProbeResult) -> None:
        # ``result.address`` and ``result.ok``, without their two calls (once a probe).
        candidate = result.candidate
        seconds = result.elapsed if result.outcome == OK else None
        kept = None if candidate is None else self._series.get(id(candidate))
        if kept is not None and kept[0] is candidate:
            kept[1].add(seconds)
        elif candidate is None:
            self.stats.add(None, seconds)
        else:
            series = self.stats.add((candidate["address"], candidate["port"]), seconds)
            if len(self._series) < 256:
                self._series[id(candidate)] = (candidate, series)
        if result.error is not None:
            self.last_failure = result.error

    def verdict(self, max_loss: float | None) -> BaseException | None:
        stats = self.stats
        return verdict(sent=stats.sent, ok=stats.ok, loss=stats.loss, max_loss=max_loss,
                       last_failure=self.last_failure, interrupted=self.interrupted)


def run_probes(probe: Probe, plan: ProbePlan, *, trace: Trace, clock: Clock = monotonic,
               sleep: Sleep = time.sleep) -> ProbeRun:
    """Probe as planned, a ``probe`` event each, then ``probe_stats``; raise the verdict."""
    run = ProbeRun()
    seq = 0
    planned = ended = clock()
    try:
        while plan.probes == 0 or seq < plan.probes:
            # When the last probe ended at or after this one's planned start (always
            # with --interval 0) there is nothing to wait for: no clock read.
            if planned > ended:
                wait = planned - clock()
                if wait > 0:
                    sleep(wait)
            seq += 1
            result = probe(seq)
            run.add(result)
            trace("probe", result.to_json())
            ended = clock()
            planned = next_start(planned, ended, plan.interval)
    except KeyboardInterrupt:
        run.interrupted = True
    trace("probe_stats", run.stats.to_json())
    outcome = run.verdict(plan.max_loss)
    if outcome is not None:
        raise outcome
    return run
