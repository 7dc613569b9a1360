"""Why a bind failed: who holds the port (``listen``), from the kernel's socket table.

EADDRINUSE has one cause, another socket on the port whose address
overlaps (``match.overlaps``): the same address, a wildcard on either side
(``0.0.0.0:8000`` is blocked by ``127.0.0.1:8000``), or an IPv6 wildcard
without IPV6_V6ONLY, which holds the IPv4 port too.  The holders are
listed listeners and bound sockets first: whether SO_REUSEADDR would have
let a bind share the port with a mere connection is not in the table, a
listener always blocks.  When only TIME_WAIT remnants of old connections
overlap, the kind is ``time-wait``: they hold no process and expire.

Other bind errors are not the table's to explain; the kind is ``other``
and the message says what the error means (EADDRNOTAVAIL: not an address
of this host, by the route; EACCES: a privileged port).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from netprobe.kernel import match
from netprobe.kernel.why import described_sockets, endpoint, port_table, who, why
from netprobe.netlink import diag

if TYPE_CHECKING:
    from netprobe.addrinfo import Candidate
    from netprobe.events import Fields

#: States whose socket holds a port however the new one is set up.
_HOLDING = (diag.LISTEN, diag.CLOSE, diag.BOUND_INACTIVE)


def _rank(sock: diag.InetSocket) -> int:
    if sock.state in _HOLDING:
        return 0
    return 2 if sock.state == diag.TIME_WAIT else 1


def why_bind(candidate: Candidate, errno: str | None, *, v6only: bool) -> Fields | None:
    """Why binding ``candidate`` failed (``v6only``: set on the new socket); never raises.

    None for a family netprobe cannot explain yet (AF_UNIX: the Unix issue).
    """
    if candidate.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        if errno == "EADDRINUSE":
            return _in_use(candidate, v6only)
        return _other(candidate, errno)
    except OSError as exc:
        return why("other", f"the kernel's tables could not be read: {exc}")


def _in_use(candidate: Candidate, v6only: bool) -> Fields:
    proto = "udp" if candidate.socktype == socket.SOCK_DGRAM else "tcp"
    if candidate.port == 0:
        return why("other", f"no {proto.upper()} port was free for {candidate.address} "
                   "(the ephemeral range, net.ipv4.ip_local_port_range, is used up)")
    wanted = match.wire(candidate.family, candidate.address)
    where = candidate.endpoint()
    holders = sorted((s for s in port_table(candidate.port)[proto]
                      if match.overlaps(s, wanted, v6only)), key=_rank)
    if not holders:
        return why("other", f"nothing in the socket table holds {proto.upper()} port "
                   f"{candidate.port} now (freed since the bind?)")
    described = described_sockets(holders)
    if all(s.state == diag.TIME_WAIT for s in holders):
        count = len(holders)
        return why("time-wait", f"only TIME_WAIT remnants of {count} old connection"
                   f"{'s' * (count != 1)} hold {where}: no process holds it, and they "
                   "expire (60 s on Linux); a server that sets SO_REUSEADDR binds anyway",
                   described)
    # A listener's own connections (accepted, or still in its queue) hold the
    # port too, but name the same address as the listener: one line each
    # would bury the listener under its clients, so they are counted.
    pairs = list(zip(holders, described, strict=True))
    listeners = [(s, f) for s, f in pairs if s.state in _HOLDING]
    connections = [(s, f) for s, f in pairs if _rank(s) == 1]
    named = listeners or connections
    first = "; ".join(_held(where, wanted, s, f) for s, f in named)
    extra = []
    if listeners and connections:
        states = ", ".join(sorted({str(f["state"]) for _, f in connections}))
        extra.append(f"{len(connections)} connection{'s' * (len(connections) != 1)} "
                     f"({states})")
    remnants = sum(1 for s in holders if s.state == diag.TIME_WAIT)
    if remnants:
        extra.append(f"{remnants} TIME_WAIT remnant{'s' * (remnants != 1)}")
    tail = f" (and {', '.join(extra)})" if extra else ""
    return why("in-use", f"{first}{tail}", described)


def _held(where: str, wanted: match.Address, sock: diag.InetSocket, fields: Fields) -> str:
    """One holder in words, saying how its address blocks this bind."""
    state = fields["state"]
    held = match.wire(sock.family, sock.local_address)
    what = f"{endpoint(fields)} ({state}, {who(fields)})"
    if held.family != wanted.family:
        if held.family == socket.AF_INET6:
            return (f"{where} is blocked by {what}: an IPv6 wildcard socket without "
                    "IPV6_V6ONLY holds the IPv4 port too")
        return (f"{where} is blocked by {what}: an IPv6 wildcard bind without IPV6_V6ONLY "
                "needs the IPv4 port too")
    if wanted.wildcard and not held.wildcard:
        return (f"{where} overlaps {what}: binding every address needs the port free on "
                "each of them")
    if held.wildcard and not wanted.wildcard:
        return f"{where} is covered by {what}, which holds the port on every address"
    return f"{where} is held by {who(fields)} ({state})"


def _other(candidate: Candidate, errno: str | None) -> Fields:
    """A bind error that is not EADDRINUSE: what it means here."""
    if errno == "EADDRNOTAVAIL":
        from netprobe.netlink.core import NetlinkError
        from netprobe.netlink.route import route_to

        try:
            route = route_to(candidate.address, candidate.scope_id)
        except NetlinkError:
            route = None
        if route is None or not route.local:
            return why("other", f"{candidate.address} is not an address of this host: bind() "
                       "takes only a local address (or a wildcard)", route=route)
    if errno == "EACCES" and 0 < candidate.port < _unprivileged_start():
        return why("other", f"port {candidate.port} is privileged: binding it needs root or "
                   "CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start is "
                   f"{_unprivileged_start()})")
    return why("other", f"{errno or 'the bind failed'}: not something the socket table "
               "explains")


def _unprivileged_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding="ascii") as source:
            return int(source.read().strip())
    except (OSError, ValueError):
        return 1024
