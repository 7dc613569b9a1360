"""The sockets interface call by call: thin wrappers that make each call and report it.

``--syscalls`` shows every sockets-interface call netprobe makes, with its
arguments and result as the kernel saw them (SPEC, "Syscalls").  The core
makes those calls through the functions here instead of the bare socket
methods; each one performs exactly one call and reports it as a ``syscall``
event {``n``, ``call``, ``args``, ``result``, ``errno``, ``elapsed_us``,
``fd``} through the trace callback, whatever the output is.  The renderers
drop the events unless ``--syscalls`` was given.

Design decision: wrappers that always report, never a second code path.
"No call is made differently because it is being shown": a tracing mode
that took another path (a blocking connect here, a non-blocking one there)
would show a program that is not the one that runs without the flag.  So
the wrappers are the only path, and showing is the renderer's business.  A
report costs a dict, a clock read and a function call (2-3 us measured per
send/recv on a socketpair, renderer included): nothing next to a connect, and
next to the data phase's 256 KiB reads, which are reported one by one too
(the renderer sums them up unless ``-v``).

Design decision: which Python calls are which system calls.  Checked with
``strace -f`` (tests/test_syscalls.py keeps checking it):

* ``socket.socket(f, t, p)`` is one socket() whose type carries
  SOCK_CLOEXEC (Python makes every descriptor non-inheritable, PEP 446):
  reported with it, as the kernel saw it.
* ``sock.connect()`` on a socket with a timeout is *three* calls (connect
  = EINPROGRESS, poll, getsockopt(SO_ERROR)).  ``connect_with_timeout``
  below makes those three calls itself, so each is reported; without a
  time limit it is one blocking connect().
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

import errno as errno_module
import itertools
import math
import os
import select
import socket
import time
from collections.abc import Sequence
from typing import Any

from netprobe.constants import (
    NETLINK_PROTOCOL_NAMES,
    SHUT_NAMES,
    family_name,
    level_name,
    option_name,
    protocol_name,
    socktype_name,
)
from netprobe.errors import errno_name
from netprobe.events import Fields, Trace

#: Numbers every call of the process, in the order calls were made.
_numbers = itertools.count(1)
_now = time.monotonic

#: Python creates every socket with SOCK_CLOEXEC (PEP 446) where it exists.
SOCK_CLOEXEC: int = getattr(socket, "SOCK_CLOEXEC", 0)
SOCK_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)

# --- names of constants (the one table is netprobe.constants) ----------------------

#: Options whose value is an errno (getsockopt(SO_ERROR) returns one).
_ERRNO_VALUED = {(socket.SOL_SOCKET, socket.SO_ERROR)}


def type_name(kind: int) -> str:
    """``SOCK_STREAM|SOCK_CLOEXEC``: the base type and its flags, as strace writes them."""
    flags = kind & (SOCK_CLOEXEC | SOCK_NONBLOCK)
    parts = [str(socktype_name(kind & ~flags))]
    if flags & SOCK_CLOEXEC:
        parts.append("SOCK_CLOEXEC")
    if flags & SOCK_NONBLOCK:
        parts.append("SOCK_NONBLOCK")
    return "|".join(parts)


def _protocol_text(family: int, protocol: int) -> str:
    """socket()'s third argument: a netlink protocol for AF_NETLINK, else an IPPROTO_*."""
    if family == socket.AF_NETLINK:
        return NETLINK_PROTOCOL_NAMES.get(protocol, str(protocol))
    return str(protocol_name(protocol))


def sockaddr(address: Any, family: int | None = None) -> Fields:
    """A socket address (Python's tuple form) as the C structure's fields.

    ``{"family": "AF_INET6", "port": 80, "flowinfo": 0, "address": "::1",
    "scope_id": 0}``: the fields of struct sockaddr_in / sockaddr_in6 in
    their C order, the values in host form (the renderer shows the network
    order bytes).  ``family`` tells a netlink (pid, groups) pair from an
    IPv4 (address, port) pair: ``{"family": "AF_NETLINK", "pid": 0, "groups": 0}``.
    """
    if family == socket.AF_NETLINK:
        return {"family": "AF_NETLINK", "pid": int(address[0]), "groups": int(address[1])}
    if isinstance(address, tuple) and len(address) == 4:
        return {"family": "AF_INET6", "port": int(address[1]), "flowinfo": int(address[2]),
                "address": str(address[0]), "scope_id": int(address[3])}
    if isinstance(address, tuple) and len(address) == 2:
        return {"family": "AF_INET", "port": int(address[1]), "address": str(address[0])}
    return _unix_sockaddr(address)


def _unix_sockaddr(address: Any) -> Fields:
    """sockaddr_un: ``path``, ``abstract`` (the name after its NUL) or, unnamed, neither.

    CPython gives a path as str, an abstract name as bytes starting with NUL.
    """
    name = os.fsdecode(address) if isinstance(address, bytes) else str(address)
    if not name:
        return {"family": "AF_UNIX"}
    return ({"family": "AF_UNIX", "abstract": name[1:]} if name.startswith("\0")
            else {"family": "AF_UNIX", "path": name})


