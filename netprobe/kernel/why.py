"""Why an attempt or a bind failed, from the kernel's own tables (SPEC, "The kernel's side").

Called only after a failure (``netprobe.connect.attempts`` and
``netprobe.serve.listenfd`` import this module then), never on the success path.
The answer is the SPEC's ``why``: {``kind``, ``message`` (one line),
``sockets`` (as ``netprobe sockets`` shows them), ``route``}.

Design decision: the route decides where to look.  ``ip route get`` for
the destination (RTM_GETROUTE) says RTN_LOCAL for every address of this
host, loopback or an interface's, in this network namespace: then the socket
table holds the cause (who listens on that port, on which address, with
which queue).  Any other answer is another host, and the route (interface,
gateway, source) is all this host can say; no route at all is ``no-route``.

Design decision: failures close together share one reading of the tables
(``kernel.snapshot``): a ``check`` of 500 closed ports reads them a few
times, not 500.

Design decision: a cause is named only when the table shows it.  Where the
table does not explain the failure (a listener that takes the address and
has room in its queue, and yet the connection was refused or timed out: a
firewall rule, which netprobe does not read) the kind is ``other`` and the
message says what the table does show.  The SPEC's table has no kind for
that; ``other`` is the one added.

Design decision: EHOSTUNREACH with a route is ``remote``, not ``no-route``.
The kernel says EHOSTUNREACH both for an unreachable route and for a next
hop that never answered ARP / neighbour discovery; only the first is "no
route", so the route is asked, and for the second the neighbour table's
state of the next hop (FAILED) is the evidence.

Design decision: the tables are read without reporting each call
(``--syscalls``).  What ``--syscalls`` makes visible is the operation: the
attempt's socket, connect, poll, getsockopt, close.  A failure's diagnosis
is netprobe reading the kernel's state afterwards, a dozen netlink calls
(route, link, four dumps) that would bury the attempt's four; the ``why``
itself says what was read and found.  The same holds for /proc.  Rejected:
reporting them, as ``--explain``'s probes are (asked for, not automatic),
which also makes them indistinguishable, under strace, from the C
library's own netlink sockets inside getaddrinfo when ``--wait`` repeats
both.  (Read through ``netprobe.netlink`` with the no-op trace: one switch
to flip.)

Unix sockets (the kinds ``stale``, ``no-such-file``, ``permission``,
``not-a-socket`` and ``other-socktype`` for a path): ``unix_why`` hands an
AF_UNIX candidate to ``netprobe.unix.diagnose``, which asks the file system.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from netprobe.kernel import match
from netprobe.kernel.procs import Processes, scan
from netprobe.kernel.rows import inet_fields, is_wildcard
from netprobe.kernel.snapshot import Snapshot, snapshot
from netprobe.netlink import diag
from netprobe.netlink.core import NETLINK_SOCK_DIAG, Netlink, NetlinkError
from netprobe.netlink.route import RTN_LOCAL, RTN_UNICAST, Route

if TYPE_CHECKING:
    from netprobe.addrinfo import Candidate
    from netprobe.events import Fields

#: The SPEC's kinds for IP, and ``other`` (see the module's design decisions).
IP_KINDS = ("no-listener", "other-address", "v6only", "other-socktype", "queue-full", "in-use",
            "time-wait", "remote", "no-route", "other")
#: The Unix issue's kinds: explained by its own module, not here.
UNIX_KINDS = ("stale", "no-such-file", "permission", "not-a-socket")
_PROTOCOLS: dict[int, tuple[str, int]] = {socket.SOCK_STREAM: ("tcp", socket.IPPROTO_TCP),
              socket.SOCK_DGRAM: ("udp", socket.IPPROTO_UDP)}
_OUTCOME_WORDS = {"refused": "was refused", "timeout": "timed out",
                  "unreachable": "was unreachable"}
_UNREACHABLE = {"ENETUNREACH", "EHOSTUNREACH"}


def why(kind: str, message: str, sockets: list[Fields] | None = None,
        route: Route | None = None, **evidence: object) -> Fields:
    """The SPEC's ``why`` (more fields, ``evidence``, where a kind has some)."""
    fields: Fields = {"kind": kind, "message": message, "sockets": sockets or [],
                      "route": route.to_json() if route is not None else None}
    fields.update(evidence)
    return fields


def unix_why(candidate: Candidate, outcome: str, errno: str | None) -> Fields | None:
    """AF_UNIX: the file system's side and the table of Unix sockets (netprobe.unix.diagnose)."""
    if errno is None:
        return None
    from netprobe.unix.diagnose import attempt_why

    return attempt_why(candidate, errno)


