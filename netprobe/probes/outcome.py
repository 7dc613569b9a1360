"""One probe's result, and the outcome a failed connect, handshake or exchange stands for.

A probe's outcome is ``ok`` when it did all it was asked (connect; with
``--tls`` the handshake; with ``--expect`` the match), else what stopped
it: ``refused``, ``timeout``, ``unreachable`` (the attempt's own outcome, as
``connect`` reports it), ``expect``, ``tls`` or ``error`` (SPEC, "Probes").
"""

from __future__ import annotations

from netprobe.errors import CheckFailed, NetprobeError, ResolutionFailed, TimedOut, TlsFailed
from netprobe.events import ms

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from netprobe.events import Fields
    from netprobe.probes.tcpinfo import TcpInfo
    from netprobe.schema import CandidateFields, ProbeEvent

OK = "ok"

#: Attempt outcomes a probe reports as they are; ``cancelled`` never ends one
#: (a cancelled attempt lost a race that something else won or lost).
_ATTEMPT_OUTCOMES = frozenset({"refused", "timeout", "unreachable", "error"})
#: An errno name (a datagram refused in the exchange, a reset) -> the outcome.
_BY_ERRNO = {"ECONNREFUSED": "refused", "ETIMEDOUT": "timeout", "ENETUNREACH": "unreachable",
             "EHOSTUNREACH": "unreachable", "EHOSTDOWN": "unreachable",
             "ENETDOWN": "unreachable"}


def failed_outcome(exc: NetprobeError) -> str:
    """The outcome a probe's error stands for."""
    if isinstance(exc, TlsFailed) or exc.stage == "tls":
        return "tls"
    if isinstance(exc, CheckFailed):
        return "expect"
    if isinstance(exc, ResolutionFailed):
        return "error"
    attempts: list[Any] = getattr(exc, "attempts", [])
    decided = [a for a in attempts if a.outcome is not None and a.outcome.value != "cancelled"]
    if decided and decided[-1].outcome.value in _ATTEMPT_OUTCOMES:
        return str(decided[-1].outcome.value)
    if exc.code in _BY_ERRNO:
        return _BY_ERRNO[exc.code]
    if isinstance(exc, TimedOut):
        return "timeout"
    return "error"


def ended_on(exc: NetprobeError) -> CandidateFields | None:
    """The candidate a failed probe ended on: its last attempt that was decided."""
    attempts: list[Any] = getattr(exc, "attempts", [])
    decided = [a for a in attempts if a.outcome is not None and a.outcome.value != "cancelled"]
    chosen = decided[-1] if decided else (attempts[-1] if attempts else None)
    return None if chosen is None else chosen.candidate.to_json()


class ProbeResult:
    """One finished probe (``elapsed`` in seconds; ``error`` is None when it succeeded)."""

    __slots__ = ("candidate", "elapsed", "errno", "error", "message", "outcome", "seq",
                 "tcp_info", "unanswered_syns", "why")

    def __init__(self, seq: int, candidate: CandidateFields | None, outcome: str,
                 elapsed: float, errno: str | None = None, message: str = "",
                 error: NetprobeError | None = None, tcp_info: TcpInfo | None = None,
                 unanswered_syns: int | None = None, why: Fields | None = None) -> None:
        self.seq = seq
        #: The candidate it ended on (as in the events): where it counts.
        self.candidate = candidate
        self.outcome = outcome
        self.elapsed = elapsed
        self.errno = errno
        self.message = message
        self.error = error
        self.tcp_info = tcp_info
        self.unanswered_syns = unanswered_syns
        #: The kernel's explanation of a failed local attempt (the kernel issue's ``why``).
        self.why = why

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def address(self) -> tuple[str, int | None] | None:
        """Where it ended, as the statistics group probes."""
        c = self.candidate
        return None if c is None else (c["address"], c["port"])

    def to_json(self) -> ProbeEvent:
        fields: ProbeEvent = {
            "seq": self.seq, "candidate": self.candidate,
            "outcome": self.outcome, "errno": self.errno, "message": self.message,
            "elapsed_ms": ms(self.elapsed),
            "tcp_info": None if self.tcp_info is None else self.tcp_info.to_json(),
        }
        if self.unanswered_syns is not None:
            fields["unanswered_syns"] = self.unanswered_syns
        if self.why is not None:
            fields["why"] = self.why
        return fields


def failed(seq: int, exc: NetprobeError, elapsed: float, *,
           candidate: CandidateFields | None = None,
           tcp_info: TcpInfo | None = None, unanswered_syns: int | None = None,
           why: Fields | None = None) -> ProbeResult:
    """The result of a probe that raised ``exc``."""
    return ProbeResult(seq, candidate if candidate is not None else ended_on(exc),
                       failed_outcome(exc), elapsed, exc.code, _message(exc), exc, tcp_info,
                       unanswered_syns, why if why is not None else why_of(exc))


def why_of(exc: NetprobeError) -> Fields | None:
    """The kernel's ``why`` of the last failed attempt ``exc`` carries (SPEC, "The kernel's
    side"), where the connect core gave its attempts one; None where it did not."""
    for attempt in reversed(getattr(exc, "attempts", None) or []):
        why = getattr(attempt, "why", None)
        if why is not None:
            return why  # type: ignore[no-any-return]
    return None


def _message(exc: NetprobeError) -> str:
    """What went wrong, for this probe: its last attempt's own message ("Connection
    refused") rather than the summary of every candidate the error carries."""
    attempts: list[Any] = getattr(exc, "attempts", [])
    decided = [a for a in attempts if a.outcome is not None and a.outcome.value != "cancelled"]
    return str(decided[-1].message) if decided and decided[-1].message else exc.message

