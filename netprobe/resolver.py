"""The resolution core: getaddrinfo and getnameinfo, made visible.

Every command resolves through this module and nothing else calls
``socket.getaddrinfo``.  It returns what the C library returns, in the order
it returns it: netprobe is a window on the system's resolver, so it never
sorts, filters or deduplicates candidates (RFC 6724 ordering is the
library's job, and showing *its* order is the point).

Two things are added around the calls, both because users have been bitten
without them:

* Input is checked before it reaches the library.  A port outside 0-65535, a
  NUL byte or a host longer than DNS allows is the user's mistake (exit 2),
  not a resolver failure, and must never turn into a Python exception.
* getaddrinfo can block for many seconds on a dead resolver and cannot be
  cancelled.  With a timeout the call runs in a daemon worker thread that is
  abandoned when time is up: the same answer curl and wait-for-it users asked
  for.  The abandoned thread dies with the process.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from netprobe import syscalls
from netprobe.errors import GaiError, InvalidInput, TimedOut
from netprobe.events import Clock, Fields, Trace, monotonic, ms, no_trace

if TYPE_CHECKING:
    from netprobe.schema import (
        CandidateFields,
        HintsFields,
        ResolvedEvent,
        ReversedEvent,
    )

T = TypeVar("T")
#: An AF_INET (address, port) or AF_INET6 (address, port, flowinfo, scope_id) address.
SockAddr = tuple[str, int] | tuple[str, int, int, int]

# --- names of the C constants -------------------------------------------------

FAMILIES: dict[str, int] = {
    "unspec": socket.AF_UNSPEC,
    "inet": socket.AF_INET,
    "inet6": socket.AF_INET6,
}
SOCKTYPES: dict[str, int] = {
    "any": 0,
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "raw": socket.SOCK_RAW,
}
PROTOCOLS: dict[str, int] = {"any": 0, "tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}

#: AI_* flags in the order the SPEC lists them, keyed by option name.
AI_FLAGS: dict[str, tuple[str, int]] = {
    "passive": ("AI_PASSIVE", socket.AI_PASSIVE),
    "canonname": ("AI_CANONNAME", socket.AI_CANONNAME),
    "numeric_host": ("AI_NUMERICHOST", socket.AI_NUMERICHOST),
    "numeric_serv": ("AI_NUMERICSERV", socket.AI_NUMERICSERV),
    "addrconfig": ("AI_ADDRCONFIG", socket.AI_ADDRCONFIG),
    "v4mapped": ("AI_V4MAPPED", socket.AI_V4MAPPED),
    "all": ("AI_ALL", socket.AI_ALL),
}
#: NI_* flags, keyed by option name.
NI_FLAGS: dict[str, tuple[str, int]] = {
    "numeric_host": ("NI_NUMERICHOST", socket.NI_NUMERICHOST),
    "numeric_serv": ("NI_NUMERICSERV", socket.NI_NUMERICSERV),
    "namereqd": ("NI_NAMEREQD", socket.NI_NAMEREQD),
    "dgram": ("NI_DGRAM", socket.NI_DGRAM),
    "nofqdn": ("NI_NOFQDN", socket.NI_NOFQDN),
}

_FAMILY_NAMES: dict[int, str] = {
    socket.AF_UNSPEC: "AF_UNSPEC", socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6",
    socket.AF_UNIX: "AF_UNIX",
}
_SOCKTYPE_NAMES: dict[int, str] = {
    socket.SOCK_STREAM: "SOCK_STREAM",
    socket.SOCK_DGRAM: "SOCK_DGRAM",
    socket.SOCK_RAW: "SOCK_RAW",
    socket.SOCK_SEQPACKET: "SOCK_SEQPACKET",
}
_PROTOCOL_NAMES: dict[int, str] = {
    socket.IPPROTO_TCP: "IPPROTO_TCP",
    socket.IPPROTO_UDP: "IPPROTO_UDP",
    socket.IPPROTO_ICMP: "IPPROTO_ICMP",
    socket.IPPROTO_ICMPV6: "IPPROTO_ICMPV6",
    socket.IPPROTO_RAW: "IPPROTO_RAW",
    132: "IPPROTO_SCTP",
}
# EAI_* numbers are negative on glibc and differ between systems: read them
# from the socket module rather than writing them down.  Read when a failure
# first needs a name, not at every start-up (dir(socket) sorts ~1000 names).
_EAI_NAMES: dict[int, str] = {}


def family_name(family: int) -> str:
    return _FAMILY_NAMES.get(family, str(family))


def socktype_name(socktype: int) -> str | int:
    """The C name, or the number when there is none (0 means "any")."""
    return _SOCKTYPE_NAMES.get(socktype, socktype)


def protocol_name(protocol: int) -> str | int:
    return _PROTOCOL_NAMES.get(protocol, protocol)


def eai_name(number: int) -> str:
    if not _EAI_NAMES:
        _EAI_NAMES.update(
            (getattr(socket, name), name) for name in dir(socket) if name.startswith("EAI_"))
    return _EAI_NAMES.get(number, f"EAI_{number}")


def flag_names(flags: int, table: dict[str, tuple[str, int]]) -> list[str]:
    # Plain ints: the socket module's flags are IntFlag members, whose ``&``
    # runs through the enum machinery (a tenth of a check target's time).
    value = int(flags)
    return [name for name, bit in table.values() if value & int(bit)]


# --- values -------------------------------------------------------------------


def format_endpoint(address: str, port: int | None = None) -> str:
    """``ADDR:PORT``, an IPv6 address in brackets (``[::1]:80``), as curl and ncat print
    them and as ``--source`` and ``--server`` accept them; the address alone without a port.

    The one formatter of endpoints: the core, the DNS view and the renderers use it.
    """
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


class Hints(NamedTuple):
    """The ``struct addrinfo`` hints given to getaddrinfo."""

    family: int = socket.AF_UNSPEC
    socktype: int = 0
    protocol: int = 0
    flags: int = 0

    def to_json(self) -> HintsFields:
        return {
            "family": family_name(self.family),
            "socktype": socktype_name(self.socktype),
            "protocol": protocol_name(self.protocol),
            "flags": flag_names(self.flags, AI_FLAGS),
        }


class Candidate(NamedTuple):
    """One ``struct addrinfo`` entry getaddrinfo returned (index from 0)."""

    # The SPEC names this field ``index``; it shadows tuple.index, which no
    # caller needs.  (A dataclass would avoid that but costs ~1 ms of start-up.)
    index: int  # type: ignore[assignment]
    family: int
    socktype: int
    protocol: int
    canonname: str
    address: str
    port: int
    flowinfo: int = 0
    scope_id: int = 0

    @property
    def sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int] | str:
        """What bind() and connect() take (a str: netprobe.unix.candidate's path)."""
        if self.family == socket.AF_INET6:
            return (self.address, self.port, self.flowinfo, self.scope_id)
        return (self.address, self.port)

    def endpoint(self) -> str:
        """``127.0.0.1:80`` or ``[::1]:80`` (``[fe80::1%2]:80`` with a scope)."""
        scope = f"%{self.scope_id}" if self.scope_id and self.family == socket.AF_INET6 else ""
        return format_endpoint(self.address + scope, self.port)

    def to_json(self) -> CandidateFields:
        return {
            "index": self.index,
            "family": family_name(self.family),
            "socktype": socktype_name(self.socktype),
            "protocol": protocol_name(self.protocol),
            "address": self.address,
            "port": self.port,
            "flowinfo": self.flowinfo,
            "scope_id": self.scope_id,
            "canonname": self.canonname or None,
        }


class Resolution(NamedTuple):
    host: str | None
    service: str | None
    hints: Hints
    candidates: list[Candidate]
    canonname: str | None
    elapsed: float

    def to_json(self) -> ResolvedEvent:
        return {
            "host": self.host,
            "service": self.service,
            "hints": self.hints.to_json(),
            "canonname": self.canonname,
            "candidates": [c.to_json() for c in self.candidates],
            "elapsed_ms": ms(self.elapsed),
        }


class NameInfo(NamedTuple):
    address: str
    port: int
    flags: int
    host: str
    service: str
    elapsed: float

    def to_json(self) -> ReversedEvent:
        return {
            "address": self.address,
            "port": self.port,
            "flags": flag_names(self.flags, NI_FLAGS),
            "host": self.host,
            "service": self.service,
            "elapsed_ms": ms(self.elapsed),
        }


# --- input checks ---------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?[0-9]+")


def target(host: str | None, service: str | None) -> str:
    """How an error names what was being resolved."""
    return " ".join(part for part in (host, service) if part is not None) or "(null)"


def check_host(host: str | None, stage: str = "resolve") -> None:
    """Reject hosts no resolver could answer for, before asking one.

    The limits are DNS's (RFC 1035 section 2.3.4: 63 octets a label, 253 a
    name in text form), checked on the IDNA form that Python hands to the
    C library.  Refusing here keeps a typo from waiting on a resolver.
    """
    if host is None:
        return
    if "\x00" in host:
        raise InvalidInput(stage, repr(host), "host contains a NUL byte")
    # IDNA refuses over-long labels with an opaque message: check the limits
    # on the text first, then on the encoded form of a non-ASCII name.
    if host.isascii():
        encoded = host.encode()
        # What the IDNA codec refuses in an ASCII name (see host_argument).
        if not all(encoded.split(b".")[:-1]):
            raise InvalidInput(stage, host, "the host name has an empty label (\"..\" or a "
                               "leading dot)")
    else:
        try:
            encoded = host.encode("idna")
        except UnicodeError as exc:
            raise InvalidInput(stage, repr(host), f"not a valid host name ({exc})") from None
    if len(encoded.rstrip(b".")) > 253:
        raise InvalidInput(stage, host[:40] + "...", "host name longer than 253 characters")
    if any(len(label) > 63 for label in encoded.split(b".")):
        raise InvalidInput(stage, host, "a label of the host name is longer than 63 characters")


def host_argument(host: str | None) -> str | bytes | None:
    """``host`` as handed to socket.getaddrinfo: an ASCII name as its bytes.

    Design decision: CPython encodes a ``str`` host with the IDNA codec, whose
    first use imports ``encodings.idna``, ``stringprep`` and ``unicodedata``:
    about 15% of the instructions of a whole ``resolve --json`` run (valgrind),
    spent to turn ASCII into the same ASCII.  Bytes go to the C library as
    they are, which is what the codec returns for an ASCII name once it has
    checked that no label is empty or longer than 63 octets; ``check_host``
    makes both checks first.  A non-ASCII name still goes through the codec.
    (CPython's own sockaddr conversion skips the codec for ASCII the same way.)
    """
    return host.encode("ascii") if host is not None and host.isascii() else host


def check_service(service: str | None, stage: str = "resolve", host: str | None = None) -> None:
    """A service is a name or a port 0-65535; a number outside that is a usage error."""
    if service is None:
        return
    where = target(host, service)
    if "\x00" in service:
        raise InvalidInput(stage, repr(service), "service contains a NUL byte")
    if _NUMBER.fullmatch(service.strip()) and not 0 <= int(service) <= 65535:
        raise InvalidInput(stage, where, f"port {service} is outside 0-65535")


def split_endpoint(text: str, stage: str, forms: str) -> tuple[str, str | None, bool]:
    """Split ``ADDR``, ``ADDR:PORT``, ``[IPV6]``, ``[IPV6]:PORT`` or a bare IPv6 address.

    Returns (address, port text or None when absent, bracketed).  A port after
    an IPv6 address needs the brackets: ``::1:53`` is itself an address (the
    rule of URLs, curl, dig and ncat).  ``forms`` ends the error message.
    """
    raw = text.strip()
    if raw.startswith("["):
        address, bracket, rest = raw[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidInput(stage, raw or repr(text), f"malformed address; {forms}")
        return address, (rest[1:] if rest else None), True
    if raw.count(":") == 1:
        address, _, port = raw.partition(":")
        return address, port, False
    return raw, None, False


def parse_port(text: str, stage: str) -> int:
    """A numeric port 0-65535 (for reverse, listen and connect's --source)."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise InvalidInput(stage, text, "port must be a number 0-65535")
    return int(text)


class Source:
    """A local address to bind before connecting."""

    def __init__(self, family: int, sockaddr: SockAddr, text: str) -> None:
        self.family = family
        self.sockaddr = sockaddr
        self.text = text

    @property
    def port(self) -> int:
        return self.sockaddr[1]


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


# --- the calls ------------------------------------------------------------------


def call_bounded(fn: Callable[[], T], timeout: float | None, stage: str, where: str) -> T:
    """Run ``fn`` in a worker thread and give up after ``timeout`` seconds.

    ``join`` with a timeout is interruptible, so Ctrl-C works while a
    resolver hangs, which a direct call would not allow.
    """
    if timeout is None:
        return fn()
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
# which the terminal shows as \xNN (render.safe) and JSON as \udcNN.


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


def ip_sockaddr(raw: tuple[Any, ...]) -> SockAddr:
    """An AF_INET or AF_INET6 socket address as the socket module gives it, typed."""
    if len(raw) == 4:
        return str(raw[0]), int(raw[1]), int(raw[2]), int(raw[3])
    return str(raw[0]), int(raw[1])


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
