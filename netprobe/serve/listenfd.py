"""``listen``'s binding core: open_listenfd made visible, one step at a time.

The textbook ``open_listenfd`` (CS:APP 11.4.8) walks getaddrinfo's list with
AI_PASSIVE and, for each entry, calls socket(), setsockopt(SO_REUSEADDR),
bind() and listen() until one works.  This module does the same walk, but
every step's outcome is reported (``bind`` events) with its errno name, so a
user sees *why* a port could not be opened on an address, not just that it
could not.

The serving half lives in ``netprobe.serve``; this module never prints (it
calls ``trace``) and never exits (it raises ``AllCandidatesFailed``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from netprobe.addrinfo import Candidate, Hints
from netprobe.constants import family_name, socktype_name
from netprobe.errors import AllCandidatesFailed, errno_name
from netprobe.events import Clock, Trace, monotonic, ms, no_trace
from netprobe.resolver import getaddrinfo
from netprobe.syscalls import (
    sys_bind,
    sys_close,
    sys_getsockname,
    sys_getsockopt,
    sys_listen,
    sys_setblocking,
    sys_setsockopt,
    sys_socket,
)

if TYPE_CHECKING:
    from netprobe.schema import BindEvent, BindStepFields, ListeningEvent, SocketFields

# Design decision: default = every candidate, not the first.
#
# open_listenfd stops at the first candidate that binds.  With a NULL host and
# AI_PASSIVE, glibc returns 0.0.0.0 before ::, so the textbook server listens
# on IPv4 only and every IPv6 client (``connect localhost`` often tries ::1
# first) is refused.  Like trio's open_tcp_listeners and Go's net.Listen, the
# default here binds every candidate, each on its own socket; ``--first``
# gives the textbook behaviour back for comparison.
#
# Rejected: one AF_INET6 socket with IPV6_V6ONLY=0 taking IPv4 as mapped
# addresses (CPython's create_server(dualstack_ipv6=True)).  It depends on
# net.ipv6.bindv6only and on IPv6 being enabled at all, and it hides the
# IPv4 address the user asked about behind ::ffff:a.b.c.d.

# Design decision: IPV6_V6ONLY=1 on IPv6 sockets when several are bound.
#
# Linux defaults IPV6_V6ONLY to 0 (net.ipv6.bindv6only), so [::]:P would also
# claim 0.0.0.0:P and the IPv4 socket next to it would fail with EADDRINUSE
# (or, if the IPv4 one was bound first, the IPv6 bind fails).  With a single
# socket (``--first``, or one candidate) the system default is left alone and
# the ``listening`` event reports what it is (``v6only``), so a user sees
# whether IPv4-mapped clients can reach it.

# Design decision: SO_REUSEADDR on every socket (but never SO_REUSEPORT).
#
# It lets a restarted server bind while connections of the previous one sit
# in TIME_WAIT, which is what every Unix server does.  It does not let two
# listeners share a port on Linux, so a port held by another process still
# shows EADDRINUSE.  SO_REUSEPORT would let them share it silently: rejected.
# A failing setsockopt is reported as that candidate's error (CPython
# ignores it and lets bind fail later; showing it is the point here).

# Design decision: one port for all sockets, even with PORT 0.
#
# trio's open_tcp_listeners documents that port 0 gives each address its own
# random port; a user of ``listen 0`` wants one port to connect to.  The
# first socket that binds picks the port and every later candidate whose
# port is 0 binds that port.  Should that port be taken on the other family
# (rare), that candidate shows EADDRINUSE like any other.


#: The steps of open_listenfd, in order (the SPEC's ``step`` values).
STEPS = ("socket", "setsockopt", "bind", "listen")


class Step(NamedTuple):
    """One system call made for a candidate and how it went."""

    step: str
    ok: bool
    errno: str | None
    message: str
    option: str | None = None

    def to_json(self) -> BindStepFields:
        fields: BindStepFields = {"step": self.step, "outcome": "ok" if self.ok else "error",
                                  "errno": self.errno, "message": self.message}
        if self.option is not None:
            fields["option"] = self.option
        return fields


class Listener(NamedTuple):
    """A socket that is bound (and, for streams, listening)."""

    sock: socket.socket
    candidate: Candidate
    address: str
    port: int
    #: IPv6 sockets: whether IPV6_V6ONLY is set (None for IPv4).
    v6only: bool | None

    @property
    def family(self) -> int:
        return self.candidate.family

    def to_json(self) -> SocketFields:
        fields: SocketFields = {
            "family": family_name(self.candidate.family),
            "socktype": socktype_name(self.candidate.socktype),
            "address": self.address,
            "port": self.port,
        }
        if self.v6only is not None:
            fields["v6only"] = self.v6only
        return fields


def with_port(candidate: Candidate, port: int) -> Candidate:
    """The same candidate with another port (its sockaddr is what bind() gets)."""
    return candidate._replace(port=port)


def error_text(exc: OSError) -> str:
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc)


class _StepFailed(Exception):
    """Raised by ``_call`` after it recorded the failing step."""


def _call(steps: list[Step], name: str, fn: Callable[..., object], *args: object,
          option: str | None = None) -> None:
    """Run one system call, record its outcome, raise _StepFailed on error."""
    try:
        fn(*args)
    except OSError as exc:
        steps.append(Step(name, False, errno_name(exc.errno), error_text(exc), option))
        raise _StepFailed from None
    steps.append(Step(name, True, None, "ok", option))


def _open_one(candidate: Candidate, *, v6only: bool, backlog: int,
              trace: Trace = no_trace) -> tuple[list[Step], Listener | None]:
    """socket, setsockopt, bind, listen for one candidate: the steps, and the listener if all
    went well.  Every call goes through ``netprobe.syscalls`` (``--syscalls``)."""
    steps: list[Step] = []
    try:
        sock = sys_socket(trace, candidate.family, candidate.socktype, candidate.protocol)
    except OSError as exc:
        return [Step("socket", False, errno_name(exc.errno), error_text(exc))], None
    steps.append(Step("socket", True, None, "ok"))
    try:
        _call(steps, "setsockopt", sys_setsockopt, trace, sock, socket.SOL_SOCKET,
              socket.SO_REUSEADDR, 1, option="SO_REUSEADDR")
        if v6only and candidate.family == socket.AF_INET6:
            _call(steps, "setsockopt", sys_setsockopt, trace, sock, socket.IPPROTO_IPV6,
                  socket.IPV6_V6ONLY, 1, option="IPV6_V6ONLY")
        _call(steps, "bind", sys_bind, trace, sock, candidate.sockaddr)
        if candidate.socktype == socket.SOCK_STREAM:
            _call(steps, "listen", sys_listen, trace, sock, backlog)
        bound = sys_getsockname(trace, sock)
        only: bool | None = None
        if candidate.family == socket.AF_INET6:
            only = bool(sys_getsockopt(trace, sock, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
        sys_setblocking(trace, sock, False)
    except _StepFailed:
        sys_close(trace, sock)
        return steps, None
    except BaseException:
        sys_close(trace, sock)
        raise
    return steps, Listener(sock, candidate, str(bound[0]), int(bound[1]), only)


def _bind_event(candidate: Candidate, steps: list[Step], listening: bool,
                elapsed: float) -> BindEvent:
    """The SPEC's ``bind`` event: the step reached, its outcome, plus every step."""
    last = steps[-1]
    return {
        "index": candidate.index,
        "candidate": candidate.to_json(),
        "step": last.step,
        "outcome": "listening" if listening else "error",
        "errno": last.errno,
        "message": "listening" if listening else last.message,
        "option": last.option,
        "steps": [s.to_json() for s in steps],
        "elapsed_ms": ms(elapsed),
    }


