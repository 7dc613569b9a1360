"""One attempt at one candidate: its outcome, its steps, and how failures add up.

What ``open_clientfd`` (``clientfd.py``) and the Happy Eyeballs race
(``happy_eyeballs.py``) share: the outcomes an errno stands for, ``Attempt``
(one try, every step reported), ``Plan`` (the timeouts and the ``--source``
address), ``Connected`` (what a successful connect hands to the data phase),
the error for a set of failed attempts, and the ``Reporter`` that emits the
attempt events.  Opening one candidate's socket (socket, setsockopt, bind)
is ``opening.py``'s.
"""

from __future__ import annotations

import errno as errno_module
import functools
import math
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from netprobe.addrinfo import Candidate
from netprobe.endpoints import Source
from netprobe.errors import AllCandidatesFailed, NetprobeError, TimedOut, errno_name
from netprobe.events import ENDPOINTS, Clock, Trace, ms, wants_of
from netprobe.record import Record, field
from netprobe.syscalls import (
    sys_close,
    sys_getpeername,
    sys_getsockname,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from netprobe.schema import (
        AttemptEvent,
        AttemptsDoneEvent,
        AttemptStartedEvent,
        CandidateFields,
        ConnectedEvent,
        EndpointFields,
        StepEvent,
    )

# --- outcomes -------------------------------------------------------------------


class Outcome(StrEnum):
    """What became of one attempt (the SPEC's ``attempt.outcome`` values)."""

    CONNECTED = "connected"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"
    ERROR = "error"


#: The members an attempt's path compares with, as plain names: ``Outcome.X`` goes
#: through the enum metaclass's ``__getattr__`` hook, some 1 000 instructions each.
CONNECTED, CANCELLED = Outcome.CONNECTED, Outcome.CANCELLED

# Which errno means which outcome.  Everything not listed is ``error`` with
# its errno name kept (EADDRNOTAVAIL, EACCES, EAFNOSUPPORT, ...): the name is
# what users search for, so it is never folded into a vaguer word.
_OUTCOME_BY_ERRNO: dict[int, Outcome] = {
    errno_module.ECONNREFUSED: Outcome.REFUSED,
    errno_module.ETIMEDOUT: Outcome.TIMEOUT,
    errno_module.ENETUNREACH: Outcome.UNREACHABLE,
    errno_module.EHOSTUNREACH: Outcome.UNREACHABLE,
    errno_module.EHOSTDOWN: Outcome.UNREACHABLE,
    errno_module.ENETDOWN: Outcome.UNREACHABLE,
}


def classify(number: int) -> Outcome:
    """The outcome an errno from socket()/bind()/connect() stands for."""
    return _OUTCOME_BY_ERRNO.get(number, Outcome.ERROR)


def describe(exc: OSError) -> tuple[int, str]:
    """(errno, message) of an OSError; a socket timeout counts as ETIMEDOUT."""
    if isinstance(exc, TimeoutError) and exc.errno is None:
        return errno_module.ETIMEDOUT, "timed out"
    number = exc.errno if isinstance(exc.errno, int) else 0
    return number, exc.strerror or os.strerror(number) or str(exc)


# --- attempts --------------------------------------------------------------------------


def _endpoint(sockaddr: tuple[Any, ...] | str | bytes | None) -> EndpointFields | None:
    if isinstance(sockaddr, (str, bytes)):
        # AF_UNIX: a path, @NAME, or "" for an unnamed socket (a client that never bound).
        from netprobe.unix.address import text_of

        return {"address": text_of(sockaddr), "port": None}
    if not sockaddr:
        return None
    return {"address": str(sockaddr[0]), "port": int(sockaddr[1])}


@functools.lru_cache(maxsize=256)
def _fields_of_value(candidate: Candidate) -> CandidateFields:
    return candidate.to_json()


#: id(candidate) -> (the candidate, its fields): a run of probes (without
#: --resolve-each) tries the very same candidate objects again and again, and an id
#: costs nothing to hash where the lru_cache hashes the candidate's every field.
_FIELDS_BY_ID: dict[int, tuple[Candidate, CandidateFields]] = {}


def candidate_fields(candidate: Candidate) -> CandidateFields:
    """``candidate.to_json()``, made once per candidate: a run of probes tries the same
    candidates again and again, and every attempt event carries one.  Shared between
    events, as event fields are read-only (``netprobe.events.Event``); equal candidates
    (--resolve-each resolves anew each probe) share theirs too."""
    kept = _FIELDS_BY_ID.get(id(candidate))
    if kept is not None and kept[0] is candidate:
        return kept[1]
    fields = _fields_of_value(candidate)
    if len(_FIELDS_BY_ID) < 256:
        # The candidate is kept with its id: the id stands for no other while it is.
        _FIELDS_BY_ID[id(candidate)] = (candidate, fields)
    return fields


class Attempt:
    """One try at one candidate; failed attempts are kept, every one is reported.

    A plain class, not a dataclass: generating dataclass methods costs
    milliseconds at import, and connect runs in CI loops (see bench/startup.py).
    """

    __slots__ = ("candidate", "candidate_fields", "deadline", "ended", "errno", "local",
                 "message", "origin", "outcome", "peer", "sock", "started", "step", "why")

    def __init__(self, candidate: Candidate, started: float, deadline: float,
                 origin: float) -> None:
        self.candidate = candidate
        #: The candidate's JSON form: every event of the attempt carries it.
        self.candidate_fields = candidate_fields(candidate)
        self.started = started
        self.deadline = deadline
        self.origin = origin
        self.outcome: Outcome | None = None
        self.errno: str | None = None
        self.message = ""
        self.step = "socket"
        self.ended: float | None = None
        self.local: EndpointFields | None = None
        self.peer: EndpointFields | None = None
        self.sock: socket.socket | None = None
        #: A failed attempt's cause, from the kernel's tables (netprobe.kernel.why).
        self.why: dict[str, Any] | None = None

    @property
    def index(self) -> int:
        return self.candidate.index

    @property
    def started_ms(self) -> float:
        """When it started, from the race's origin, as its events say (made for them only)."""
        return ms(self.started - self.origin)

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started

    def to_json(self) -> AttemptEvent:
        fields: AttemptEvent = {
            "index": self.candidate.index,
            "candidate": self.candidate_fields,
            # _value_, the member's own attribute: ``.value`` is a Python-level property.
            "outcome": self.outcome._value_ if self.outcome else None,
            "errno": self.errno,
            "message": self.message,
            "elapsed_ms": ms(self.elapsed),
            "step": self.step,
            "started_ms": self.started_ms,
            "local": self.local,
            "peer": self.peer,
        }
        if self.why is not None:
            fields["why"] = self.why
        return fields


class Plan(Record):
    """How to attempt each candidate.

    ``timeout`` bounds each connect (the SPEC's ``--timeout``); ``deadline``
    (a clock value) bounds everything, for ``--wait``.  ``probe`` is set for
    ``--udp --check``: how long to wait for an ICMP port-unreachable.
    """

    __slots__ = ()
    _fields = ("timeout", "source", "deadline", "probe")
    timeout: float = field(0)
    source: Source | None = field(1)
    deadline: float | None = field(2)
    probe: float | None = field(3)

    def __new__(cls, timeout: float, source: Source | None = None,
                deadline: float | None = None, probe: float | None = None) -> Plan:
        return tuple.__new__(cls, (timeout, source, deadline, probe))

    def attempt_deadline(self, now: float) -> float:
        end = now + self.timeout
        return end if self.deadline is None else min(end, self.deadline)


class Connected(Record):
    """The socket that connected and every attempt made to get it (a connect's result)."""

    __slots__ = ()
    _fields = ("sock", "attempt", "attempts")
    sock: socket.socket = field(0)
    attempt: Attempt = field(1)
    attempts: list[Attempt] = field(2)

    def __new__(cls, sock: socket.socket, attempt: Attempt, attempts: list[Attempt]) -> Connected:
        return tuple.__new__(cls, (sock, attempt, attempts))


class AttemptsFailed(NetprobeError):
    """The attempts failed: the error carries them (``attempts``, and in JSON ``extra``).

    The base of the two errors ``failure`` makes; which of them it is (4 or
    5) is the other base class's, which ``netprobe.cli`` maps.
    """

    def __init__(self, where: str, attempts: Sequence[Attempt], message: str, code: str | None):
        super().__init__("connect", where, message, code)
        self.attempts = list(attempts)
        self.extra = {"attempts": [a.to_json() for a in attempts]}


class CandidatesFailed(AttemptsFailed, AllCandidatesFailed):
    """every candidate failed."""


class CandidatesTimedOut(AttemptsFailed, TimedOut):
    """every attempt timed out."""


def failure(where: str, attempts: Sequence[Attempt]) -> AllCandidatesFailed | TimedOut:
    """The error for failed attempts: 5 when every one timed out, else 4 (SPEC).

    The code is the errno when all failures share one (the common case:
    everything refused), otherwise none: a single errno would be a lie.
    """
    failed = [a for a in attempts if a.outcome is not Outcome.CONNECTED]
    if not failed:
        return CandidatesTimedOut(where, attempts, "no candidate could be tried in time",
                                  "ETIMEDOUT")
    codes = {a.errno for a in failed}
    code = codes.pop() if len(codes) == 1 else None
    parts = ", ".join(f"{a.candidate.endpoint()} {a.outcome.value if a.outcome else '?'}"
                      for a in failed)
    noun = "candidate" if len(failed) == 1 else f"{len(failed)} candidates"
    message = f"{noun} failed: {parts}"
    why = failed[-1].why
    if why is not None and failed[-1].candidate.family == socket.AF_UNIX:
        # A Unix socket's one attempt: the error line says why.
        message = why["message"]
    if all(a.outcome is Outcome.TIMEOUT for a in failed):
        return CandidatesTimedOut(where, attempts, message, code)
    return CandidatesFailed(where, attempts, message, code)


#: A step's detail: the text, or what makes it (called only when the step is shown).
Detail = str | Callable[[], str]


#: What a Reporter asks its trace, in the order of ``_interest``'s answer.
_ASKED = ("attempt_started", "attempt", "connected", "step", "attempts_done", ENDPOINTS)
#: id(trace) -> (the trace, its answers): a run of probes makes a Reporter a probe,
#: for the same trace every time, whose answers do not change (a renderer's and a
#: probe watcher's wants are fixed when they are made).  Bounded: check makes a
#: trace per target.
_INTEREST: dict[int, tuple[Trace, tuple[bool, ...]]] = {}


def _interest(trace: Trace) -> tuple[bool, ...]:
    """What the trace wants of ``_ASKED``, asked once per trace."""
    kept = _INTEREST.get(id(trace))
    if kept is not None and kept[0] is trace:
        return kept[1]
    wants = wants_of(trace)
    answers = tuple(bool(wants(event)) for event in _ASKED)
    if len(_INTEREST) >= 64:
        _INTEREST.clear()
    _INTEREST[id(trace)] = (trace, answers)
    return answers


class Reporter:
    """Emits the attempt events; one per race so the times share an origin.

    The trace is asked once (``wants``) which attempt events it reads: ``connect
    --count`` shows none unless -vv and reads a probe's facts off the attempts
    (the round's), which record the same whether the events are built or not.
    """

    def __init__(self, trace: Trace, clock: Clock) -> None:
        self.trace = trace
        self.clock = clock
        self.origin = clock()
        (self.shows_started, self.shows_attempts, self.shows_connected, self.shows_steps,
         self.shows_done, self.reads_endpoints) = _interest(trace)


    def begin(self, candidate: Candidate, plan: Plan) -> Attempt:
        now = self.clock()
        attempt = Attempt(candidate, now, plan.attempt_deadline(now), self.origin)
        if self.shows_started:
            started: AttemptStartedEvent = {"index": candidate.index,
                                            "candidate": attempt.candidate_fields,
                                            "started_ms": attempt.started_ms}
            self.trace("attempt_started", started)
        return attempt

    def step(self, attempt: Attempt, step: str, detail: Detail,
             error: tuple[int, str] | None = None) -> None:
        attempt.step = step
        if not self.shows_steps:
            return
        if not isinstance(detail, str):
            detail = detail()
        fields: StepEvent = {"index": attempt.index, "step": step, "detail": detail,
                             "outcome": "ok" if error is None else "error",
                             "errno": errno_name(error[0]) if error else None,
                             "message": error[1] if error else ""}
        self.trace("step", fields)

    def finish(self, attempt: Attempt, outcome: Outcome, number: int | None = None,
               message: str = "") -> None:
        attempt.ended = self.clock()
        attempt.outcome = outcome
        attempt.errno = None if number is None else errno_name(number)
        attempt.message = message
        if outcome is CONNECTED:
            if attempt.sock is not None and self.reads_endpoints:
                self._endpoints(attempt, attempt.sock)
        elif attempt.sock is not None:
            sys_close(self.trace, attempt.sock)
            attempt.sock = None
        if outcome is not CONNECTED and outcome is not CANCELLED:
            # The failure path only: the kernel's tables, read now (issue 19).
            from netprobe.kernel.why import why_attempt

            attempt.why = why_attempt(attempt.candidate, outcome.value, attempt.errno,
                                      step=attempt.step)
        if self.shows_attempts:
            self.trace("attempt", attempt.to_json())

    def _endpoints(self, attempt: Attempt, sock: socket.socket) -> None:
        """The connection's two ends as the kernel has them (getsockname, getpeername)."""
        attempt.local = _endpoint(sys_getsockname(self.trace, sock))
        try:
            attempt.peer = _endpoint(sys_getpeername(self.trace, sock))
        except OSError:
            # The peer reset the connection between the handshake and this
            # call (ENOTCONN): it did connect, to the candidate's address;
            # the data phase sees the reset.
            attempt.peer = _endpoint(attempt.candidate.sockaddr)

    def connected(self, attempt: Attempt) -> None:
        """The ``connected`` event; after the losers of a race are reported."""
        sock, candidate = attempt.sock, attempt.candidate
        # The candidate's numbers, not ``sock.family``/``sock.type`` (IntEnum members, a
        # few us).  A Unix stream's SO_PEERCRED (a call) is read whether wanted or not.
        peer_cred = candidate.family == socket.AF_UNIX and candidate.socktype != socket.SOCK_DGRAM
        if not self.shows_connected and not peer_cred:
            return
        ended = attempt.ended if attempt.ended is not None else self.clock()
        fields: ConnectedEvent = {"index": candidate.index, "local": attempt.local,
                                  "peer": attempt.peer, "elapsed_ms": ms(ended - self.origin)}
        if sock is not None and peer_cred:
            # Who serves it (SO_PEERCRED): the credentials of the server's listen().
            from netprobe.unix.peercred import read_peer_cred

            cred = read_peer_cred(sock, self.trace)
            fields["peer_cred"] = cred.to_json() if cred is not None else None
        self.trace("connected", fields)

    def done(self, attempts: Sequence[Attempt]) -> None:
        """Every attempt of a race, for the human timeline."""
        if not self.shows_done:
            return
        fields: AttemptsDoneEvent = {"attempts": [a.to_json() for a in attempts]}
        self.trace("attempts_done", fields)


def close_all(attempts: Iterable[Attempt], trace: Trace) -> None:
    """Close every attempt's socket that is still open (after --all, or on an error)."""
    for attempt in attempts:
        if attempt.sock is not None:
            sys_close(trace, attempt.sock)
            attempt.sock = None


def finite(seconds: float | None) -> float | None:
    """A selector timeout: None (for ever) instead of infinity."""
    return None if seconds is None or math.isinf(seconds) else seconds
