"""open_clientfd made visible: every candidate tried, why it failed, and how long it took.

``netprobe connect`` resolves a host through the resolution core and then
tries its candidates.  This module is the part in between and after: the
attempts (socket, optional bind, connect), the Happy Eyeballs race, and the
data phase that relays stdin to the peer and the peer to an output callback.
It never prints; it reports through ``trace(event, fields)`` like the rest of
the core, and raises netprobe's errors (``netprobe.cli`` maps them to exit
statuses).

Two ways of trying candidates live here:

* ``open_clientfd`` is the textbook loop (CS:APP's open_clientfd, CPython's
  ``socket.create_connection``): one candidate at a time, in getaddrinfo's
  order, each step on its own line so that the failing step and its errno are
  what gets reported.  Blocking sockets with a timeout: simple, and Ctrl-C
  interrupts the wait (PEP 475 re-checks signals on EINTR).
* ``happy_eyeballs`` races candidates on non-blocking sockets and a selector,
  as RFC 8305 section 5 describes.  Its clock and its wait primitive are
  parameters so that tests can run the race on a fake clock.
"""

from __future__ import annotations

import contextlib
import errno as errno_module
import math
import os
import re
import select
import selectors
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import NamedTuple

from netprobe.errors import AllCandidatesFailed, CheckFailed, InvalidInput, TimedOut, errno_name
from netprobe.events import Clock, Fields, Trace, monotonic, ms, no_trace
from netprobe.resolver import (
    Candidate,
    family_name,
    numeric_sockaddr,
    parse_port,
    protocol_name,
    socktype_name,
    split_endpoint,
)
from netprobe.syscalls import (
    connect_with_timeout,
    sys_bind,
    sys_close,
    sys_connect_ex,
    sys_getpeername,
    sys_getsockname,
    sys_getsockopt,
    sys_poll,
    sys_recv,
    sys_send,
    sys_setblocking,
    sys_setsockopt,
    sys_shutdown,
    sys_socket,
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


# --- the source address (--source ADDR[:PORT]) ---------------------------------------


class Source:
    """A local address to bind before connecting."""

    def __init__(self, family: int, sockaddr: tuple[object, ...], text: str) -> None:
        self.family = family
        self.sockaddr = sockaddr
        self.text = text

    @property
    def port(self) -> int:
        port: int = self.sockaddr[1]  # type: ignore[assignment]
        return port


def parse_source(text: str, stage: str = "connect", trace: Trace = no_trace) -> Source:
    """``ADDR``, ``ADDR:PORT``, ``[V6]``, ``[V6]:PORT`` or a bare IPv6 address.

    Numeric only: a source is an address of this machine, and resolving a
    name here would hide which of its addresses was meant.
    """
    address, port_text, _ = split_endpoint(text, stage, "expected ADDR[:PORT] or [IPV6]:PORT")
    if port_text == "":
        raise InvalidInput(stage, text, "missing port after ':'")
    if not address:
        raise InvalidInput(stage, text, "missing address")
    port = parse_port(port_text, stage) if port_text else 0
    sockaddr = numeric_sockaddr(address, port, stage, trace)
    family = socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET
    return Source(family, sockaddr, text)


# --- attempts --------------------------------------------------------------------------


def _endpoint(sockaddr: tuple[object, ...] | None) -> Fields | None:
    if not sockaddr:
        return None
    return {"address": str(sockaddr[0]), "port": int(sockaddr[1])}  # type: ignore[call-overload]


class Attempt:
    """One try at one candidate; failed attempts are kept, every one is reported.

    A plain class, not a dataclass: generating dataclass methods costs
    milliseconds at import, and connect runs in CI loops (see bench/startup.py).
    """

    __slots__ = ("candidate", "deadline", "ended", "errno", "local", "message", "origin",
                 "outcome", "peer", "sock", "started", "step")

    def __init__(self, candidate: Candidate, started: float, deadline: float,
                 origin: float) -> None:
        self.candidate = candidate
        self.started = started
        self.deadline = deadline
        self.origin = origin
        self.outcome: Outcome | None = None
        self.errno: str | None = None
        self.message = ""
        self.step = "socket"
        self.ended: float | None = None
        self.local: Fields | None = None
        self.peer: Fields | None = None
        self.sock: socket.socket | None = None

    @property
    def index(self) -> int:
        return self.candidate.index

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.started) - self.started

    def to_json(self) -> Fields:
        return {
            "index": self.index,
            "candidate": self.candidate.to_json(),
            "outcome": self.outcome.value if self.outcome else None,
            "errno": self.errno,
            "message": self.message,
            "elapsed_ms": ms(self.elapsed),
            "step": self.step,
            "started_ms": ms(self.started - self.origin),
            "local": self.local,
            "peer": self.peer,
        }


