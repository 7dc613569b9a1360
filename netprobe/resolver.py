"""The resolution core: getaddrinfo and getnameinfo, made visible.

Every command resolves through this module and nothing else calls
``socket.getaddrinfo`` to resolve.  It returns what the C library returns,
in the order it returns it: netprobe is a window on the system's resolver,
so it never sorts, filters or deduplicates candidates (RFC 6724 ordering is
the library's job, and showing *its* order is the point).

Two things are added around the calls, both because users have been bitten
without them:

* Input is checked before it reaches the library (``netprobe.inputs``).  A
  port outside 0-65535, a NUL byte or a host longer than DNS allows is the
  user's mistake (exit 2), not a resolver failure, and must never turn into
  a Python exception.
* getaddrinfo can block for many seconds on a dead resolver and cannot be
  cancelled.  With a timeout the call runs in a daemon worker thread that is
  abandoned when time is up: the same answer curl and wait-for-it users asked
  for.  The abandoned thread dies with the process.

Where the rest is: the values asked and answered (``Hints``, ``Candidate``,
``Resolution``, ``NameInfo``) in ``netprobe.addrinfo``; the C names of the
constants and flags in ``netprobe.constants``; the input checks in
``netprobe.inputs``; endpoint text and socket-address types in
``netprobe.endpoints``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

from netprobe import syscalls
from netprobe.addrinfo import Candidate, Hints, NameInfo, Resolution
from netprobe.constants import AI_FLAGS, NI_FLAGS, eai_name, flag_names
from netprobe.endpoints import SockAddr, Source, ip_sockaddr, split_endpoint
from netprobe.errors import GaiError, InvalidInput, TimedOut
from netprobe.events import Clock, Fields, Trace, monotonic, no_trace
from netprobe.inputs import check_host, check_service, host_argument, parse_port, target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


def call_bounded(fn: Callable[[], T], timeout: float | None, stage: str, where: str) -> T:
    """Run ``fn`` in a worker thread and give up after ``timeout`` seconds.

    ``join`` with a timeout is interruptible, so Ctrl-C works while a
    resolver hangs, which a direct call would not allow.
    """
    if timeout is None:
        return fn()
    # Imported here: a numeric address resolves without a thread (some 4 M
    # instructions of start-up for the import alone).
    import threading

    values: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            values.append(fn())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, name=f"netprobe-{stage}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimedOut(stage, where, f"no answer within {timeout:g} s", "ETIMEDOUT")
    if errors:
        raise errors[0]
    return values[0]


def _gai_error(stage: str, where: str, exc: socket.gaierror) -> GaiError:
    number = exc.errno if isinstance(exc.errno, int) else 0
    text = exc.strerror or str(exc)
    if number == getattr(socket, "EAI_SYSTEM", None):
        text = f"{text} ({exc})"
    return GaiError(stage, where, eai_name(number), number, text)


def getaddrinfo(
    host: str | None,
    service: str | None,
    hints: Hints,
    *,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
    timeout: float | None = None,
    stage: str = "resolve",
) -> Resolution:
    """Call getaddrinfo(host, service, hints) and return its candidates, in its order.

    An empty string is passed as NULL, as the SPEC says.  Emits
    ``resolving``, one ``candidate`` per entry and ``resolved``.
    """
    host = host or None
    service = service or None
    where = target(host, service)
    check_host(host, stage)
    check_service(service, stage, host)
    trace("resolving", {"host": host, "service": service, "hints": hints.to_json()})
    start = clock()

    query = host_argument(host)

    def call() -> Sequence[tuple[int, int, int, str, tuple[Any, ...]]]:
        return _addrinfo(query, service, hints)

    hints_json = hints.to_json()
    c_hints = syscalls.hints_struct(hints_json["flags"], hints_json["family"],
                                    hints_json["socktype"], hints_json["protocol"])
    args: Fields = {"node": host, "service": service, "hints": c_hints}
    try:
        entries = call_bounded(call, timeout, stage, where)
    except socket.gaierror as exc:
        error = _gai_error(stage, where, exc)
        syscalls.report(trace, "getaddrinfo", {**args, "res": None}, error.eai_number,
                        error.eai_name, start, None)
        raise error from None
    except TimedOut:
        # Abandoned in its worker thread: it has not returned (and may never).
        syscalls.report(trace, "getaddrinfo", {**args, "res": None}, None, None, start, None,
                        unfinished=True)
        raise
    except (UnicodeError, ValueError, OverflowError) as exc:
        raise InvalidInput(stage, where, str(exc)) from None
    except OSError as exc:
        raise InvalidInput(stage, where, exc.strerror or str(exc)) from None
    elapsed = clock() - start
    chain = syscalls.addrinfo_chain(entries, hints_json["flags"])
    syscalls.report(trace, "getaddrinfo", {**args, "res": chain}, 0, None, start, None)
    # CPython copies the list into Python objects and frees it at once.
    syscalls.report(trace, "freeaddrinfo", {"res": "res"}, None, None, clock(), None)

    candidates: list[Candidate] = []
    for index, (family, socktype, protocol, canonname, raw) in enumerate(entries):
        sockaddr = ip_sockaddr(raw)
        flowinfo, scope_id = (sockaddr[2], sockaddr[3]) if len(sockaddr) == 4 else (0, 0)
        candidate = Candidate(
            index=index,
            family=int(family),
            socktype=int(socktype),
            protocol=protocol,
            canonname=canonname,
            address=sockaddr[0],
            port=sockaddr[1],
            flowinfo=flowinfo,
            scope_id=scope_id,
        )
        candidates.append(candidate)
        trace("candidate", {"candidate": candidate.to_json()})
    canon = next((c.canonname for c in candidates if c.canonname), None)
    result = Resolution(host, service, hints, candidates, canon, elapsed)
    trace("resolved", result.to_json())
    return result


# Names that are not UTF-8.  Python decodes the C library's names as strict
# UTF-8, but a hosts file or a PTR record can hold any bytes: without this, a
# hostile /etc/hosts line makes `reverse` an internal error.  Such a name is
# kept, its undecodable bytes as surrogateescape characters (U+DC80-U+DCFF),
# which the terminal shows as \xNN (netprobe.safe) and JSON as \udcNN.


def _name_bytes(exc: UnicodeDecodeError) -> str:
    return bytes(exc.object).decode("utf-8", "surrogateescape")


def _addrinfo(host: str | bytes | None, service: str | None,
              hints: Hints) -> Sequence[tuple[int, int, int, str, tuple[Any, ...]]]:
    """socket.getaddrinfo; a canonical name that is not UTF-8 is kept, not an exception."""
    try:
        return socket.getaddrinfo(
            host, service, hints.family, hints.socktype, hints.protocol, hints.flags
        )
    except UnicodeDecodeError as exc:
        if not hints.flags & socket.AI_CANONNAME:
            raise
        # Only the canonical name is decoded from the C library's text; the
        # same call without AI_CANONNAME gives the same entries, and glibc
        # puts the name on the first.
        canonname = _name_bytes(exc)
        entries = socket.getaddrinfo(
            host, service, hints.family, hints.socktype, hints.protocol,
            hints.flags & ~socket.AI_CANONNAME,
        )
        return [(f, t, p, canonname if i == 0 else "", sa)
                for i, (f, t, p, _, sa) in enumerate(entries)]


def _nameinfo(sockaddr: SockAddr, flags: int) -> tuple[str, str]:
    """socket.getnameinfo; a host or service name that is not UTF-8 is kept."""
    try:
        return socket.getnameinfo(sockaddr, flags)
    except UnicodeDecodeError:
        pass

    # Which of the two failed is not said: ask for each with the other numeric.
    def part(extra_flags: int, index: int) -> str:
        try:
            name: str = socket.getnameinfo(sockaddr, extra_flags)[index]
            return name
        except UnicodeDecodeError as exc:
            return _name_bytes(exc)

    return (part(flags | socket.NI_NUMERICSERV, 0),
            part((flags | socket.NI_NUMERICHOST) & ~socket.NI_NAMEREQD, 1))


def numeric_sockaddr(address: str, port: int, stage: str,
                     trace: Trace = no_trace) -> SockAddr:
    """The socket address of a numeric IPv4/IPv6 address (``%scope`` allowed).

    A getaddrinfo call of its own (AI_NUMERICHOST: no resolver is asked),
    reported like every other for ``--syscalls``.
    """
    check_host(address, stage)
    hints = Hints(0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
    flags = flag_names(hints.flags, AI_FLAGS)
    args: Fields = {"node": address, "service": str(port),
                    "hints": syscalls.hints_struct(flags, "AF_UNSPEC", "SOCK_STREAM", 0)}
    start = syscalls.now()
    try:
        entries = socket.getaddrinfo(host_argument(address), port, *hints)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        if isinstance(exc, socket.gaierror) and isinstance(exc.errno, int):
            syscalls.report(trace, "getaddrinfo", {**args, "res": None}, exc.errno,
                            eai_name(exc.errno), start, None)
        detail = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise InvalidInput(
            stage, address, f"not a numeric IPv4 or IPv6 address ({detail})"
        ) from None
    chain = syscalls.addrinfo_chain(entries, flags)
    syscalls.report(trace, "getaddrinfo", {**args, "res": chain}, 0, None, start, None)
    syscalls.report(trace, "freeaddrinfo", {"res": "res"}, None, None, syscalls.now(), None)
    return ip_sockaddr(entries[0][4])


def getnameinfo(
    address: str,
    port: str | None,
    flags: int,
    *,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
    timeout: float | None = None,
) -> NameInfo:
    """Call getnameinfo on a numeric address and port with the NI_* ``flags``."""
    stage = "reverse"
    port_number = parse_port(port, stage) if port else 0
    address_tuple = numeric_sockaddr(address, port_number, stage, trace)
    where = target(address, port)
    trace("reversing", {"address": address, "port": port_number,
                        "flags": flag_names(flags, NI_FLAGS)})
    start = clock()
    addr = syscalls.sockaddr(address_tuple)
    args: Fields = {"addr": addr, "addrlen": syscalls.sockaddr_len(addr)}
    # NI_MAXHOST and NI_MAXSERV: the buffer sizes <netdb.h> suggests and CPython passes.
    unknown: Fields = {"host": None, "hostlen": 1025, "serv": None, "servlen": 32,
                       "flags": flag_names(flags, NI_FLAGS)}
    try:
        host, service = call_bounded(
            lambda: _nameinfo(address_tuple, flags),
            timeout,
            stage,
            where,
        )
    except socket.gaierror as exc:
        error = _gai_error(stage, where, exc)
        syscalls.report(trace, "getnameinfo", {**args, **unknown}, error.eai_number,
                        error.eai_name, start, None)
        raise error from None
    except TimedOut:
        syscalls.report(trace, "getnameinfo", {**args, **unknown}, None, None, start, None,
                        unfinished=True)
        raise
    except OSError as exc:
        raise InvalidInput(stage, where, exc.strerror or str(exc)) from None
    syscalls.report(trace, "getnameinfo",
                    {**args, "host": host, "hostlen": 1025, "serv": service, "servlen": 32,
                     "flags": unknown["flags"]}, 0, None, start, None)
    result = NameInfo(address, port_number, flags, host, service, clock() - start)
    trace("reversed", result.to_json())
    return result


# --- connect --source: a numeric address of this machine -----------------------------


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
