"""open_clientfd: one candidate at a time, in getaddrinfo's order.

The textbook loop (CS:APP's open_clientfd, CPython's
``socket.create_connection``): each step on its own line so that the failing
step and its errno are what gets reported.  A connect with a time limit waits
in poll() (``syscalls.connecting``): simple, and Ctrl-C interrupts
the wait (PEP 475 re-checks signals on EINTR).
``connect_sequential`` stops at the first that connects (plain ``connect``);
``connect_every`` tries them all (``connect --all``).  Here too: the
``--udp --check`` probe of a connected datagram socket.
"""

from __future__ import annotations

import errno as errno_module
import math
import os
import select
import socket
from collections.abc import Sequence

from netprobe.addrinfo import Candidate
from netprobe.connect.attempts import (
    CONNECTED,
    Attempt,
    Connected,
    Outcome,
    Plan,
    Reporter,
    classify,
    close_all,
    describe,
    failure,
)
from netprobe.connect.opening import open_candidate
from netprobe.events import Clock, Trace, monotonic, no_trace
from netprobe.syscalls import sys_poll, sys_recv, sys_send
from netprobe.syscalls.connecting import connect_with_timeout


def _attempt_blocking(reporter: Reporter, candidate: Candidate, plan: Plan) -> Attempt:
    attempt = reporter.begin(candidate, plan)
    # Non-blocking from socket() when the connect has a time limit; a Unix
    # socket's connect waits in the kernel instead (netprobe.unix.connecting).
    sock = open_candidate(reporter, attempt, plan,
                          nonblocking=attempt.deadline < math.inf
                          and candidate.family != socket.AF_UNIX)
    if sock is None:
        return attempt
    remaining = attempt.deadline - reporter.clock()
    if remaining <= 0:
        reporter.finish(attempt, Outcome.TIMEOUT, errno_module.ETIMEDOUT, "timed out")
        return attempt
    # The textbook's connect with a time limit (non-blocking connect, poll,
    # getsockopt(SO_ERROR)): what sock.settimeout + sock.connect do inside
    # CPython, made here so that --syscalls can show each call; with a second
    # connect() first, which is the verdict when the peer is on this host
    # (netprobe.syscalls.connecting says why).
    if candidate.family == socket.AF_UNIX:
        # No EINPROGRESS on a Unix socket: the kernel waits (netprobe.unix.connecting).
        from netprobe.unix.connecting import connect_unix

        number = connect_unix(reporter.trace, sock, str(candidate.sockaddr), remaining)
    else:
        number = connect_with_timeout(reporter.trace, sock, candidate.sockaddr, remaining)
    if number:
        message = "timed out" if number == errno_module.ETIMEDOUT else os.strerror(number)
        reporter.step(attempt, "connect", candidate.endpoint(), (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return attempt
    reporter.step(attempt, "connect", candidate.endpoint)
    if plan.probe is not None and candidate.socktype == socket.SOCK_DGRAM:
        probe_udp(reporter, attempt, plan.probe)
    else:
        reporter.finish(attempt, CONNECTED)
    return attempt


def probe_udp(reporter: Reporter, attempt: Attempt, wait: float) -> None:
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
    reporter = Reporter(trace, clock)
    attempts: list[Attempt] = []
    try:
        for candidate in candidates:
            if plan.deadline is not None and clock() >= plan.deadline:
                break
            attempt = _attempt_blocking(reporter, candidate, plan)
            attempts.append(attempt)
            if attempt.outcome is CONNECTED:
                reporter.connected(attempt)
                if not every:
                    break
    except BaseException:
        close_all(attempts, trace)
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
) -> Connected:
    """open_clientfd: the first candidate that connects, or the error for them all."""
    attempts = open_clientfd(candidates, plan, trace=trace, clock=clock)
    if attempts and attempts[-1].outcome is CONNECTED and attempts[-1].sock:
        return Connected(attempts[-1].sock, attempts[-1], attempts)
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
    close_all(attempts, trace)
    if len(attempts) < len(candidates) or any(
        a.outcome is not Outcome.CONNECTED for a in attempts
    ):
        raise failure(where, attempts)
    return attempts
