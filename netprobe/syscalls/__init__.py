"""The sockets interface call by call: thin wrappers that make each call and report it.

``--syscalls`` shows every sockets-interface call netprobe makes, with its
arguments and result as the kernel saw them (SPEC, "Syscalls").  The core
makes those calls through the functions here instead of the bare socket
methods; each one performs exactly one call and reports it as a ``syscall``
event {``n``, ``call``, ``args``, ``result``, ``errno``, ``elapsed_us``,
``fd``} through the trace callback when the trace wants them
(``events.wants_of``: the renderers do with ``--syscalls``).

Design decision: wrappers that always make the same call, never a second
code path.  "No call is made differently because it is being shown": a
tracing mode that took another path (a blocking connect here, a
non-blocking one there) would show a program that is not the one that runs
without the flag.  So the wrappers are the only path; what depends on the
flag is only whether the report is built.  A report costs its argument
dicts, names looked up, two clock reads and a dispatch (2-3 us a call,
renderer included): nothing next to one slow connect, but a loopback probe
of ``connect --count`` is eight calls of ~4 us of kernel time each, and
building eight reports nobody reads doubled it.  So each wrapper first asks
``shown(trace)`` (one getattr and one call, ~0.1 us) and, when no one reads
the report, makes the bare call: the same one, with the same arguments, as
tests/test_wants.py checks with strace both ways.  ``n`` numbers the
reported calls, which are all of them whenever any is shown.

Design decision: which Python calls are which system calls.  Checked with
``strace -f`` (tests/test_syscalls.py keeps checking it):

* ``socket.socket(f, t, p)`` is one socket() whose type carries
  SOCK_CLOEXEC (Python makes every descriptor non-inheritable, PEP 446):
  reported with it, as the kernel saw it.
* ``sock.connect()`` on a socket with a timeout is *three* calls (connect
  = EINPROGRESS, poll, getsockopt(SO_ERROR)).  ``connect_with_timeout``
  (``netprobe.syscalls.connecting``) makes its calls itself (a second
  connect first, see there), so each is reported; without a time limit it
  is one blocking connect().
* ``setblocking``/``settimeout`` are ioctl(FIONBIO): reported as such.
* ``sock.close()`` is one close(), and none on an already closed socket.
* ``socket.getaddrinfo`` is getaddrinfo() then freeaddrinfo() (CPython
  frees the list as soon as it has copied it).  glibc's own sockets inside
  getaddrinfo (netlink for AI_ADDRCONFIG, nscd's Unix socket, the UDP
  sockets of RFC 6724 sorting) are the library's, not netprobe's: not shown.
* The DNS view's sockets are netprobe's (``netprobe.dnsview.asker`` opens,
  connects and closes them here and hands them to dnspython); the
  sendto/recvfrom of the query and answer are dnspython's: not shown.
  ``--explain``'s probes (netlink dump, source-address UDP connects) are
  netprobe's and made here.

Arguments are structured (JSON-ready) and named as in the C prototypes
(``sockfd``, ``addr``, ``addrlen``, ``level``, ``optname``...); constants
are their C names.  ``netprobe.render.syscalls`` draws them in C form.
"""

from __future__ import annotations

import itertools
import math
import select
import socket
import time

from netprobe.constants import SHUT_NAMES, family_name, level_name, option_name
from netprobe.errors import errno_name
from netprobe.events import Fields, Trace, everything

# How the arguments are written (C names, a sockaddr's fields, the addrinfo chain) is
# netprobe.syscalls.args'; named here too, where the callers have always found them.
from netprobe.syscalls.args import SOCK_CLOEXEC as SOCK_CLOEXEC
from netprobe.syscalls.args import SOCK_NONBLOCK as SOCK_NONBLOCK
from netprobe.syscalls.args import addrinfo_chain as addrinfo_chain
from netprobe.syscalls.args import hints_struct as hints_struct
from netprobe.syscalls.args import protocol_text
from netprobe.syscalls.args import sockaddr as sockaddr
from netprobe.syscalls.args import sockaddr_len as sockaddr_len
from netprobe.syscalls.args import type_name as type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Numbers every call of the process, in the order calls were made.
_numbers = itertools.count(1)
_now = time.monotonic

