"""One reading of the tables a failed attempt's ``why`` needs, shared by a burst of failures.

``why`` needs three things for a destination: its route (RTM_GETROUTE),
the sockets that serve ports on this host (TCP listeners, bound UDP
sockets: one dump each per family) and, for the sockets it names, their
processes (one pass over /proc).  Each is read once per ``Snapshot``, on
first use.

Design decision: failures within ``FRESH_FOR`` share a snapshot.  ``check``
with 500 closed ports fails 500 attempts within a few hundred
milliseconds; each reading its own tables would cost 500 netlink
conversations and as many passes over /proc, many times the check itself
(bench/check.py).  A tenth of a second is shorter than any ``--interval``
(so every ``--wait`` round reads afresh) and than a person can start a
server in; and a timed-out attempt (``queue-full``: how many wait in the
accept queue *now*) always takes a fresh one.  Rejected: no sharing at all
(the cost above), and a cache keyed by port (500 different ports).

Thread-safe: ``check``'s workers fail at the same time.
"""

from __future__ import annotations

import socket
import threading

from netprobe.events import monotonic
from netprobe.kernel.procs import Processes, scan
from netprobe.netlink import diag
from netprobe.netlink.core import NETLINK_SOCK_DIAG, Netlink, NetlinkError
from netprobe.netlink.route import Route, route_to

#: Seconds a snapshot serves later failures (see the design decision).
FRESH_FOR = 0.1

#: What serves a port: a TCP listener, an unconnected (bound) UDP socket.
_SERVING = {"tcp": (socket.IPPROTO_TCP, 1 << diag.LISTEN),
            "udp": (socket.IPPROTO_UDP, 1 << diag.CLOSE)}


class Snapshot:
    """The routes asked, the serving sockets and their processes, each read on first use."""

    def __init__(self) -> None:
        self.taken = monotonic()
        self._lock = threading.RLock()
        #: (proto, port) -> the sockets serving it: a burst asks about many ports.
        self._serving: dict[tuple[str, int], list[diag.InetSocket]] | None = None
        self._routes: dict[tuple[str, int], Route | NetlinkError] = {}
        self._processes: Processes | None = None

    def route(self, address: str, scope_id: int = 0) -> Route:
        """``ip route get ADDRESS``; raises NetlinkError (no route) as ``route_to`` does."""
        with self._lock:
            key = (address, scope_id)
            if key not in self._routes:
                try:
                    self._routes[key] = route_to(address, scope_id)
                except NetlinkError as exc:
                    self._routes[key] = exc
            found = self._routes[key]
        if isinstance(found, NetlinkError):
            raise found
        return found

    def serving(self, proto: str, port: int) -> list[diag.InetSocket]:
        """The sockets serving ``port`` over ``proto`` ("tcp" or "udp"), both families."""
        with self._lock:
            if self._serving is None:
                self._serving = _dump_serving()
            return self._serving.get((proto, port), [])

    def processes(self) -> Processes:
        with self._lock:
            if self._processes is None:
                self._processes = scan()
            return self._processes


def _dump_serving() -> dict[tuple[str, int], list[diag.InetSocket]]:
    found: dict[tuple[str, int], list[diag.InetSocket]] = {}
    with Netlink(NETLINK_SOCK_DIAG) as link:
        for name, (protocol, states) in _SERVING.items():
            for family in (socket.AF_INET, socket.AF_INET6):
                for sock in diag.inet_sockets(link, protocol, family, states):
                    found.setdefault((name, sock.local_port), []).append(sock)
    return found


_current: Snapshot | None = None
_current_lock = threading.Lock()


def snapshot(*, fresh: bool = False) -> Snapshot:
    """The snapshot of this burst of failures, or a new one (``fresh``, or too old)."""
    global _current
    with _current_lock:
        now = monotonic()
        if fresh or _current is None or now - _current.taken > FRESH_FOR:
            _current = Snapshot()
        return _current
