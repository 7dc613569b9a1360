"""Opening one candidate's socket: socket() and, with --source, setsockopt + bind().

What ``open_clientfd`` (``clientfd.py``) and the Happy Eyeballs race
(``happy_eyeballs.py``) do first for every attempt, each step reported to
the attempt's ``Reporter`` (``attempts.py``).
"""

from __future__ import annotations

import errno as errno_module
import socket

from netprobe.addrinfo import Candidate
from netprobe.connect.attempts import Attempt, Outcome, Plan, Reporter, classify, describe
from netprobe.constants import family_name, protocol_name, socktype_name
from netprobe.endpoints import format_endpoint
from netprobe.syscalls import sys_bind, sys_getsockname, sys_setsockopt, sys_socket

# IP_BIND_ADDRESS_NO_PORT (Linux 4.2+, value 24): with --source ADDR and no
# port, bind() would pick a port that is free for *every* peer, one of the
# ~28k ephemeral ports, before connect() knows the peer.  With this option the
# kernel only fixes the address at bind() and picks the port at connect(), as
# it does without a bind.  Rejected: SO_REUSEADDR, which lets nascent sockets
# share a port and then fails connect() with EADDRNOTAVAIL on a 4-tuple clash.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
#: 0 where there is none: the socket is then made blocking, and the ioctl is made.
_SOCK_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)


def _socket_detail(candidate: Candidate) -> str:
    """socket()'s arguments for the step line: ``AF_INET SOCK_STREAM IPPROTO_TCP``."""
    return (f"{family_name(candidate.family)} {socktype_name(candidate.socktype)} "
            f"{protocol_name(candidate.protocol)}")


def open_candidate(reporter: Reporter, attempt: Attempt, plan: Plan, *,
                   nonblocking: bool = False) -> socket.socket | None:
    """socket() and, with --source, setsockopt + bind(): each step traced.

    ``nonblocking``: made so by socket() itself (SOCK_NONBLOCK), for a connect
    with a time limit (``netprobe.syscalls.connecting``), which then needs no
    ioctl(FIONBIO).  Returns None after reporting the attempt as failed.
    """
    candidate = attempt.candidate
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
        sock = sys_socket(reporter.trace, candidate.family,
                          candidate.socktype | _SOCK_NONBLOCK if nonblocking
                          else candidate.socktype, candidate.protocol)
    except OSError as exc:
        number, message = describe(exc)
        reporter.step(attempt, "socket", _socket_detail(candidate), (number, message))
        reporter.finish(attempt, classify(number), number, message)
        return None
    attempt.sock = sock
    if reporter.shows_steps:  # asked here: the step is "socket" already, and a closure costs
        reporter.step(attempt, "socket", lambda: f"{_socket_detail(candidate)} fd {sock.fileno()}")
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
    bound = sys_getsockname(reporter.trace, sock)
    reporter.step(attempt, "bind", format_endpoint(str(bound[0]), int(bound[1])))
    return sock
