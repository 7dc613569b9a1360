"""The one candidate of a Unix socket: a ``Candidate`` with nothing resolved.

Design decision: a subclass of ``netprobe.addrinfo.Candidate``, not a type of
its own.  Everything downstream of getaddrinfo (the attempts, their events,
the failure summary, ``listen``'s bind steps, ``check``'s table) takes a
``Candidate`` and reads its family, socktype, protocol, ``sockaddr``,
``endpoint()`` and ``to_json()``; overriding the three that differ for
AF_UNIX lets the whole machinery run unchanged, where a type of its own
would need a branch in each of those places.  ``address`` holds the form
the socket module takes (the path, or ``"\\0NAME"``), so that ``sockaddr``
needs no second field to tell an abstract name from a path that happens to
start with ``@``; ``port`` is 0 and shows as null.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.unix.address import UnixAddress, from_raw

if TYPE_CHECKING:
    from netprobe.schema import CandidateFields


class UnixCandidate(Candidate):
    """A ``sockaddr_un`` to connect or bind to (index 0: there is only one)."""

    __slots__ = ()

    @property
    def sockaddr(self) -> str:
        return self.address

    @property
    def unix(self) -> UnixAddress:
        found = from_raw(self.address)
        assert found is not None  # made from a named address (see unix_candidate)
        return found

    def endpoint(self) -> str:
        """The path, or ``@NAME``: how ``ss -x`` and strace write it."""
        return self.unix.text

    def to_json(self) -> CandidateFields:
        # The IP fields as a candidate has them (no flowinfo, scope or canonical
        # name), the address as ``ss -x`` writes it, and no port.
        return {**super().to_json(), "address": self.unix.text, "port": None}


def unix_candidate(address: UnixAddress, socktype: int = socket.SOCK_STREAM) -> UnixCandidate:
    """The candidate for ``address``; protocol 0, the only one AF_UNIX has."""
    return UnixCandidate(index=0, family=socket.AF_UNIX, socktype=socktype, protocol=0,
                         canonname="", address=address.sockaddr, port=0)


def unix_resolution(host: str, socktype: int, stage: str = "connect") -> Resolution:
    """The one candidate of ``host`` (a Unix socket) as a resolution that asked nobody (0 s).

    What ``connect`` and ``check`` put where getaddrinfo's answer goes, so
    that the rounds, the attempts and their events run unchanged.
    """
    from netprobe.unix.address import parse

    candidate = unix_candidate(parse(host, stage), socktype)
    return Resolution(host, None, Hints(socket.AF_UNIX, socktype, 0, 0), [candidate], None, 0.0)