def open_listeners(
    host: str | None,
    service: str | None,
    hints: Hints,
    *,
    backlog: int,
    first: bool = False,
    trace: Trace,
    clock: Clock = monotonic,
) -> list[Listener]:
    """Resolve, then bind every candidate (or the first that binds with ``first``).

    Emits the resolver's events, one ``bind`` event per candidate tried and,
    once at least one socket is bound, one ``listening`` event with them all.
    Raises ``AllCandidatesFailed`` (exit 4) when none could be bound.
    """
    resolution = getaddrinfo(host, service, hints, trace=trace, clock=clock, stage="listen")
    candidates = resolution.candidates
    several = not first and len(candidates) > 1
    listeners: list[Listener] = []
    failures: list[Step] = []
    shared_port: int | None = None
    for candidate in candidates:
        if listeners and first:
            trace("bind_skipped", {"index": candidate.index, "candidate": candidate.to_json(),
                                   "reason": "--first"})
            continue
        if candidate.port == 0 and shared_port is not None:
            candidate = with_port(candidate, shared_port)
        start = clock()
        try:
            steps, listener = _open_one(candidate, v6only=several, backlog=backlog,
                                        trace=trace)
        except BaseException:
            for done in listeners:
                sys_close(trace, done.sock)
            raise
        if listener is None:
            failures.append(steps[-1])
            failed = _bind_event(candidate, steps, False, clock() - start)
            # The failure path only: who holds the port, read now (issue 19).
            from netprobe.kernel.whybind import why_bind

            failed["why"] = why_bind(candidate, steps[-1].errno, v6only=several)
            trace("bind", failed)
            continue
        if shared_port is None:
            shared_port = listener.port
        shown = with_port(candidate, listener.port)
        listeners.append(listener)
        trace("bind", _bind_event(shown, steps, True, clock() - start))
    if not listeners:
        where = f"{host or '*'} {service}"
        codes = {f.errno for f in failures}
        code = failures[-1].errno if failures and len(codes) == 1 else None
        detail = failures[-1].message if failures and len(codes) == 1 else "see the bind steps"
        raise AllCandidatesFailed(
            "bind", where,
            f"{detail} (no candidate of {len(candidates)} could be bound)", code,
        )
    fields: ListeningEvent = {"sockets": [lst.to_json() for lst in listeners]}
    if hints.socktype == socket.SOCK_STREAM:
        # The kernel silently caps listen()'s backlog at net.core.somaxconn
        # (128 before Linux 5.4): say what the queue really is, since a burst
        # of clients past it waits for SYN retransmits (1 s, 3 s, ...).
        cap = somaxconn()
        fields["backlog"] = min(backlog, cap) if cap is not None else backlog
        if cap is not None and cap < backlog:
            fields["somaxconn"] = cap
    trace("listening", fields)
    return listeners


def somaxconn() -> int | None:
    """net.core.somaxconn (Linux), None where it cannot be read."""
    try:
        with open("/proc/sys/net/core/somaxconn") as source:
            return int(source.read().strip())
    except (OSError, ValueError):
        return None
