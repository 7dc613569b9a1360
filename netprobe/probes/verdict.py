"""How a probe run ends: the exit status rule, as a pure function, and the errors it raises.

The SPEC's rule, ping's: a run succeeds when at least one probe succeeded;
with ``--max-loss PERCENT`` instead when the loss is at most that (for CI:
"no more than 5 % lost").  Otherwise it fails with the status of the last
probe that failed: 4 (refused, unreachable, or a mix), 5 (timed out), 6
(``--expect`` not matched), 7 (TLS), or 3 when ``--resolve-each`` could not
resolve.  Ctrl-C ends a run like its last probe: the statistics, then the
rule; only a run interrupted before any probe finished is "interrupted"
(130).

Design decision: the exit status comes from the error's *class* (one table,
``netprobe.status.EXIT_STATUS``), so the run's error is of the last failure's
kind: ``ProbesTimedOut`` is a ``ProbesFailed`` and a ``TimedOut``.  A
class per kind, rather than re-raising the last probe's own error, lets the
message say what the run was ("3 of 3 probes failed, 100 % loss") and keeps
the last failure one attribute away.
"""

from __future__ import annotations

from netprobe.errors import (
    AllCandidatesFailed,
    CheckFailed,
    NetprobeError,
    ResolutionFailed,
    TimedOut,
    TlsFailed,
)


class ProbesFailed(NetprobeError):
    """the probes failed."""

    def __init__(self, last: NetprobeError, message: str) -> None:
        self.last = last
        super().__init__(last.stage, last.target, message, last.code)


class ProbesUnresolved(ProbesFailed, ResolutionFailed):
    """the probes failed: the last could not resolve."""


class ProbesConnectFailed(ProbesFailed, AllCandidatesFailed):
    """the probes failed: the last could not connect."""


class ProbesTimedOut(ProbesFailed, TimedOut):
    """the probes failed: the last timed out."""


class ProbesCheckFailed(ProbesFailed, CheckFailed):
    """the probes failed: the last did not see what --expect asked for."""


class ProbesTlsFailed(ProbesFailed, TlsFailed):
    """the probes failed: the last TLS handshake failed."""


#: The run's error for the last failure's kind, most specific first (a
#: CandidatesTimedOut is a TimedOut, never an AllCandidatesFailed).
_KINDS: tuple[tuple[type[NetprobeError], type[ProbesFailed]], ...] = (
    (ResolutionFailed, ProbesUnresolved),
    (TlsFailed, ProbesTlsFailed),
    (CheckFailed, ProbesCheckFailed),
    (TimedOut, ProbesTimedOut),
    (AllCandidatesFailed, ProbesConnectFailed),
)


def probes_failed(last: NetprobeError, message: str) -> ProbesFailed:
    """The run's error, of the kind of ``last`` (its exit status)."""
    for kind, error in _KINDS:
        if isinstance(last, kind):
            return error(last, message)
    return ProbesConnectFailed(last, message)


def verdict(*, sent: int, ok: int, loss: float, max_loss: float | None,
            last_failure: NetprobeError | None, interrupted: bool) -> BaseException | None:
    """What the run raises at its end: None (exit 0), the run's error, or KeyboardInterrupt."""
    if sent == 0:
        return KeyboardInterrupt() if interrupted else None
    passed = loss <= max_loss if max_loss is not None else ok > 0
    if passed or last_failure is None:
        return None
    failed = sent - ok
    summary = (f"{loss:g}% loss > --max-loss {max_loss:g}%" if max_loss is not None
               else f"{failed} of {sent} probe{'s' * (sent != 1)} failed ({loss:g}% loss)")
    return probes_failed(last_failure, f"{summary}; last: {last_failure.message}")
