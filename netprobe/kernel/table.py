"""The socket table as ``netprobe sockets`` shows it: a query, the dumps, the ``socket`` events.

``read_table`` makes one NETLINK_SOCK_DIAG dump per protocol and family the
query names (TCP and UDP over IPv4 and IPv6, AF_UNIX), then one pass over
/proc for the processes of the sockets found.  ``socket_fields`` turns one
socket into the SPEC's ``socket`` event; ``why`` uses the same form for
the sockets it names.

Design decision: the default is what ``ss -l`` lists (TCP LISTEN, and the
sockets in CLOSE: bound UDP and Unix datagram sockets, "UNCONN"), so that a
row of ``netprobe sockets`` and one of ``ss -tulpnx`` can be compared one
for one; ``--all`` asks for every state, the kernel-only ones included
(half-open connections, and a TCP socket that bound a port without
listening, which holds that port as surely as a listener).
"""

from __future__ import annotations

import operator
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from netprobe.errors import NetprobeError
from netprobe.events import Trace, monotonic, no_trace
from netprobe.kernel.procs import Processes, scan
from netprobe.netlink import diag
from netprobe.netlink.core import NETLINK_SOCK_DIAG, Netlink

if TYPE_CHECKING:
    from netprobe.events import Fields

PROTOCOLS = ("tcp", "udp", "unix")
_IP_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
_PROTOCOL_NAMES: dict[int, str] = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}
_FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
_UNIX_TYPES: dict[int, str] = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM",
               socket.SOCK_SEQPACKET: "SOCK_SEQPACKET"}
_WILDCARDS = frozenset({"0.0.0.0", "::"})

AnySocket = diag.InetSocket | diag.UnixSocket


class TableUnreadable(NetprobeError):
    """the kernel's socket table could not be read."""


class Query(NamedTuple):
    """What ``netprobe sockets`` asks for."""

    protocols: tuple[str, ...] = PROTOCOLS
    #: Only listeners and bound datagram sockets (``ss -l``); False: every state.
    listening: bool = True
    #: Local port (TCP and UDP).
    port: int | None = None
    #: A Unix socket's path (or ``@name``).
    path: str | None = None

    @property
    def states(self) -> int:
        return diag.LISTENING_STATES if self.listening else diag.EVERY_STATE


class Table(NamedTuple):
    """What was read: the sockets (inet first, in the kernel's order) and their processes."""

    sockets: list[AnySocket]
    processes: Processes
    #: inode -> name of every Unix socket dumped (a peer's name comes from here).
    unix_names: dict[int, str | None]
    elapsed: float


def read_table(query: Query, *, trace: Trace = no_trace, processes: bool = True) -> Table:
    """Dump what ``query`` asks for; raises TableUnreadable (the cause in its message)."""
    started = monotonic()
    found: list[AnySocket] = []
    unix_names: dict[int, str | None] = {}
    try:
        with Netlink(NETLINK_SOCK_DIAG, trace) as link:
            found += read_inet(link, query)
            if "unix" in query.protocols and query.port is None:
                every = diag.unix_sockets(link, query.states)
                unix_names = {s.inode: s.path for s in every}
                found += [s for s in every if query.path is None or s.path == query.path]
    except OSError as exc:
        raise TableUnreadable("sockets", "NETLINK_SOCK_DIAG",
                              f"cannot read the kernel's socket table: {exc.strerror or exc}",
                              _errno_code(exc)) from None
    holders = scan({s.inode for s in found if s.inode}) if processes and found \
        else Processes({}, False)
    return Table(found, holders, unix_names, monotonic() - started)


def read_inet(link: Netlink, query: Query) -> list[AnySocket]:
    """The TCP and UDP sockets the query names, IPv4 then IPv6 for each protocol."""
    found: list[AnySocket] = []
    if query.path is not None:
        return found
    for name in ("tcp", "udp"):
        if name not in query.protocols:
            continue
        for family in (socket.AF_INET, socket.AF_INET6):
            found += diag.inet_sockets(link, _IP_PROTOCOLS[name], family, query.states,
                                       query.port)
    return found