class Plan(NamedTuple):
    """How to attempt each candidate.

    ``timeout`` bounds each connect (the SPEC's ``--timeout``); ``deadline``
    (a clock value) bounds everything, for ``--wait``.  ``probe`` is set for
    ``--udp --check``: how long to wait for an ICMP port-unreachable.
    """

    timeout: float
    source: Source | None = None
    deadline: float | None = None
    probe: float | None = None

    def attempt_deadline(self, now: float) -> float:
        end = now + self.timeout
        return end if self.deadline is None else min(end, self.deadline)


class Connection(NamedTuple):
    """The socket that connected and every attempt made to get it."""

    sock: socket.socket
    attempt: Attempt
    attempts: list[Attempt]


class CandidatesFailed(AllCandidatesFailed):
    """every candidate failed."""

    def __init__(self, where: str, attempts: Sequence[Attempt], message: str, code: str | None):
        super().__init__("connect", where, message, code)
        self.attempts = list(attempts)
        self.extra = {"attempts": [a.to_json() for a in attempts]}


class CandidatesTimedOut(TimedOut):
    """every attempt timed out."""

    def __init__(self, where: str, attempts: Sequence[Attempt], message: str, code: str | None):
        super().__init__("connect", where, message, code)
        self.attempts = list(attempts)
        self.extra = {"attempts": [a.to_json() for a in attempts]}


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
    if all(a.outcome is Outcome.TIMEOUT for a in failed):
        return CandidatesTimedOut(where, attempts, message, code)
    return CandidatesFailed(where, attempts, message, code)


class _Reporter:
    """Emits the attempt events; one per race so the times share an origin."""

    def __init__(self, trace: Trace, clock: Clock) -> None:
        self.trace = trace
        self.clock = clock
        self.origin = clock()

    def begin(self, candidate: Candidate, plan: Plan) -> Attempt:
        now = self.clock()
        attempt = Attempt(candidate, now, plan.attempt_deadline(now), self.origin)
        self.trace("attempt_started", {"index": candidate.index,
                                       "candidate": candidate.to_json(),
                                       "started_ms": ms(now - self.origin)})
        return attempt

    def step(self, attempt: Attempt, step: str, detail: str,
             error: tuple[int, str] | None = None) -> None:
        attempt.step = step
        fields: Fields = {"index": attempt.index, "step": step, "detail": detail,
                          "outcome": "ok" if error is None else "error",
                          "errno": errno_name(error[0]) if error else None,
                          "message": error[1] if error else ""}
        self.trace("step", fields)

    def finish(self, attempt: Attempt, outcome: Outcome, number: int | None = None,
               message: str = "") -> None:
        attempt.ended = self.clock()
        attempt.outcome = outcome
        attempt.errno = errno_name(number)
        attempt.message = message
        if outcome is Outcome.CONNECTED and attempt.sock is not None:
            attempt.local = _endpoint(sys_getsockname(self.trace, attempt.sock))
            attempt.peer = _endpoint(sys_getpeername(self.trace, attempt.sock))
        elif attempt.sock is not None:
            sys_close(self.trace, attempt.sock)
            attempt.sock = None
        self.trace("attempt", attempt.to_json())

    def connected(self, attempt: Attempt) -> None:
        """The ``connected`` event; after the losers of a race are reported."""
        ended = attempt.ended if attempt.ended is not None else self.clock()
        self.trace("connected", {"index": attempt.index, "local": attempt.local,
                                 "peer": attempt.peer, "elapsed_ms": ms(ended - self.origin)})

    def done(self, attempts: Sequence[Attempt]) -> None:
        """Every attempt of a race, for the human timeline."""
        self.trace("attempts_done", {"attempts": [a.to_json() for a in attempts]})


