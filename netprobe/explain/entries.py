"""getaddrinfo's entries: each address once per socket type of glibc's table.

getaddrinfo does not answer addresses but entries (``struct addrinfo``):
``generate_addrinfo`` makes, for each address in the order it was found,
one entry per (socket type, protocol) pair that ``get_servtuples`` chose
from the table ``gaih_inet_typeproto`` (sysdeps/posix/getaddrinfo.c in
glibc 2.36, nss/getaddrinfo.c since 2.41).  The table, in its order:

=========  ============  ========  =========================================
socktype   protocol      name      notes
=========  ============  ========  =========================================
STREAM     TCP           tcp       default
DGRAM      UDP           udp       default
DCCP       DCCP          dccp
DGRAM      UDPLITE       udplite
STREAM     SCTP          sctp
SEQPACKET  SCTP          sctp
STREAM     MPTCP         mptcp     glibc 2.42 and later only
RAW        (any)         raw       default; takes the protocol asked; no service
=========  ============  ========  =========================================

How ``get_servtuples`` reads it (design decisions of glibc, kept here):

* Socket type and protocol both 0: with no service or a numeric one, one
  entry per *default* row (tcp, udp, raw: an address appears three times);
  with a service name, one per row (raw excepted) whose protocol name
  getservbyname knows the service for (``echo``: tcp and udp).
* Either given: only the *first* row that matches (a protocol matches the
  raw row whatever it is), so ``--protocol 132`` is SCTP's stream row and
  ``--socktype stream --protocol udp`` matches none: EAI_SOCKTYPE (with a
  socket type given; EAI_SERVICE with only a protocol).  The raw row takes
  no service at all: EAI_SERVICE.  A named service must be known for that
  row's protocol: EAI_SERVICE otherwise.
* A service is numeric when strtoul reads all of it (blanks and a sign
  allowed in front); the number is kept in an ``int``, so ``-1`` is not a
  port but a name (that no protocol knows).  A name with AI_NUMERICSERV
  fails with EAI_NONAME before any of this.

The services database is asked, not modelled: the same getservbyname
question per protocol name that glibc asks (``lookup`` below), because
which socket types a service has is /etc/services' business, not the
explanation's; the addresses and their order stay netprobe's own work.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from netprobe.constants import protocol_name, socktype_name
from netprobe.explain.sort import Address
from netprobe.record import Record, field

SOCK_DCCP, SOCK_SEQPACKET = 6, 5
IPPROTO_DCCP, IPPROTO_UDPLITE, IPPROTO_SCTP, IPPROTO_MPTCP = 33, 136, 132, 262
#: The glibc release whose table first has the MPTCP row (BZ #29609).
MPTCP_SINCE = (2, 42)


class Kind(Record):
    """The socket type and protocol of one entry."""

    __slots__ = ()
    _fields = ("socktype", "protocol")
    socktype: int = field(0)
    protocol: int = field(1)

    def __new__(cls, socktype: int, protocol: int) -> Kind:
        return tuple.__new__(cls, (socktype, protocol))

    def text(self) -> str:
        return f"{socktype_name(self.socktype)}/{protocol_name(self.protocol)}"


class Row(Record):
    """One row of ``gaih_inet_typeproto``."""

    __slots__ = ()
    _fields = ("kind", "name", "default", "any_protocol", "no_service")
    kind: Kind = field(0)
    name: str = field(1)  # the protocol name getservbyname is asked with
    default: bool = field(2)  # made when socket type and protocol are both 0
    any_protocol: bool = field(3)  # GAI_PROTO_PROTOANY: the protocol asked is kept
    no_service: bool = field(4)  # GAI_PROTO_NOSERVICE: no service at all

    def __new__(cls, kind: Kind, name: str, default: bool, any_protocol: bool = False, no_service:
                bool = False) -> Row:
        return tuple.__new__(cls, (kind, name, default, any_protocol, no_service))


def glibc_version() -> tuple[int, int] | None:
    """The C library's release (``confstr``), None when it is not glibc."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (OSError, ValueError):
        return None
    name, _, number = text.partition(" ")
    major, _, minor = number.partition(".")
    if name != "glibc" or not major.isdigit():
        return None
    return int(major), int(minor.partition(".")[0] or 0)


