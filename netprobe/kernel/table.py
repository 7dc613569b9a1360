"""The socket table as ``netprobe sockets`` shows it: a query, the dumps, the ``socket`` events.

``read_table`` makes one NETLINK_SOCK_DIAG dump per protocol and family the
query names (TCP and UDP over IPv4 and IPv6, AF_UNIX) while one pass over
/proc (in a thread, ``procs.Scanning``) finds every socket's processes;
``report`` emits one ``socket`` event each (``kernel.rows``: the form
``why`` uses too for the sockets it names).

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
from typing import TYPE_CHECKING, NamedTuple

from netprobe.errors import NetprobeError
from netprobe.events import Trace, monotonic, no_trace
from netprobe.kernel.procs import Processes, Scanning
from netprobe.kernel.rows import InetEvent, InetRow, inet_rows, unix_fields
from netprobe.netlink import diag
from netprobe.netlink.core import NETLINK_SOCK_DIAG, Netlink

if TYPE_CHECKING:
    from netprobe.events import Fields

PROTOCOLS = ("tcp", "udp", "unix")
_IP_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}

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
    """What was read: the TCP and UDP sockets' rows and the Unix sockets, each ``ordered``,
    and their processes."""

    rows: list[InetRow]
    unix: list[diag.UnixSocket]
    processes: Processes
    #: inode -> name of every Unix socket dumped (a peer's name comes from here).
    unix_names: dict[int, str | None]
    elapsed: float

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.unix)


def read_table(query: Query, *, trace: Trace = no_trace, processes: bool = True) -> Table:
    """Dump what ``query`` asks for; raises TableUnreadable (the cause in its message)."""
    started = monotonic()
    found: list[AnySocket] = []
    unix_names: dict[int, str | None] = {}
    scanning = Scanning() if processes else None
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
    # While /proc is still being read: the order, and what each socket's event will say.
    inet, unix = ordered(found)
    rows = list(inet_rows(inet))
    holders = scanning.result() if scanning is not None else Processes({}, False)
    return Table(rows, unix, holders, unix_names, monotonic() - started)


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
    processes = table.processes
    for row in table.rows:
        trace("socket", InetEvent(row, processes))
    for sock in table.unix:
        trace("socket", unix_fields(sock, processes, table.unix_names))
    summary: Fields = {"total": table.total, "elapsed_ms": round(table.elapsed * 1000, 3),
                       "processes_hidden": processes.hidden}
    trace("sockets_summary", summary)