def _errno_code(exc: OSError) -> str | None:
    from netprobe.errors import errno_name

    return errno_name(exc.errno) if isinstance(exc.errno, int) and exc.errno else None


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
    processes: list[Fields] | None
    dev: str | None

    def fields(self) -> Fields:
        """The SPEC's ``socket`` event (``dev``, the device it is bound to, when there is one)."""
        fields: Fields = {
            "proto": self.proto, "family": self.family, "socktype": self.socktype,
            "state": self.state,
            "local": {"address": self.local_address, "port": self.local_port},
            "peer": None if self.peer_address is None
            else {"address": self.peer_address, "port": self.peer_port},
            "v6only": self.v6only,
            "queue": None if self.waiting is None
            else {"waiting": self.waiting, "backlog": self.backlog},
            "uid": self.uid, "inode": self.inode, "processes": self.processes,
        }
        if self.dev is not None:
            fields["dev"] = self.dev
        return fields


class InetEvent(Mapping[str, Any]):
    """A ``socket`` event's fields, made from its row when first read.

    ``render.sockets`` writes the row as JSON without making them (a table
    of ten thousand sockets); anyone else reads an ordinary mapping.
    """

    __slots__ = ("_fields", "row")

    def __init__(self, row: InetRow) -> None:
        self.row = row
        self._fields: Fields | None = None

    def _made(self) -> Fields:
        if self._fields is None:
            self._fields = self.row.fields()
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self._made()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._made())


def inet_fields(sock: diag.InetSocket, processes: Processes) -> Fields:
    """One TCP or UDP socket as the SPEC's ``socket`` event."""
    return next(inet_rows([sock], processes)).fields()


def _inet_kind(protocol: int, family: int, state: int) -> tuple[str, str, str, str]:
    proto = _PROTOCOL_NAMES.get(protocol, str(protocol))
    socktype = "SOCK_STREAM" if proto == "tcp" else "SOCK_DGRAM"
    return proto, _FAMILY_NAMES.get(family, str(family)), socktype, state_name(proto, state)


def inet_rows(sockets: Iterable[diag.InetSocket], processes: Processes) -> Iterator[InetRow]:
    """Each TCP or UDP socket's row: what its ``socket`` event says.

    One loop for a whole table, every lookup a local, each row made by
    ``tuple.__new__``: ``sockets --json`` makes ten thousand in a few
    milliseconds.
    """
    kinds: dict[tuple[int, int, int], tuple[str, str, str, str]] = {}
    wildcards, holders, make, listen = _WILDCARDS, processes.of, tuple.__new__, diag.LISTEN
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
                             uid if inode else None, inode, holders(inode),
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


def socket_fields(table: Table, sock: AnySocket) -> Fields:
    if isinstance(sock, diag.InetSocket):
        return inet_fields(sock, table.processes)
    return unix_fields(sock, table.processes, table.unix_names)


_interfaces: dict[int, str | None] = {}


def interface_name(index: int) -> str | None:
    """The device a socket is bound to (SO_BINDTODEVICE), by name."""
    if index not in _interfaces:
        try:
            _interfaces[index] = socket.if_indextoname(index)
        except OSError:
            _interfaces[index] = None
    return _interfaces[index]


#: TCP before UDP (6 < 17), then by local port, family, address, state, peer: a port's
#: sockets together.  Items of the record, so the key is made in C (ten thousand rows
#: sort in a few milliseconds).
_INET_ORDER = operator.itemgetter(0, 4, 1, 3, 2, 5, 6)


def ordered(sockets: list[AnySocket]) -> tuple[list[diag.InetSocket], list[diag.UnixSocket]]:
    """The inet sockets in ``_INET_ORDER``, and the Unix ones by path (unnamed last)."""
    inet = [s for s in sockets if isinstance(s, diag.InetSocket)]
    unix = [s for s in sockets if isinstance(s, diag.UnixSocket)]
    inet.sort(key=_INET_ORDER)
    unix.sort(key=lambda s: (s.path is None, s.path or "", s.state, s.inode))
    return inet, unix


def report(table: Table, trace: Trace) -> None:
    """One ``socket`` event per socket, ``ordered``, then ``sockets_summary``."""
    inet, unix = ordered(table.sockets)
    for row in inet_rows(inet, table.processes):
        trace("socket", InetEvent(row))
    for sock in unix:
        trace("socket", unix_fields(sock, table.processes, table.unix_names))
    summary: Fields = {"total": len(table.sockets), "elapsed_ms": round(table.elapsed * 1000, 3),
                       "processes_hidden": table.processes.hidden}
    trace("sockets_summary", summary)