def type_table(version: tuple[int, int] | None) -> list[Row]:
    """glibc's table as the release ``version`` has it (2.36's when unknown)."""
    rows = [
        Row(Kind(socket.SOCK_STREAM, socket.IPPROTO_TCP), "tcp", True),
        Row(Kind(socket.SOCK_DGRAM, socket.IPPROTO_UDP), "udp", True),
        Row(Kind(SOCK_DCCP, IPPROTO_DCCP), "dccp", False),
        Row(Kind(socket.SOCK_DGRAM, IPPROTO_UDPLITE), "udplite", False),
        Row(Kind(socket.SOCK_STREAM, IPPROTO_SCTP), "sctp", False),
        Row(Kind(SOCK_SEQPACKET, IPPROTO_SCTP), "sctp", False),
    ]
    if version is not None and version >= MPTCP_SINCE:
        rows.append(Row(Kind(socket.SOCK_STREAM, IPPROTO_MPTCP), "mptcp", False))
    rows.append(Row(Kind(socket.SOCK_RAW, 0), "raw", True, any_protocol=True, no_service=True))
    return rows


def service_number(service: str) -> int | None:
    """glibc's ``strtoul`` of a service kept in an ``int``; None when it is a name."""
    text = service.lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    digits = text[1:] if text[:1] in "+-" and text else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    value = 2**64 - 1 if value >= 2**64 else (value * sign) % 2**64  # unsigned long
    value &= 0xFFFFFFFF  # stored in an int
    return value - 2**32 if value >= 2**31 else value


def service_known(service: str, protocol: str) -> bool:
    """Whether the services database has ``service`` for ``protocol`` (glibc's question)."""
    try:
        socket.getservbyname(service, protocol)
    except (OSError, UnicodeError, ValueError):
        return False
    return True


class Kinds(Record):
    """The kinds of entry made for each address, or why there are none."""

    __slots__ = ()
    _fields = ("kinds", "error", "why")
    kinds: list[Kind] = field(0)
    error: str | None = field(1)
    why: str | None = field(2)

    def __new__(cls, kinds: list[Kind], error: str | None = None, why: str | None = None) -> Kinds:
        return tuple.__new__(cls, (kinds, error, why))


def _matches(row: Row, socktype: int, protocol: int) -> bool:
    return ((socktype == 0 or socktype == row.kind.socktype)
            and (protocol == 0 or row.any_protocol or protocol == row.kind.protocol))


def _kind_of(row: Row, protocol: int) -> Kind:
    return Kind(row.kind.socktype, protocol) if row.any_protocol else row.kind


def entry_kinds(socktype: int, protocol: int, service: str | None, rows: list[Row],
                lookup: Callable[[str, str], bool] = service_known) -> Kinds:
    """``get_servtuples``: the (socket type, protocol) of each entry, in glibc's order."""
    chosen: Row | None = None
    if socktype or protocol:
        chosen = next((row for row in rows if _matches(row, socktype, protocol)), None)
        if chosen is None:
            asked = f"{socktype_name(socktype)} with {protocol_name(protocol)}"
            return Kinds([], "EAI_SOCKTYPE" if socktype else "EAI_SERVICE",
                         f"no row of glibc's socket-type table is {asked}")
        if service is not None and chosen.no_service:
            return Kinds([], "EAI_SERVICE", f"{chosen.name} takes no service")
    number = service_number(service) if service is not None else None
    if service is None or (number is not None and number >= 0):
        if chosen is not None:
            return Kinds([_kind_of(chosen, protocol)])
        return Kinds([row.kind for row in rows if row.default])
    candidates = [chosen] if chosen is not None else [row for row in rows if not row.no_service]
    kinds = [_kind_of(row, protocol) for row in candidates if lookup(service, row.name)]
    if not kinds:
        names = ", ".join(dict.fromkeys(row.name for row in candidates))
        return Kinds([], "EAI_SERVICE", f"service {service!r} is not known for {names}")
    return Kinds(kinds)


class Entry(Record):
    """One getaddrinfo entry as the explanation sees it: an address of one kind."""

    __slots__ = ()
    _fields = ("address", "kind")
    address: Address = field(0)
    kind: Kind = field(1)

    def __new__(cls, address: Address, kind: Kind) -> Entry:
        return tuple.__new__(cls, (address, kind))

    def text(self) -> str:
        return f"{self.address.text()} {self.kind.text()}"


def expand(addresses: list[Address], kinds: list[Kind]) -> list[Entry]:
    """``generate_addrinfo``: every address in turn, once per kind."""
    return [Entry(address, kind) for address in addresses for kind in kinds]