def why_attempt(candidate: Candidate, outcome: str, errno: str | None, *,
                step: str = "connect") -> Fields | None:
    """Why one attempt at ``candidate`` failed (``outcome``, ``errno``, at ``step``);
    never raises."""
    if candidate.family not in (socket.AF_INET, socket.AF_INET6):
        return unix_why(candidate, outcome, errno)
    if step in ("socket", "setsockopt", "bind"):
        return why("other", f"{step}() failed with {errno or outcome}, before anything was "
                   f"sent to {candidate.endpoint()}")
    try:
        # A timed-out attempt reads afresh: how many wait in the queue now is the evidence.
        snap = snapshot(fresh=outcome == "timeout")
        try:
            # The address the packet carries: ``::ffff:127.0.0.1`` goes out as IPv4 to
            # 127.0.0.1 (asked as IPv6, the route was the default one: "another host").
            route = snap.route(match.wire(candidate.family, candidate.address).address,
                               candidate.scope_id)
        except NetlinkError as exc:
            return _no_route(candidate, errno, exc)
        if route.kind not in (RTN_LOCAL, RTN_UNICAST) or errno in _UNREACHABLE:
            return _unreachable(candidate, outcome, errno, route)
        if not route.local:
            return _remote(candidate, outcome, route)
        protocol = _PROTOCOLS.get(candidate.socktype)
        if protocol is None:
            return why("other", f"{candidate.endpoint()} is an address of this host; netprobe "
                       "reads the table of TCP and UDP sockets only")
        return _local(candidate, protocol[0], outcome, errno, snap)
    except OSError as exc:
        return why("other", f"the kernel's tables could not be read: {exc}")


# --- another host ---------------------------------------------------------------------


def _route_words(route: Route) -> str:
    via = f"via {route.gateway} " if route.gateway else ""
    dev = f"dev {route.dev}" if route.dev else "no device"
    source = f" from {route.source}" if route.source else ""
    return f"{via}{dev}{source}"


def _remote(candidate: Candidate, outcome: str, route: Route) -> Fields:
    happened = _OUTCOME_WORDS.get(outcome, f"failed ({outcome})")
    return why("remote", f"{candidate.address} is not an address of this host: the kernel "
               f"routes it {_route_words(route)}; the attempt {happened} there, and nothing "
               "on this host can say more", route=route)


def _no_route(candidate: Candidate, errno: str | None, exc: NetlinkError) -> Fields:
    if errno is not None and errno not in _UNREACHABLE:
        return why("other", f"the routing table has no route to {candidate.address} now "
                   f"({exc.strerror}), yet the attempt got {errno}")
    return why("no-route", f"no route to {candidate.address} in the routing table "
               f"(ip route get: {exc.strerror})")


def _unreachable(candidate: Candidate, outcome: str, errno: str | None,
                 route: Route) -> Fields:
    if route.kind not in (RTN_LOCAL, RTN_UNICAST):
        return why("no-route", f"the route to {candidate.address} is {route.type_name}: "
                   "the kernel sends nothing there", route=route)
    if route.local:
        return why("other", f"{candidate.address} is an address of this host, yet the "
                   f"attempt got {errno}", route=route)
    hop = route.gateway or candidate.address
    state = None
    if route.ifindex is not None:
        from netprobe.netlink.route import neighbour_state

        state = neighbour_state(hop, route.ifindex)
    what = "gateway" if route.gateway else "host (directly connected)"
    seen = f"its neighbour entry is {state}" if state else "it has no neighbour entry"
    message = (f"there is a route to {candidate.address} ({_route_words(route)}), but the "
               f"next hop {hop}, the {what}, did not answer: {seen} (no ARP / neighbour "
               f"discovery reply); {errno or outcome}")
    return why("remote", message, route=route, neighbour={"address": hop, "state": state})


# --- this host: the socket table ----------------------------------------------------------


def port_table(port: int) -> dict[str, list[diag.InetSocket]]:
    """Every TCP and UDP socket on ``port`` (both families, every state), by protocol."""
    found: dict[str, list[diag.InetSocket]] = {"tcp": [], "udp": []}
    with Netlink(NETLINK_SOCK_DIAG) as link:
        for name, protocol in (("tcp", socket.IPPROTO_TCP), ("udp", socket.IPPROTO_UDP)):
            for family in (socket.AF_INET, socket.AF_INET6):
                found[name] += diag.inet_sockets(link, protocol, family, diag.EVERY_STATE,
                                                 port)
    return found


def described_sockets(sockets: list[diag.InetSocket],
                      processes: Processes | None = None) -> list[Fields]:
    """The sockets as ``netprobe sockets`` shows them, with their processes (from
    ``processes``, or a pass over /proc for just these)."""
    holders = processes if processes is not None else scan({s.inode for s in sockets
                                                             if s.inode})
    return [inet_fields(s, holders) for s in sockets]


def who(fields: Fields) -> str:
    """``pid 4242 node``, ``pids 1, 2 nginx``, or why no process is named."""
    processes = fields["processes"]
    if processes is None:
        return "a process this user may not look at (not permitted)"
    if not processes:
        return "no process" if fields["inode"] else "no process (a remnant of a connection)"
    names = sorted({p["name"] or p["command"] for p in processes})
    pids = ", ".join(str(p["pid"]) for p in processes)
    return f"pid{'s' * (len(processes) > 1)} {pids} {' '.join(names)}"