# --- names of constants (the one table is netprobe.constants) ----------------------

#: Options whose value is an errno (getsockopt(SO_ERROR) returns one).
_ERRNO_VALUED = {(socket.SOL_SOCKET, socket.SO_ERROR)}


# --- reporting ------------------------------------------------------------------------


#: The last trace asked and its answer, as one tuple (so that threads, check's workers,
#: read a pair that belongs together): a probe's calls are all asked of one trace,
#: whose answer is fixed (``netprobe.events``, its design decision on ``wants``).
_last_shown: tuple[object, bool] = (None, False)


def shown(trace: Trace) -> bool:
    """Whether the trace wants the ``syscall`` events (else the wrappers make bare calls)."""
    global _last_shown
    last = _last_shown
    if last[0] is trace:
        return last[1]
    answer = bool(getattr(trace, "wants", everything)("syscall"))
    _last_shown = (trace, answer)
    return answer


def report(trace: Trace, call: str, args: Fields, result: Any, number: int | str | None,
           started: float, fd: int | None, **extra: Any) -> None:
    """One ``syscall`` event; ``number`` is the errno (or EAI code) when it failed."""
    fields: Fields = {"n": next(_numbers), "call": call, "args": args, "result": result,
                      "errno": (errno_name(number) if number else None)
                      if isinstance(number, int) else number,
                      "elapsed_us": round((_now() - started) * 1e6), "fd": fd}
    if extra:
        fields.update(extra)
    trace("syscall", fields)


def _fd(sock: socket.socket) -> int:
    return sock.fileno()


# --- the calls --------------------------------------------------------------------------


def sys_socket(trace: Trace, family: int, kind: int, protocol: int) -> socket.socket:
    """socket(): raises OSError as Python does, after reporting the failure."""
    if not shown(trace):
        return socket.socket(family, kind, protocol)
    args: Fields = {"domain": family_name(family), "type": type_name(kind | SOCK_CLOEXEC),
                    "protocol": protocol_text(family, protocol)}
    started = _now()
    try:
        sock = socket.socket(family, kind, protocol)
    except OSError as exc:
        report(trace, "socket", args, -1, exc.errno, started, None)
        raise
    report(trace, "socket", args, sock.fileno(), None, started, sock.fileno())
    return sock


def sys_setsockopt(trace: Trace, sock: socket.socket, level: int, option: int,
                   value: int) -> None:
    if not shown(trace):
        sock.setsockopt(level, option, value)
        return
    fd = _fd(sock)
    args: Fields = {"sockfd": fd, "level": level_name(level),
                    "optname": option_name(level, option), "optval": value, "optlen": 4}
    started = _now()
    try:
        sock.setsockopt(level, option, value)
    except OSError as exc:
        report(trace, "setsockopt", args, -1, exc.errno, started, fd)
        raise
    report(trace, "setsockopt", args, 0, None, started, fd)


def sys_getsockopt(trace: Trace, sock: socket.socket, level: int, option: int) -> int:
    if not shown(trace):
        return sock.getsockopt(level, option)
    fd = _fd(sock)
    started = _now()
    args: Fields = {"sockfd": fd, "level": level_name(level),
                    "optname": option_name(level, option)}
    try:
        value = sock.getsockopt(level, option)
    except OSError as exc:
        report(trace, "getsockopt", {**args, "optval": None, "optlen": 4}, -1, exc.errno,
               started, fd)
        raise
    optval: Any = value
    if (level, option) in _ERRNO_VALUED and value:
        optval = errno_name(value)
    report(trace, "getsockopt", {**args, "optval": optval, "optlen": 4}, 0, None, started, fd)
    return value


def _address_call(trace: Trace, call: str, sock: socket.socket, address: Any) -> None:
    if not shown(trace):
        getattr(sock, call)(address)
        return
    fd = _fd(sock)
    addr = sockaddr(address, sock.family)
    args: Fields = {"sockfd": fd, "addr": addr, "addrlen": sockaddr_len(addr)}
    started = _now()
    try:
        getattr(sock, call)(address)
    except OSError as exc:
        report(trace, call, args, -1, exc.errno, started, fd)
        raise
    report(trace, call, args, 0, None, started, fd)


