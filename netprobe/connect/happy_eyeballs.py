"""Happy Eyeballs (RFC 8305 section 5): race the candidates, one winner, the rest cancelled.

Non-blocking sockets and a selector.  The clock and the wait primitive are
parameters so that tests can run the race on a fake clock.
"""

from __future__ import annotations

import errno as errno_module
import os
import selectors
import socket
from collections import deque
from collections.abc import Callable, Sequence

from netprobe.addrinfo import Candidate
from netprobe.connect.attempts import (
    Attempt,
    Connected,
    Outcome,
    Plan,
    Reporter,
    classify,
    close_all,
    failure,
    finite,
)
from netprobe.connect.opening import open_candidate
from netprobe.events import Clock, Trace, monotonic, no_trace
from netprobe.syscalls import sys_connect_ex, sys_getsockopt, sys_setblocking

# The problem: getaddrinfo returns several addresses and cannot say which of
# them work.  Trying them one at a time (open_clientfd, clientfd.py) is correct but
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
    return [key for key, _ in selector.select(finite(timeout))]


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


def _start_nonblocking(reporter: Reporter, candidate: Candidate, plan: Plan) -> Attempt:
    """socket, bind, and a non-blocking connect; the attempt may already be decided."""
    attempt = reporter.begin(candidate, plan)
    sock = open_candidate(reporter, attempt, plan, nonblocking=True)
    if sock is None:
        return attempt
    sys_setblocking(reporter.trace, sock, False)  # no call where SOCK_NONBLOCK made it so
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
) -> Connected:
    """Race the candidates (RFC 8305 section 5); exactly one winner, the rest cancelled."""
    reporter = Reporter(trace, clock)
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
        close_all(attempts, trace)
        raise
    finally:
        selector.close()
    reporter.done(attempts)
    if winner is None or winner.sock is None:
        raise failure(where, attempts)
    sys_setblocking(trace, winner.sock, True)
    return Connected(winner.sock, winner, attempts)