def endpoint(fields: Fields) -> str:
    from netprobe.endpoints import format_endpoint

    local = fields["local"]
    return format_endpoint(local["address"], local["port"])


def _served(proto: str, sockets: list[diag.InetSocket], described: list[Fields]) -> str:
    verb = "served" if proto == "tcp" else "bound"
    return "; ".join(f"{endpoint(f)} is {verb} by {who(f)} ({match.binding(s)})"
                     for s, f in zip(sockets, described, strict=True))


def listen_overflows() -> int | None:
    """TcpExt ListenOverflows of /proc/net/netstat (this namespace): connections dropped
    because an accept queue was full, since boot."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as source:
            lines = source.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            value = table.get("ListenOverflows")
            return int(value) if value is not None and value.isdigit() else None
    return None


def _local(candidate: Candidate, proto: str, outcome: str, errno: str | None,
           snap: Snapshot) -> Fields:
    """A destination on this host: what the sockets serving its port say."""
    other = "udp" if proto == "tcp" else "tcp"
    bound = snap.serving(proto, candidate.port)
    elsewhere = snap.serving(other, candidate.port)
    destination = match.wire(candidate.family, candidate.address)
    takers = [s for s in bound if match.takes(s, destination)]
    full = [s for s in takers if proto == "tcp" and s.rqueue > s.wqueue]
    where = candidate.endpoint()
    if full:
        return _queue_full(full, snap)
    if takers:
        described = described_sockets(takers, snap.processes())
        happened = _OUTCOME_WORDS.get(outcome, f"failed ({errno or outcome})")
        room = "; ".join(f"{endpoint(f)} ({who(f)}) has room in its queue "
                         f"({s.rqueue} waiting, backlog {s.wqueue})"
                         if proto == "tcp" else f"{endpoint(f)} is bound by {who(f)}"
                         for s, f in zip(takers, described, strict=True))
        return why("other", f"{room}: it takes {where}, yet the attempt {happened}; the "
                   "socket table does not say why (a firewall rule? netprobe does not read "
                   "netfilter)", described)
    if outcome == "refused" or errno == "EPROTOTYPE":
        return _refused(candidate, proto, bound, elsewhere, snap)
    if outcome == "timeout":
        return why("other", f"nothing takes {where} on this host, yet the attempt timed out "
                   "instead of being refused (a firewall rule dropping it? netprobe does not "
                   "read netfilter)", described_sockets(bound, snap.processes()))
    return why("other", f"{where} is an address of this host; the attempt failed with "
               f"{errno or outcome}, which the socket table does not explain",
               described_sockets(bound, snap.processes()))


def _refused(candidate: Candidate, proto: str, bound: list[diag.InetSocket],
             elsewhere: list[diag.InetSocket], snap: Snapshot) -> Fields:
    where, port, upper = candidate.endpoint(), candidate.port, proto.upper()
    if candidate.family == socket.AF_INET or match.wire(
            candidate.family, candidate.address).family == socket.AF_INET:
        only = [s for s in bound if s.family == socket.AF_INET6 and is_wildcard(
            s.local_address) and s.v6only is True]
        if only:
            described = described_sockets(only, snap.processes())
            holders = ", ".join(f"{endpoint(f)} ({who(f)})" for f in described)
            return why("v6only", f"{holders} has IPV6_V6ONLY set: it takes IPv6 only, and "
                       f"nothing takes IPv4 {where}", described)
    if bound:
        described = described_sockets(bound, snap.processes())
        verb = "listens on" if proto == "tcp" else "is bound to"
        return why("other-address", f"nothing {verb} {where}; "
                   f"{_served(proto, bound, described)}", described)
    if elsewhere:
        described = described_sockets(elsewhere, snap.processes())
        other = "UDP" if proto == "tcp" else "TCP"
        return why("other-socktype", f"nothing serves {upper} port {port}; "
                   f"{other} {_served('udp' if proto == 'tcp' else 'tcp', elsewhere, described)}"
                   f": the port is served over {other}, not {upper}", described)
    return why("no-listener", f"nothing listens on {upper} port {port} on this host, on any "
               "address" if proto == "tcp" else
               f"no UDP socket is bound to port {port} on this host, on any address")


def _queue_full(full: list[diag.InetSocket], snap: Snapshot) -> Fields:
    described = described_sockets(full, snap.processes())
    overflows = listen_overflows()
    counter = f"; ListenOverflows {overflows}" if overflows is not None else ""
    parts = "; ".join(f"{endpoint(f)}'s accept queue is full: {s.rqueue} waiting, backlog "
                      f"{s.wqueue} (Linux lets backlog + 1 wait), and {who(f)} is not "
                      "calling accept()" for s, f in zip(full, described, strict=True))
    return why("queue-full", f"{parts}{counter}", described,
               evidence={"ListenOverflows": overflows})