def sys_bind(trace: Trace, sock: socket.socket, address: Any) -> None:
    _address_call(trace, "bind", sock, address)


def sys_connect_ex(trace: Trace, sock: socket.socket, address: Any) -> int:
    """One connect() that returns the errno (EINPROGRESS on a non-blocking socket)."""
    if not shown(trace):
        return sock.connect_ex(address)
    fd = _fd(sock)
    addr = sockaddr(address)
    args: Fields = {"sockfd": fd, "addr": addr, "addrlen": sockaddr_len(addr)}
    started = _now()
    number = sock.connect_ex(address)
    report(trace, "connect", args, -1 if number else 0, number or None, started, fd)
    return number


def sys_listen(trace: Trace, sock: socket.socket, backlog: int) -> None:
    if not shown(trace):
        sock.listen(backlog)
        return
    fd = _fd(sock)
    args: Fields = {"sockfd": fd, "backlog": backlog}
    started = _now()
    try:
        sock.listen(backlog)
    except OSError as exc:
        report(trace, "listen", args, -1, exc.errno, started, fd)
        raise
    report(trace, "listen", args, 0, None, started, fd)


def sys_shutdown(trace: Trace, sock: socket.socket, how: int) -> None:
    if not shown(trace):
        sock.shutdown(how)
        return
    fd = _fd(sock)
    args: Fields = {"sockfd": fd, "how": SHUT_NAMES.get(how, str(how))}
    started = _now()
    try:
        sock.shutdown(how)
    except OSError as exc:
        report(trace, "shutdown", args, -1, exc.errno, started, fd)
        raise
    report(trace, "shutdown", args, 0, None, started, fd)


def sys_close(trace: Trace, sock: socket.socket) -> None:
    """close(); nothing (and no report) for a socket that is already closed."""
    if not shown(trace):
        sock.close()  # no call at all on a closed socket, as below
        return
    fd = _fd(sock)
    if fd < 0:
        return
    started = _now()
    try:
        sock.close()
    except OSError as exc:
        report(trace, "close", {"fd": fd}, -1, exc.errno, started, fd)
        raise
    report(trace, "close", {"fd": fd}, 0, None, started, fd)


def sys_setblocking(trace: Trace, sock: socket.socket, blocking: bool) -> None:
    """``sock.setblocking``: one ioctl(FIONBIO) on Linux; none to make non-blocking a
    socket that already is (made with SOCK_NONBLOCK, or set before: Python's timeout
    of 0.0 says so, and only a call that made the descriptor non-blocking sets it)."""
    if not blocking and sock.gettimeout() == 0.0:
        return
    if not shown(trace):
        sock.setblocking(blocking)
        return
    fd = _fd(sock)
    args: Fields = {"fd": fd, "request": "FIONBIO", "argp": 0 if blocking else 1}
    started = _now()
    sock.setblocking(blocking)
    report(trace, "ioctl", args, 0, None, started, fd)


def sys_getsockname(trace: Trace, sock: socket.socket) -> Any:
    if not shown(trace):
        return sock.getsockname()
    return _name_call(trace, "getsockname", sock)


def sys_getpeername(trace: Trace, sock: socket.socket) -> Any:
    if not shown(trace):
        return sock.getpeername()
    return _name_call(trace, "getpeername", sock)


def _name_call(trace: Trace, call: str, sock: socket.socket) -> Any:
    fd = _fd(sock)
    started = _now()
    try:
        address = getattr(sock, call)()
    except OSError as exc:
        report(trace, call, {"sockfd": fd, "addr": None, "addrlen": None}, -1, exc.errno,
               started, fd)
        raise
    addr = sockaddr(address, sock.family)
    report(trace, call, {"sockfd": fd, "addr": addr, "addrlen": sockaddr_len(addr)}, 0, None,
           started, fd)
    return address


