"""What getaddrinfo is asked and what it answers: ``Hints``, ``Candidate``, ``Resolution``,
and getnameinfo's ``NameInfo``; each knows its JSON form (netprobe.schema).

Plain values, no calls: the calls are ``netprobe.resolver``'s, so a module
that only reads candidates (a renderer's helper, the attempt machinery's
types, the DNS view) needs nothing of the resolver's.

Design decision: where AF_UNIX enters.  A Unix socket is a candidate with
nothing to resolve: one sockaddr_un (a path or an abstract ``@NAME``), no
port.  It gets a type of its own in a module of its own beside this one,
with the face the attempt and bind machinery use of ``Candidate``
(``index``, ``family``, ``socktype``, ``protocol``, ``address``,
``sockaddr``, ``endpoint()``, ``to_json()``; the machinery's annotations
then name that face), its family name from ``netprobe.constants`` (AF_UNIX
is there) and its sockaddr drawn by ``netprobe.syscalls.sockaddr`` (which
knows AF_UNIX already): IP's types here gain no branch for it.
"""

from __future__ import annotations

import socket

from netprobe.constants import (
    AI_FLAGS,
    NI_FLAGS,
    family_name,
    flag_names,
    protocol_name,
    socktype_name,
)
from netprobe.endpoints import SockAddr, format_endpoint
from netprobe.events import ms
from netprobe.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.schema import (
        CandidateFields,
        HintsFields,
        ResolvedEvent,
        ReversedEvent,
    )


class Hints(Record):
    """The ``struct addrinfo`` hints given to getaddrinfo."""

    __slots__ = ()
    _fields = ("family", "socktype", "protocol", "flags")
    family: int = field(0)
    socktype: int = field(1)
    protocol: int = field(2)
    flags: int = field(3)

    def __new__(cls, family: int = socket.AF_UNSPEC, socktype: int = 0, protocol: int = 0,
                flags: int = 0) -> Hints:
        return tuple.__new__(cls, (family, socktype, protocol, flags))

    def to_json(self) -> HintsFields:
        return {
            "family": family_name(self.family),
            "socktype": socktype_name(self.socktype),
            "protocol": protocol_name(self.protocol),
            "flags": flag_names(self.flags, AI_FLAGS),
        }


class Candidate(Record):
    """One ``struct addrinfo`` entry getaddrinfo returned (index from 0)."""

    __slots__ = ()
    _fields = ("index", "family", "socktype", "protocol", "canonname", "address", "port",
               "flowinfo", "scope_id")
    # The SPEC names this field ``index``; it shadows tuple.index, which no
    # caller needs.  (A dataclass would avoid that but costs ~1 ms of start-up.)
    index: int = field(0)  # type: ignore[assignment]
    family: int = field(1)
    socktype: int = field(2)
    protocol: int = field(3)
    canonname: str = field(4)
    address: str = field(5)
    port: int = field(6)
    flowinfo: int = field(7)
    scope_id: int = field(8)

    def __new__(cls, index: int, family: int, socktype: int, protocol: int, canonname: str,
                address: str, port: int, flowinfo: int = 0, scope_id: int = 0) -> Candidate:
        return tuple.__new__(cls, (index, family, socktype, protocol, canonname, address, port,
                                   flowinfo, scope_id))

    @property
    def sockaddr(self) -> SockAddr | str:
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


class Resolution(Record):
    __slots__ = ()
    _fields = ("host", "service", "hints", "candidates", "canonname", "elapsed")
    host: str | None = field(0)
    service: str | None = field(1)
    hints: Hints = field(2)
    candidates: list[Candidate] = field(3)
    canonname: str | None = field(4)
    elapsed: float = field(5)

    def __new__(cls, host: str | None, service: str | None, hints: Hints,
                candidates: list[Candidate], canonname: str | None, elapsed: float) -> Resolution:
        return tuple.__new__(cls, (host, service, hints, candidates, canonname, elapsed))

    def to_json(self) -> ResolvedEvent:
        return {
            "host": self.host,
            "service": self.service,
            "hints": self.hints.to_json(),
            "canonname": self.canonname,
            "candidates": [c.to_json() for c in self.candidates],
            "elapsed_ms": ms(self.elapsed),
        }


class NameInfo(Record):
    __slots__ = ()
    _fields = ("address", "port", "flags", "host", "service", "elapsed")
    address: str = field(0)
    port: int = field(1)
    flags: int = field(2)
    host: str = field(3)
    service: str = field(4)
    elapsed: float = field(5)

    def __new__(cls, address: str, port: int, flags: int, host: str, service: str,
                elapsed: float) -> NameInfo:
        return tuple.__new__(cls, (address, port, flags, host, service, elapsed))

    def to_json(self) -> ReversedEvent:
        return {
            "address": self.address,
            "port": self.port,
            "flags": flag_names(self.flags, NI_FLAGS),
            "host": self.host,
            "service": self.service,
            "elapsed_ms": ms(self.elapsed),
        }
