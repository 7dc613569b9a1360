"""How the system calls' arguments are written: C names, a sockaddr's fields, the addrinfo chain.

The pure half of ``netprobe.syscalls``: from Python's values to the
JSON-ready structures a ``syscall`` event carries, named and ordered as in
the C prototypes and structures (strace writes the same).
``netprobe.syscalls`` makes the calls and reports them with these;
``netprobe.render.syscalls`` draws them in C form.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

from netprobe.constants import (
    NETLINK_PROTOCOL_NAMES,
    family_name,
    protocol_name,
    socktype_name,
)
from netprobe.events import Fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Python creates every socket with SOCK_CLOEXEC (PEP 446) where it exists.
SOCK_CLOEXEC: int = getattr(socket, "SOCK_CLOEXEC", 0)
SOCK_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)


def type_name(kind: int) -> str:
    """``SOCK_STREAM|SOCK_CLOEXEC``: the base type and its flags, as strace writes them."""
    flags = kind & (SOCK_CLOEXEC | SOCK_NONBLOCK)
    parts = [str(socktype_name(kind & ~flags))]
    if flags & SOCK_CLOEXEC:
        parts.append("SOCK_CLOEXEC")
    if flags & SOCK_NONBLOCK:
        parts.append("SOCK_NONBLOCK")
    return "|".join(parts)


def protocol_text(family: int, protocol: int) -> str:
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