def sys_poll(trace: Trace, sock: socket.socket, events: int, timeout: float | None) -> bool:
    """poll() one socket for ``events`` (POLLOUT: a connect finishing; POLLIN: a reply).

    False when the time ran out.
    """
    if not shown(trace):
        return poll_unreported(sock, events, timeout)
    fd = _fd(sock)
    millis = _poll_millis(timeout)
    poller = select.poll()
    poller.register(fd, events)
    started = _now()
    ready = poller.poll(millis)
    revents = [_poll_names(mask) for _, mask in ready]
    report(trace, "poll", {"fds": [{"fd": fd, "events": _poll_names(events)}], "nfds": 1,
                           "timeout": millis, "revents": revents},
           len(ready), None, started, fd)
    return bool(ready)


def _poll_millis(timeout: float | None) -> int:
    """poll()'s timeout argument: milliseconds, rounded up; -1 for none."""
    return -1 if timeout is None or math.isinf(timeout) else max(0, math.ceil(timeout * 1000))


def poll_unreported(sock: socket.socket, events: int, timeout: float | None) -> bool:
    """The poll() of sys_poll, unreported."""
    poller = select.poll()
    poller.register(sock.fileno(), events)
    return bool(poller.poll(_poll_millis(timeout)))


def _poll_names(mask: int) -> str:
    names = [name for name, bit in (("POLLOUT", select.POLLOUT), ("POLLERR", select.POLLERR),
                                    ("POLLHUP", select.POLLHUP), ("POLLIN", select.POLLIN))
             if mask & bit]
    return "|".join(names) or "0"


def sys_send(trace: Trace, sock: socket.socket, data: bytes | memoryview) -> int:
    """send(): raises as ``sock.send`` does (BlockingIOError included), after reporting."""
    if not shown(trace):
        return sock.send(data)
    fd = _fd(sock)
    args: Fields = {"sockfd": fd, "len": len(data), "flags": 0}
    started = _now()
    try:
        sent = sock.send(data)
    except OSError as exc:
        report(trace, "send", args, -1, exc.errno, started, fd)
        raise
    report(trace, "send", args, sent, None, started, fd)
    return sent


def sys_sendto(trace: Trace, sock: socket.socket, data: bytes, address: Any) -> int:
    """sendto() to ``address`` (a netlink request to the kernel, pid 0)."""
    if not shown(trace):
        return sock.sendto(data, address)
    fd = _fd(sock)
    addr = sockaddr(address, sock.family)
    args: Fields = {"sockfd": fd, "len": len(data), "flags": 0, "addr": addr,
                    "addrlen": sockaddr_len(addr)}
    started = _now()
    try:
        sent = sock.sendto(data, address)
    except OSError as exc:
        report(trace, "sendto", args, -1, exc.errno, started, fd)
        raise
    report(trace, "sendto", args, sent, None, started, fd)
    return sent


def sys_recv(trace: Trace, sock: socket.socket, size: int) -> bytes:
    if not shown(trace):
        return sock.recv(size)
    fd = _fd(sock)
    args: Fields = {"sockfd": fd, "len": size, "flags": 0}
    started = _now()
    try:
        data = sock.recv(size)
    except OSError as exc:
        report(trace, "recv", args, -1, exc.errno, started, fd)
        raise
    report(trace, "recv", args, len(data), None, started, fd)
    return data


# --- calls made by someone else: the resolver's and the event loop's --------------------


def report_loop_call(trace: Trace, call: str, args: Fields, result: int, fd: int | None,
                     loop: str) -> None:
    """A call the event loop made on netprobe's behalf (listen's accept, its close...).

    The loop makes these itself, so netprobe cannot time them: ``elapsed_us``
    is null and ``by`` names the loop.  Reported from the callback that
    follows the call (connection_made after accept4, connection_lost at
    close), so the order on each descriptor is the order the kernel saw.
    """
    trace("syscall", {"n": next(_numbers), "call": call, "args": args, "result": result,
                      "errno": None, "elapsed_us": None, "fd": fd, "by": loop})


def now() -> float:
    """The clock the reports use (for callers that time a call themselves)."""
    return _now()
