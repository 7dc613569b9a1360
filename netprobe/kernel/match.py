"""Pure rules on socket addresses: who takes a destination, what a bind overlaps, how a
binding reads.

These are the kernel's rules (net/ipv4/inet_hashtables.c, inet6_hashtables.c,
inet_connection_sock.c), written down so that ``why`` can name the socket
that explains a failure, and tested on their own (tests/test_why_units.py):

* A listener takes a connection to ADDRESS when it is bound to ADDRESS or
  to its family's wildcard; an IPv6 wildcard listener without IPV6_V6ONLY
  takes IPv4 too (as ``::ffff:a.b.c.d``).  A destination written as an
  IPv4-mapped IPv6 address is IPv4 on the wire.
* A bind of ADDRESS conflicts with a socket on the same port whose address
  overlaps: the same address, or either of them a wildcard, across the
  families when the IPv6 one is a wildcard without IPV6_V6ONLY.  (Whether
  SO_REUSEADDR lets a non-listening holder share the port is not in the
  table; ``why`` lists listeners first for that reason.)
"""

from __future__ import annotations

import socket
from typing import NamedTuple

from netprobe.netlink.diag import InetSocket

_ANY: dict[int, str] = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}
_MAPPED = "::ffff:"


class Address(NamedTuple):
    """One end as the kernel sees it: an IPv4-mapped IPv6 address is IPv4."""

    family: int
    address: str

    @property
    def wildcard(self) -> bool:
        return self.address == _ANY[self.family]


def wire(family: int, address: str) -> Address:
    """``address`` as the kernel treats it (``::ffff:127.0.0.1`` is 127.0.0.1; no scope)."""
    address = address.partition("%")[0]
    if family == socket.AF_INET6 and address.lower().startswith(_MAPPED) and "." in address:
        return Address(socket.AF_INET, address[len(_MAPPED):])
    return Address(family, address)


def takes(listener: InetSocket, destination: Address) -> bool:
    """Whether ``listener`` (a TCP listener or a bound UDP socket) takes ``destination``."""
    bound = wire(listener.family, listener.local_address)
    if bound.family == destination.family:
        return bound.wildcard or bound.address == destination.address
    # Only an IPv6 wildcard reaches across, and only without IPV6_V6ONLY.
    return (bound.family == socket.AF_INET6 and bound.wildcard
            and destination.family == socket.AF_INET and listener.v6only is not True)


def overlaps(holder: InetSocket, wanted: Address, v6only: bool) -> bool:
    """Whether a bind of ``wanted`` (``v6only``: set on the new IPv6 socket) collides with
    ``holder``'s address on the same port."""
    held = wire(holder.family, holder.local_address)
    if held.family == wanted.family:
        return held.wildcard or wanted.wildcard or held.address == wanted.address
    if held.family == socket.AF_INET6:  # an IPv6 holder, an IPv4 bind
        return held.wildcard and holder.v6only is not True
    return wanted.wildcard and not v6only  # an IPv4 holder, an IPv6 dual-stack bind


def binding(sock: InetSocket) -> str:
    """What a socket's local address covers, in words ("bound to IPv4 loopback only")."""
    bound = wire(sock.family, sock.local_address)
    if bound.family == socket.AF_INET and bound.address.startswith("127."):
        return "bound to IPv4 loopback only"
    if bound.family == socket.AF_INET6 and bound.address == "::1":
        return "bound to IPv6 loopback only"
    if bound.wildcard and bound.family == socket.AF_INET:
        return "bound to every IPv4 address, IPv4 only"
    if bound.wildcard:
        if sock.v6only is True:
            return "every IPv6 address, IPV6_V6ONLY: no IPv4"
        return "every IPv6 address and, without IPV6_V6ONLY, every IPv4 one"
    return f"bound to {bound.address} only"
