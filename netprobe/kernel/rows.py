"""One socket as the SPEC's ``socket`` event: its row of values, and the event made of it.

What a socket's event says is decided here, once (``inet_rows``,
``unix_fields``): the state's name, no peer for a listener or an
unconnected socket, the queue for a listener only, no uid for a TIME_WAIT
remnant (it has no owner), the processes from /proc.  ``render.sockets``
writes a row as JSON straight from its values; everyone else reads the
event's fields (``InetEvent``, an ordinary mapping).

Design decision: a TCP or UDP row is made without its processes
(``Processes`` is asked when the event is read or written).  ``sockets``
makes its rows while the pass over /proc (``procs.Scanning``) is still
running in its thread, so that ten thousand rows cost nothing on the path
the command waits on.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from netprobe.netlink import diag

if TYPE_CHECKING:
    from netprobe.events import Fields
    from netprobe.kernel.procs import Processes

_PROTOCOL_NAMES: dict[int, str] = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}
_FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
_UNIX_TYPES: dict[int, str] = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM",
                               socket.SOCK_SEQPACKET: "SOCK_SEQPACKET"}
_WILDCARDS = frozenset({"0.0.0.0", "::"})


def state_name(protocol: str, state: int) -> str:
    """The kernel's name of a state; a datagram (or unconnected Unix) socket in CLOSE is
    ``UNCONN``, as ``ss`` says."""
    if state == diag.CLOSE and protocol != "tcp":
        return "UNCONN"
    return diag.STATE_NAMES.get(state, str(state))


def is_wildcard(address: str) -> bool:
    return address in _WILDCARDS


class InetRow(NamedTuple):
    """What a TCP or UDP socket's ``socket`` event says, as values: decided once, here,
    whether it is written as JSON (``render.sockets``) or read as fields."""

    proto: str
    family: str
    socktype: str
    state: str
    local_address: str
    local_port: int
    peer_address: str | None  # None: no peer (a listener, an unconnected socket)
    peer_port: int | None
    v6only: bool | None
    waiting: int | None  # None: not a listener
    backlog: int | None
    uid: int | None
    inode: int
    dev: str | None

    def fields(self, processes: list[Fields] | None) -> Fields:
        """The SPEC's ``socket`` event, with the ``processes`` holding it (``dev``, the
        device it is bound to, when there is one)."""
        fields: Fields = {
            "proto": self.proto, "family": self.family, "socktype": self.socktype,
            "state": self.state,
            "local": {"address": self.local_address, "port": self.local_port},
            "peer": None if self.peer_address is None
            else {"address": self.peer_address, "port": self.peer_port},
            "v6only": self.v6only,
            "queue": None if self.waiting is None
            else {"waiting": self.waiting, "backlog": self.backlog},
            "uid": self.uid, "inode": self.inode, "processes": processes,
        }
        if self.dev is not None:
            fields["dev"] = self.dev
        return fields


class InetEvent(Mapping[str, Any]):
    """A ``socket`` event's fields, made from its row when first read.

    ``render.sockets`` writes the row as JSON without making them (a table
    of ten thousand sockets); anyone else reads an ordinary mapping.
    """

    __slots__ = ("_fields", "processes", "row")

    def __init__(self, row: InetRow, processes: Processes) -> None:
        self.row = row
        self.processes = processes
        self._fields: Fields | None = None

    def _made(self) -> Fields:
        if self._fields is None:
            self._fields = self.row.fields(self.processes.of(self.row.inode))
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self._made()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._made())


def inet_fields(sock: diag.InetSocket, processes: Processes) -> Fields:
    """One TCP or UDP socket as the SPEC's ``socket`` event."""
    return next(inet_rows([sock])).fields(processes.of(sock.inode))


def _inet_kind(protocol: int, family: int, state: int) -> tuple[str, str, str, str]:
    proto = _PROTOCOL_NAMES.get(protocol, str(protocol))
    socktype = "SOCK_STREAM" if proto == "tcp" else "SOCK_DGRAM"
    return proto, _FAMILY_NAMES.get(family, str(family)), socktype, state_name(proto, state)


def inet_rows(sockets: Iterable[diag.InetSocket]) -> Iterator[InetRow]:
    """Each TCP or UDP socket's row: what its ``socket`` event says.

    One loop for a whole table, every lookup a local, each row made by
    ``tuple.__new__``: ``sockets --json`` makes ten thousand in a few
    milliseconds.
    """
    kinds: dict[tuple[int, int, int], tuple[str, str, str, str]] = {}
    wildcards, make, listen = _WILDCARDS, tuple.__new__, diag.LISTEN
    for sock in sockets:
        (protocol, family, state, local, local_port, peer, peer_port, ifindex, rqueue, wqueue,
         uid, inode, v6only) = sock
        kind = kinds.get((protocol, family, state))
        if kind is None:
            kind = kinds[protocol, family, state] = _inet_kind(protocol, family, state)
        # A listener's or an unconnected socket's peer is the wildcard, port 0: none.
        no_peer = peer_port == 0 and peer in wildcards
        listener = state == listen
        yield make(InetRow, (*kind, local, local_port, None if no_peer else peer,
                             None if no_peer else peer_port, v6only,
                             rqueue if listener else None, wqueue if listener else None,
                             uid if inode else None, inode,
                             interface_name(ifindex) if ifindex else None))


def unix_fields(sock: diag.UnixSocket, processes: Processes,
                names: dict[int, str | None]) -> Fields:
    """One AF_UNIX socket as the SPEC's ``socket`` event (``local``/``peer`` as {path})."""
    peer: Fields | None = None
    if sock.peer_inode:
        peer = {"path": names.get(sock.peer_inode) or "", "inode": sock.peer_inode}
    return {
        "proto": "unix",
        "family": "AF_UNIX",
        "socktype": _UNIX_TYPES.get(sock.socktype, str(sock.socktype)),
        "state": state_name("unix", sock.state),
        "local": {"path": sock.path or ""},
        "peer": peer,
        "v6only": None,
        "queue": {"waiting": sock.rqueue, "backlog": sock.wqueue}
        if sock.state == diag.LISTEN else None,
        "uid": sock.uid,
        "inode": sock.inode,
        "processes": processes.of(sock.inode),
    }


_interfaces: dict[int, str | None] = {}


def interface_name(index: int) -> str | None:
    """The device a socket is bound to (SO_BINDTODEVICE), by name."""
    if index not in _interfaces:
        try:
            _interfaces[index] = socket.if_indextoname(index)
        except OSError:
            _interfaces[index] = None
    return _interfaces[index]