# IP_BIND_ADDRESS_NO_PORT (Linux 4.2+, value 24): with --source ADDR and no
# port, bind() would pick a port that is free for *every* peer, one of the
# ~28k ephemeral ports, before connect() knows the peer.  With this option the
# kernel only fixes the address at bind() and picks the port at connect(), as
# it does without a bind.  Rejected: SO_REUSEADDR, which lets nascent sockets
# share a port and then fails connect() with EADDRNOTAVAIL on a 4-tuple clash.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def _open(reporter: _Reporter, attempt: Attempt, plan: Plan) -> socket.socket | None:
    """socket() and, with --source, setsockopt + bind(): each step traced.

    Returns None after reporting the attempt as failed.
    """
    candidate = attempt.candidate
    detail = (f"{family_name(candidate.family)} {socktype_name(candidate.socktype)} "
              f"{protocol_name(candidate.protocol)}")
    source = plan.source
    if source is not None and source.family != candidate.family:
        # Binding an IPv4 source to an IPv6 socket cannot work; say so rather
        # than let the C library's message about address families confuse.
        message = (f"--source {source.text} is {family_name(source.family)}, "
                   f"the candidate is {family_name(candidate.family)}")
        reporter.step(attempt, "bind", source.text, (errno_module.EAFNOSUPPORT, message))
        reporter.finish(attempt, Outcome.ERROR, errno_module.EAFNOSUPPORT, message)
        return None
    try:
        sock = sys_socket(reporter.trace, candidate.family, candidate.socktype,
                          candidate.protocol)
    except OSError as exc:
        number, message = describe(exc)
        reporter.step(attempt, "socket", detail, (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return None
    attempt.sock = sock
    reporter.step(attempt, "socket", f"{detail} fd {sock.fileno()}")
    if source is None:
        return sock
    if source.port == 0 and candidate.socktype == socket.SOCK_STREAM:
        try:
            sys_setsockopt(reporter.trace, sock, socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            reporter.step(attempt, "setsockopt", "IP_BIND_ADDRESS_NO_PORT=1")
        except OSError as exc:
            # Only an optimisation: the bind still works without it.
            reporter.step(attempt, "setsockopt", "IP_BIND_ADDRESS_NO_PORT=1", describe(exc))
    try:
        sys_bind(reporter.trace, sock, source.sockaddr)
    except OSError as exc:
        number, message = describe(exc)
        reporter.step(attempt, "bind", source.text, (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return None
    reporter.step(attempt, "bind", _format(sys_getsockname(reporter.trace, sock)))
    return sock


def _format(sockaddr: tuple[object, ...]) -> str:
    host = str(sockaddr[0])
    return f"[{host}]:{sockaddr[1]}" if ":" in host else f"{host}:{sockaddr[1]}"


def _probe_udp(reporter: _Reporter, attempt: Attempt, wait: float) -> None:
    """``--udp --check``: send an empty datagram and listen for the ICMP answer.

    A connected UDP socket learns of ICMP port-unreachable as ECONNREFUSED on
    its next call; nothing at all within ``wait`` means "open or filtered",
    which is all UDP can tell (nmap says the same).
    """
    sock = attempt.sock
    assert sock is not None
    try:
        sys_send(reporter.trace, sock, b"")
        reporter.step(attempt, "send", "0 bytes")
        if not sys_poll(reporter.trace, sock, select.POLLIN, wait):
            raise TimeoutError
        sys_recv(reporter.trace, sock, 65535)
        reporter.step(attempt, "recv", "a reply")
    except TimeoutError:
        silence = f"no reply and no ICMP error within {wait:g} s: open or filtered"
        reporter.step(attempt, "recv", silence)
        reporter.finish(attempt, Outcome.CONNECTED, None, silence)
        return
    except OSError as exc:
        number, message = describe(exc)
        reporter.step(attempt, attempt.step if attempt.step == "send" else "recv",
                      "ICMP error", (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return
    reporter.finish(attempt, Outcome.CONNECTED)


# --- one at a time: open_clientfd ---------------------------------------------------------


def _attempt_blocking(reporter: _Reporter, candidate: Candidate, plan: Plan) -> Attempt:
    attempt = reporter.begin(candidate, plan)
    sock = _open(reporter, attempt, plan)
    if sock is None:
        return attempt
    remaining = attempt.deadline - reporter.clock()
    if remaining <= 0:
        reporter.finish(attempt, Outcome.TIMEOUT, errno_module.ETIMEDOUT, "timed out")
        return attempt
    # The textbook's connect with a time limit (non-blocking connect, poll,
    # getsockopt(SO_ERROR)): what sock.settimeout + sock.connect do inside
    # CPython, made here so that --syscalls can show each call.
    number = connect_with_timeout(reporter.trace, sock, candidate.sockaddr, remaining)
    if number:
        message = "timed out" if number == errno_module.ETIMEDOUT else os.strerror(number)
        reporter.step(attempt, "connect", candidate.endpoint(), (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return attempt
    reporter.step(attempt, "connect", candidate.endpoint())
    if plan.probe is not None and candidate.socktype == socket.SOCK_DGRAM:
        _probe_udp(reporter, attempt, plan.probe)
    else:
        reporter.finish(attempt, Outcome.CONNECTED)
    return attempt


def open_clientfd(
    candidates: Sequence[Candidate],
    plan: Plan,
    *,
    every: bool = False,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> list[Attempt]:
    """Try the candidates in order; stop at the first that connects unless ``every``.

    Returns every attempt made.  A connected attempt's socket is open (with
    ``every`` the caller closes them).
    """
    reporter = _Reporter(trace, clock)
    attempts: list[Attempt] = []
    try:
        for candidate in candidates:
            if plan.deadline is not None and clock() >= plan.deadline:
                break
            attempt = _attempt_blocking(reporter, candidate, plan)
            attempts.append(attempt)
            if attempt.outcome is Outcome.CONNECTED:
                reporter.connected(attempt)
                if not every:
                    break
    except BaseException:
        _close_all(attempts, trace)
        raise
    reporter.done(attempts)
    return attempts


def connect_sequential(
    candidates: Sequence[Candidate],
    plan: Plan,
    where: str,
    *,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Connection:
    """open_clientfd: the first candidate that connects, or the error for them all."""
    attempts = open_clientfd(candidates, plan, trace=trace, clock=clock)
    if attempts and attempts[-1].outcome is Outcome.CONNECTED and attempts[-1].sock:
        return Connection(attempts[-1].sock, attempts[-1], attempts)
    raise failure(where, attempts)


def connect_every(
    candidates: Sequence[Candidate],
    plan: Plan,
    where: str,
    *,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> list[Attempt]:
    """``--all``: try every candidate, close each connection, fail if any failed."""
    attempts = open_clientfd(candidates, plan, every=True, trace=trace, clock=clock)
    _close_all(attempts, trace)
    if len(attempts) < len(candidates) or any(
        a.outcome is not Outcome.CONNECTED for a in attempts
    ):
        raise failure(where, attempts)
    return attempts


def _close_all(attempts: Iterable[Attempt], trace: Trace) -> None:
    for attempt in attempts:
        if attempt.sock is not None:
            sys_close(trace, attempt.sock)
            attempt.sock = None


# --- Happy Eyeballs (RFC 8305 section 5) -----------------------------------------------------
#
# The problem: getaddrinfo returns several addresses and cannot say which of
# them work.  Trying them one at a time (open_clientfd above) is correct but
# a candidate that silently drops packets costs a full connect timeout (tens
# of seconds with the kernel's SYN retries, --timeout here) before the next is
# tried; the classic case is an IPv6 address on a host whose IPv6 is broken.
# Trying all at once is fast but floods the peer with connections it will
# mostly see closed.
#
# RFC 8305 section 5 sits between the two: start the first attempt; start the
# next one when the current attempt fails, or when "Connection Attempt Delay"
# has passed without an answer; the first attempt to connect wins and all
# others are cancelled.  Attempts that are running keep running: starting a
# new one does not abandon the old one (it may still win).
#
# Order (section 4): the candidates are interleaved by address family,
# starting with the family of getaddrinfo's first answer ("First Address
# Family Count" = 1, the RFC's default), so one broken family cannot delay
# every attempt by its whole length.  We trust getaddrinfo's order otherwise:
# it has already applied RFC 6724 and the admin's gai.conf, and reordering
# beyond what the RFC asks would make netprobe show something other than what
# the system does.
#
# The delay: 250 ms is the RFC's recommended "Connection Attempt Delay"
# (section 5; it allows 100 ms to 2 s).  It is longer than most RTTs, so a
# healthy first candidate wins before a second connection is ever opened,
# and short enough that a person does not notice a dead first candidate.
#
# Rejected:
# * asyncio.staggered / create_connection(happy_eyeballs_delay=...): they hide
#   the attempts, and reporting every attempt is the point of netprobe.
# * A thread per attempt: a blocking connect() cannot be cancelled from
#   another thread, and the race needs exactly one winner.
# * Caching which family worked (section 5's "stateful" variant): netprobe is
#   run once per question; a cache would make runs disagree with each other.
# * Resolving A and AAAA separately (section 3): the resolution core asks
#   getaddrinfo once, as every command does, so the race uses its answer.

DEFAULT_DELAY = 0.250

Wait = Callable[[selectors.BaseSelector, float], list[selectors.SelectorKey]]


def select_ready(selector: selectors.BaseSelector, timeout: float) -> list[selectors.SelectorKey]:
    """The real wait: the selector's keys that are ready within ``timeout`` seconds."""
    return [key for key, _ in selector.select(_finite(timeout))]


def _finite(seconds: float | None) -> float | None:
    """A selector timeout: None (for ever) instead of infinity."""
    return None if seconds is None or math.isinf(seconds) else seconds


def interleave_families(candidates: Sequence[Candidate], first_count: int = 1) -> list[Candidate]:
    """RFC 8305 section 4: alternate address families, getaddrinfo's first family first.

    ``first_count`` candidates of the first family come first ("First Address
    Family Count"), then one of each family in turn, in the order families
    first appear.  Within a family the order is getaddrinfo's.
    """
    queues: dict[int, deque[Candidate]] = {}
    for candidate in candidates:
        queues.setdefault(candidate.family, deque()).append(candidate)
    families = list(queues)
    result: list[Candidate] = []
    if not families:
        return result
    first = queues[families[0]]
    for _ in range(min(max(first_count, 1), len(first))):
        result.append(first.popleft())
    turn = 1 % len(families)
    while any(queues.values()):
        queue = queues[families[turn]]
        if queue:
            result.append(queue.popleft())
        turn = (turn + 1) % len(families)
    return result


def _start_nonblocking(reporter: _Reporter, candidate: Candidate, plan: Plan) -> Attempt:
    """socket, bind, and a non-blocking connect; the attempt may already be decided."""
    attempt = reporter.begin(candidate, plan)
    sock = _open(reporter, attempt, plan)
    if sock is None:
        return attempt
    sys_setblocking(reporter.trace, sock, False)
    number = sys_connect_ex(reporter.trace, sock, candidate.sockaddr)
    if number == 0:
        reporter.step(attempt, "connect", candidate.endpoint())
        reporter.finish(attempt, Outcome.CONNECTED)
    elif number in (errno_module.EINPROGRESS, errno_module.EAGAIN):
        reporter.step(attempt, "connect", f"{candidate.endpoint()} (in progress)")
    else:
        message = os.strerror(number)
        reporter.step(attempt, "connect", candidate.endpoint(), (number, message))
        reporter.finish(attempt, classify(number), number, message)
    return attempt


def happy_eyeballs(
    candidates: Sequence[Candidate],
    plan: Plan,
    where: str,
    *,
    delay: float = DEFAULT_DELAY,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
    wait: Wait = select_ready,
) -> Connection:
    """Race the candidates (RFC 8305 section 5); exactly one winner, the rest cancelled."""
    reporter = _Reporter(trace, clock)
    queue = deque(interleave_families(candidates))
    attempts: list[Attempt] = []
    running: list[Attempt] = []
    winner: Attempt | None = None
    next_start = reporter.origin
    selector = selectors.DefaultSelector()
    try:
        while winner is None and (queue or running):
            now = clock()
            out_of_time = plan.deadline is not None and now >= plan.deadline
            if queue and not out_of_time and (not running or now >= next_start):
                attempt = _start_nonblocking(reporter, queue.popleft(), plan)
                attempts.append(attempt)
                if attempt.outcome is Outcome.CONNECTED:
                    winner = attempt
                elif attempt.outcome is None:
                    running.append(attempt)
                    assert attempt.sock is not None
                    selector.register(attempt.sock, selectors.EVENT_WRITE, attempt)
                    next_start = now + delay
                else:
                    next_start = now  # failed at once: the next one starts now
                continue
            if not running:
                break  # out of time with candidates left untried
            wake = min(a.deadline for a in running)
            if queue and not out_of_time:
                wake = min(wake, next_start)
            ready = wait(selector, max(0.0, wake - now))
            now = clock()
            # Several attempts can finish in the same wait.  They are decided
            # in the order they were started, the RFC's order of preference,
            # so the earliest-started success wins and later ones are cancelled.
            finished = sorted((key.data for key in ready), key=attempts.index)
            for attempt in finished:
                assert attempt.sock is not None
                selector.unregister(attempt.sock)
                running.remove(attempt)
                number = sys_getsockopt(trace, attempt.sock, socket.SOL_SOCKET,
                                        socket.SO_ERROR)
                if number == 0 and winner is None:
                    reporter.step(attempt, "connect", f"{attempt.candidate.endpoint()} done")
                    reporter.finish(attempt, Outcome.CONNECTED)
                    winner = attempt
                elif number == 0 and winner is not None:
                    reporter.finish(attempt, Outcome.CANCELLED, None,
                                    f"connected too, after #{winner.index} had won")
                else:
                    message = os.strerror(number)
                    reporter.step(attempt, "connect", attempt.candidate.endpoint(),
                                  (number, message))
                    reporter.finish(attempt, classify(number), number, message)
                    next_start = now
            if winner is not None:
                break
            for attempt in list(running):
                if now >= attempt.deadline:
                    assert attempt.sock is not None
                    selector.unregister(attempt.sock)
                    running.remove(attempt)
                    reporter.step(attempt, "connect", attempt.candidate.endpoint(),
                                  (errno_module.ETIMEDOUT, "timed out"))
                    reporter.finish(attempt, Outcome.TIMEOUT, errno_module.ETIMEDOUT,
                                    "timed out")
                    next_start = now
        for attempt in running:
            # Still connecting when another won: close it, report it so.
            reporter.finish(attempt, Outcome.CANCELLED, None,
                            f"cancelled: #{winner.index} won" if winner else "cancelled")
        running.clear()
        if winner is not None:
            reporter.connected(winner)
    except BaseException:
        _close_all(attempts, trace)
        raise
    finally:
        selector.close()
    reporter.done(attempts)
    if winner is None or winner.sock is None:
        raise failure(where, attempts)
    sys_setblocking(trace, winner.sock, True)
    return Connection(winner.sock, winner, attempts)


# --- the data phase ----------------------------------------------------------------------------

#: Read size for stdin and the socket: large enough that a bulk transfer costs
#: few system calls (the bench compares with socat), small enough to stay
#: interactive (a read returns whatever is there, it does not wait to fill).
CHUNK = 256 * 1024
#: --expect keeps at most this much of the peer's data to match against, so
#: a peer that talks forever cannot make netprobe use unbounded memory.
EXPECT_WINDOW = 1024 * 1024

Output = Callable[[bytes], None]
#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


class Transfer:
    """What the data phase moved, and why it ended."""

    __slots__ = ("bytes_in", "bytes_out", "duration", "reason")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0
        self.reason = ""
        self.duration = 0.0

    def to_json(self) -> Fields:
        return {"bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "duration_ms": ms(self.duration), "reason": self.reason}


class _Expectation:
    """Matches --expect against a bounded window of what the peer sent."""

    def __init__(self, pattern: re.Pattern[bytes] | None) -> None:
        self.pattern = pattern
        self.window = bytearray()

    def feed(self, data: bytes) -> bool:
        if self.pattern is None:
            return False
        self.window += data
        if len(self.window) > EXPECT_WINDOW:
            del self.window[: len(self.window) - EXPECT_WINDOW]
        return self.pattern.search(self.window) is not None


def compile_expect(regex: str | None, stage: str = "expect") -> re.Pattern[bytes] | None:
    """The --expect regex, matched against the raw bytes (so binary peers work)."""
    if regex is None:
        return None
    try:
        return re.compile(regex.encode("utf-8", "surrogateescape"), re.MULTILINE)
    except re.error as exc:
        raise InvalidInput(stage, regex, f"not a valid regular expression ({exc})") from None


def usable_stdin(fd: int = 0) -> int | None:
    """fd 0 if it is open, else None (a closed stdin reads as immediate EOF)."""
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def relay(
    sock: socket.socket,
    *,
    stdin: int | None,
    send: bytes | None,
    output: Output,
    expect: re.Pattern[bytes] | None = None,
    timeout: float | None = None,
    half_close: bool = True,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """Stream sockets: stdin (or ``send``) to the peer and the peer to ``output``, at once.

    At the end of the input the write side is shut down (SHUT_WR) and the
    peer is read until it closes, so a request/response peer sees the whole
    request and the whole response arrives.  With ``expect`` it ends as soon
    as the peer's data matches, and raises CheckFailed when the peer closes
    first or ``timeout`` passes.  ``half_close=False`` keeps the write side
    open after the input (``--check --expect``: a banner check must not look
    like a client that left).

    One thread and poll(): poll, unlike epoll, accepts any stdin (a regular
    file, /dev/null, a pipe, a terminal).  The socket is non-blocking so a
    full send buffer never stops the peer's data from being read; stdin is
    only read when what was read before has been sent, so memory stays at one
    chunk.  stdout writes block: a slow reader slows the transfer down, as it
    should.
    """
    start = clock()
    transfer = Transfer()
    matcher = _Expectation(expect)
    deadline = start + timeout if (expect is not None and timeout is not None) else None
    pending = memoryview(send) if send is not None else memoryview(b"")
    reading_stdin = send is None and stdin is not None
    write_open = True
    selector = selectors.PollSelector()
    sys_setblocking(trace, sock, False)
    registered_stdin = False
    sock_events = 0

    def finish(reason: str) -> Transfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        return transfer

    try:
        while True:
            if write_open and half_close and not pending and not reading_stdin:
                _shutdown_write(sock, trace)
                write_open = False
            want_stdin = reading_stdin and not pending
            if want_stdin != registered_stdin:
                assert stdin is not None
                if want_stdin:
                    selector.register(stdin, selectors.EVENT_READ)
                else:
                    selector.unregister(stdin)
                registered_stdin = want_stdin
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
            if events != sock_events:
                if sock_events:
                    selector.modify(sock, events)
                else:
                    selector.register(sock, events)
                sock_events = events
            wait = None if deadline is None else max(0.0, deadline - clock())
            ready = selector.select(wait)
            if deadline is not None and not ready and clock() >= deadline:
                finish("expect timed out")
                raise CheckFailed("expect", _pattern_text(expect),
                                  f"no match within {timeout:g} s "
                                  f"({transfer.bytes_in} bytes received)", "ETIMEDOUT")
            for key, mask in ready:
                if key.fileobj is sock:
                    if mask & selectors.EVENT_READ:
                        try:
                            data = sys_recv(trace, sock, CHUNK)
                        except (BlockingIOError, InterruptedError):
                            data = None
                        except ConnectionResetError:
                            return _after_close(finish("reset by peer"), expect)
                        if data == b"":
                            return _after_close(finish("peer closed"), expect)
                        if data:
                            transfer.bytes_in += len(data)
                            output(data)
                            if matcher.feed(data):
                                return finish("expect matched")
                    if mask & selectors.EVENT_WRITE and pending:
                        try:
                            sent = sys_send(trace, sock, pending)
                        except (BlockingIOError, InterruptedError):
                            sent = 0
                        except (BrokenPipeError, ConnectionResetError):
                            # The peer will take no more; keep reading what it sends.
                            pending, reading_stdin, write_open = memoryview(b""), False, False
                            continue
                        transfer.bytes_out += sent
                        pending = pending[sent:]
                elif reading_stdin:
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, CHUNK)
                    except BlockingIOError:
                        continue  # a non-blocking stdin that poll() woke too early
                    if not chunk:
                        reading_stdin = False
                        continue
                    # Send at once when the socket takes it: saves a poll round.
                    try:
                        sent = sys_send(trace, sock, chunk)
                    except (BlockingIOError, InterruptedError):
                        sent = 0
                    except (BrokenPipeError, ConnectionResetError):
                        reading_stdin, write_open = False, False
                        continue
                    transfer.bytes_out += sent
                    pending = memoryview(chunk)[sent:]
    finally:
        selector.close()


def _shutdown_write(sock: socket.socket, trace: Trace) -> None:
    # Already gone is fine: reading will tell.
    with contextlib.suppress(OSError):
        sys_shutdown(trace, sock, socket.SHUT_WR)


def _pattern_text(pattern: re.Pattern[bytes] | None) -> str:
    return pattern.pattern.decode("utf-8", "replace") if pattern is not None else ""


def _after_close(transfer: Transfer, expect: re.Pattern[bytes] | None) -> Transfer:
    if expect is not None:
        raise CheckFailed("expect", _pattern_text(expect),
                          f"the peer closed without a match ({transfer.bytes_in} bytes received)")
    return transfer


def relay_datagrams(
    sock: socket.socket,
    *,
    stdin: int | None,
    send: bytes | None,
    output: Output,
    where: str,
    idle: float,
    expect: re.Pattern[bytes] | None = None,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
) -> Transfer:
    """``--udp``: each stdin line (or ``send``) is one datagram; every reply goes to ``output``.

    UDP has no close, so after the input ends replies are awaited until
    ``idle`` seconds pass without one (the SPEC's --timeout).  ICMP
    port-unreachable arrives as ECONNREFUSED on the connected socket: the
    peer's port is closed, which is a connect failure (exit 4).
    """
    start = clock()
    transfer = Transfer()
    matcher = _Expectation(expect)
    selector = selectors.PollSelector()
    sys_setblocking(trace, sock, False)
    selector.register(sock, selectors.EVENT_READ)
    reading_stdin = send is None and stdin is not None
    if reading_stdin:
        assert stdin is not None
        selector.register(stdin, selectors.EVENT_READ)
    partial = b""
    last = clock()

    def datagram(payload: bytes) -> None:
        try:
            transfer.bytes_out += sys_send(trace, sock, payload)
        except ConnectionRefusedError:
            refused()

    def refused() -> None:
        transfer.reason = "ECONNREFUSED"
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        raise AllCandidatesFailed("connect", where, "port unreachable (ICMP): nothing listens",
                                  "ECONNREFUSED")

    def finish(reason: str) -> Transfer:
        transfer.reason = reason
        transfer.duration = clock() - start
        trace("closed", transfer.to_json())
        return transfer

    try:
        if send is not None:
            datagram(send)
        while True:
            wait = None if reading_stdin else _finite(max(0.0, last + idle - clock()))
            ready = selector.select(wait)
            if not ready and not reading_stdin and clock() >= last + idle:
                if expect is not None:
                    finish("expect timed out")
                    raise CheckFailed("expect", _pattern_text(expect),
                                      f"no match within {idle:g} s "
                                      f"({transfer.bytes_in} bytes received)", "ETIMEDOUT")
                return finish("idle")
            for key, _ in ready:
                if key.fileobj is sock:
                    try:
                        data = sys_recv(trace, sock, 65535)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionRefusedError:
                        refused()
                    last = clock()
                    transfer.bytes_in += len(data)
                    output(data)
                    if matcher.feed(data):
                        return finish("expect matched")
                else:
                    assert stdin is not None
                    try:
                        chunk = os.read(stdin, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        if partial:
                            datagram(partial)
                            partial = b""
                        reading_stdin = False
                        selector.unregister(stdin)
                        last = clock()
                        continue
                    *lines, partial = (partial + chunk).split(b"\n")
                    for line in lines:
                        datagram(line + b"\n")
                    # A "line" longer than a datagram can hold goes in pieces,
                    # so input without newlines never piles up in memory.
                    while len(partial) >= MAX_DATAGRAM:
                        datagram(partial[:MAX_DATAGRAM])
                        partial = partial[MAX_DATAGRAM:]
    finally:
        selector.close()