def sockaddr_len(address: Fields) -> int:
    """sizeof the structure: 16 for sockaddr_in, 28 for sockaddr_in6, 12 for sockaddr_nl;
    sockaddr_un's as CPython passes it: 2, the name, its NUL (2 alone when unnamed)."""
    name = address.get("path", address.get("abstract"))
    if address["family"] == "AF_UNIX":
        return 2 if name is None else 2 + len(os.fsencode(str(name))) + 1
    return {"AF_INET": 16, "AF_INET6": 28, "AF_NETLINK": 12}.get(str(address["family"]), 110)


# --- reporting ------------------------------------------------------------------------


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
    args: Fields = {"domain": family_name(family), "type": type_name(kind | SOCK_CLOEXEC),
                    "protocol": _protocol_text(family, protocol)}
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
    shown: Any = value
    if (level, option) in _ERRNO_VALUED and value:
        shown = errno_name(value)
    report(trace, "getsockopt", {**args, "optval": shown, "optlen": 4}, 0, None, started, fd)
    return value


def _address_call(trace: Trace, call: str, sock: socket.socket, address: Any) -> None:
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
    fd = _fd(sock)
    addr = sockaddr(address)
    args: Fields = {"sockfd": fd, "addr": addr, "addrlen": sockaddr_len(addr)}
    started = _now()
    number = sock.connect_ex(address)
    report(trace, "connect", args, -1 if number else 0, number or None, started, fd)
    return number


def sys_listen(trace: Trace, sock: socket.socket, backlog: int) -> None:
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
    """``sock.setblocking``: one ioctl(FIONBIO) on Linux."""
    fd = _fd(sock)
    args: Fields = {"fd": fd, "request": "FIONBIO", "argp": 0 if blocking else 1}
    started = _now()
    sock.setblocking(blocking)
    report(trace, "ioctl", args, 0, None, started, fd)


def sys_getsockname(trace: Trace, sock: socket.socket) -> Any:
    return _name_call(trace, "getsockname", sock)


def sys_getpeername(trace: Trace, sock: socket.socket) -> Any:
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
    fd = _fd(sock)
    millis = -1 if timeout is None or math.isinf(timeout) else max(0, math.ceil(timeout * 1000))
    poller = select.poll()
    poller.register(fd, events)
    started = _now()
    ready = poller.poll(millis)
    revents = [_poll_names(mask) for _, mask in ready]
    report(trace, "poll", {"fds": [{"fd": fd, "events": _poll_names(events)}], "nfds": 1,
                           "timeout": millis, "revents": revents},
           len(ready), None, started, fd)
    return bool(ready)


def _poll_names(mask: int) -> str:
    names = [name for name, bit in (("POLLOUT", select.POLLOUT), ("POLLERR", select.POLLERR),
                                    ("POLLHUP", select.POLLHUP), ("POLLIN", select.POLLIN))
             if mask & bit]
    return "|".join(names) or "0"


def connect_with_timeout(trace: Trace, sock: socket.socket, address: Any,
                         timeout: float | None) -> int:
    """connect() with a time limit, as the textbook (and CPython inside) does it.

    Non-blocking connect() = EINPROGRESS, poll() for writability, then
    getsockopt(SO_ERROR) for the outcome: each call reported.  Returns the
    errno (0 when connected, ETIMEDOUT when poll ran out of time).  The
    socket is left non-blocking; the caller decides what it needs next.
    Without a timeout it is one blocking connect().
    """
    if timeout is None or math.isinf(timeout):
        return sys_connect_ex(trace, sock, address)
    sys_setblocking(trace, sock, False)
    number = sys_connect_ex(trace, sock, address)
    if number not in (errno_module.EINPROGRESS, errno_module.EAGAIN):
        return number
    if not sys_poll(trace, sock, select.POLLOUT, timeout):
        return errno_module.ETIMEDOUT
    return sys_getsockopt(trace, sock, socket.SOL_SOCKET, socket.SO_ERROR)


def sys_send(trace: Trace, sock: socket.socket, data: bytes | memoryview) -> int:
    """send(): raises as ``sock.send`` does (BlockingIOError included), after reporting."""
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


def hints_struct(flags: list[str], family: str, socktype: Any, protocol: Any) -> Fields:
    """struct addrinfo hints, fields in C order."""
    return {"ai_flags": flags, "ai_family": family, "ai_socktype": socktype,
            "ai_protocol": protocol}


def addrinfo_chain(entries: Sequence[tuple[Any, ...]], flags: list[str]) -> list[Fields]:
    """The ``struct addrinfo`` list getaddrinfo returned, one dict per node, in ai_next order.

    ai_flags is not returned by Python's getaddrinfo; glibc copies the hints'
    ai_flags into every node (getaddrinfo.c), so that is what is shown.
    """
    chain: list[Fields] = []
    for family, kind, protocol, canonname, address in entries:
        addr = sockaddr(address)
        chain.append({
            "ai_flags": flags,
            "ai_family": family_name(int(family)),
            "ai_socktype": str(socktype_name(int(kind))),
            "ai_protocol": str(protocol_name(int(protocol))) if protocol else 0,
            "ai_addrlen": sockaddr_len(addr),
            "ai_addr": addr,
            "ai_canonname": canonname or None,
        })
    return chain


def now() -> float:
    """The clock the reports use (for callers that time a call themselves)."""
    return _now()
