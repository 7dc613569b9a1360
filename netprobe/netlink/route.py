"""NETLINK_ROUTE (rtnetlink(7)): the route to one destination, an interface's name,
every interface address.

``route_to`` is ``ip route get ADDRESS``: one RTM_GETROUTE request with
RTA_DST, answered by the route the kernel would use (its type: RTN_LOCAL
for an address of this host, RTN_UNICAST for another; the output interface,
the gateway, the preferred source address) or by an error (ENETUNREACH:
no route at all; EHOSTUNREACH / EACCES for an unreachable or prohibit
route).  As ``ip`` does, an IPv4 request sets RTM_F_LOOKUP_TABLE so the
answer names the table it came from.

``addresses`` is the RTM_GETADDR dump getaddrinfo itself makes (glibc's
``__check_pf``), read for ``--explain``.
"""

from __future__ import annotations

import socket
import struct

from netprobe.events import Trace, no_trace
from netprobe.netlink.core import NETLINK_ROUTE, Netlink, NetlinkError, attribute, attributes
from netprobe.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.events import Fields

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
NDA_DST = 1
RTM_F_LOOKUP_TABLE = 0x1000

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PREFSRC = 7
RTA_TABLE = 15
RTA_VIA = 18
IFLA_IFNAME = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2

#: Route types (rtm_type), named as ``ip route`` prints them.
RTN_UNICAST = 1
RTN_LOCAL = 2
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
               6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}

#: struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
_RTMSG = struct.Struct("=BBBBBBBBI")
#: struct ifinfomsg: family, pad, type, index, flags, change.
_IFINFOMSG = struct.Struct("=BxHiII")
#: struct ndmsg: family, pad, pad, ifindex, state, flags, type.
_NDMSG = struct.Struct("=BxxxiHBB")
#: Neighbour states (NUD_*), named as ``ip neigh`` prints them.
NEIGHBOUR_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY",
                    0x10: "PROBE", 0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}
#: struct ifaddrmsg: family, prefixlen, flags, scope, index.
_IFADDRMSG = struct.Struct("=BBBBI")
_U32 = struct.Struct("=I")


class Route(Record):
    """The route the kernel picks for one destination (``ip route get``)."""

    __slots__ = ()
    _fields = ("destination", "kind", "ifindex", "dev", "gateway", "source", "table")
    destination: str = field(0)
    kind: int = field(1)
    ifindex: int | None = field(2)
    dev: str | None = field(3)
    gateway: str | None = field(4)
    source: str | None = field(5)
    table: int | None = field(6)

    def __new__(cls, destination: str, kind: int, ifindex: int | None, dev: str | None, gateway: str
                | None, source: str | None, table: int | None) -> Route:
        return tuple.__new__(cls, (destination, kind, ifindex, dev, gateway, source, table))

    @property
    def local(self) -> bool:
        """The destination is an address of this host (RTN_LOCAL)."""
        return self.kind == RTN_LOCAL

    @property
    def type_name(self) -> str:
        return ROUTE_TYPES.get(self.kind, str(self.kind))

    def to_json(self) -> Fields:
        """The SPEC's ``route`` {dev, gateway, source}, and the route's type."""
        return {"dev": self.dev, "gateway": self.gateway, "source": self.source,
                "type": self.type_name}


class AddressMessage(Record):
    """One RTM_NEWADDR of the dump: struct ifaddrmsg and its two address attributes."""

    __slots__ = ()
    _fields = ("family", "prefixlen", "flags", "scope", "ifindex", "address", "local")
    family: int = field(0)
    prefixlen: int = field(1)
    flags: int = field(2)
    scope: int = field(3)
    ifindex: int = field(4)
    address: bytes | None = field(5)
    local: bytes | None = field(6)

    def __new__(cls, family: int, prefixlen: int, flags: int, scope: int, ifindex: int, address:
                bytes | None, local: bytes | None) -> AddressMessage:
        return tuple.__new__(cls, (family, prefixlen, flags, scope, ifindex, address, local))


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _text(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    size = 4 if family == socket.AF_INET else 16
    return socket.inet_ntop(family, raw[:size]) if len(raw) >= size else None


def route_to(address: str, scope_id: int = 0, *, trace: Trace = no_trace) -> Route:
    """``ip route get ADDRESS``; raises NetlinkError (ENETUNREACH, ...) when there is none.

    ``address`` is numeric (an IPv6 scope is given as ``scope_id``, the
    interface it names).  The interface's name comes from a second request
    (RTM_GETLINK) on the same socket.
    """
    family = family_of(address)
    raw = socket.inet_pton(family, address.partition("%")[0])
    flags = RTM_F_LOOKUP_TABLE if family == socket.AF_INET else 0
    payload = _RTMSG.pack(family, len(raw) * 8, 0, 0, 0, 0, 0, 0, flags)
    payload += attribute(RTA_DST, raw)
    if scope_id:
        payload += attribute(RTA_OIF, _U32.pack(scope_id))
    with Netlink(NETLINK_ROUTE, trace) as link:
        seq = link.request(RTM_GETROUTE, payload, dump=False)
        for data, start, end, kind in link.replies(seq, dump=False):
            if kind != RTM_NEWROUTE or end - start < _RTMSG.size:
                continue
            fields = _RTMSG.unpack_from(data, start)
            found = attributes(data, start + _RTMSG.size, end)
            oif = found.get(RTA_OIF)
            ifindex = _U32.unpack(oif[:4])[0] if oif and len(oif) >= 4 else None
            dev = _link_name(link, ifindex) if ifindex is not None else None
            gateway = _text(family, found.get(RTA_GATEWAY))
            via = found.get(RTA_VIA)
            if gateway is None and via is not None and len(via) >= 2:
                # struct rtvia: an IPv4 route via an IPv6 next hop (RFC 5549).
                gateway = _text(int.from_bytes(via[:2], "little"), via[2:])
            table = found.get(RTA_TABLE)
            return Route(address, fields[7], ifindex, dev, gateway,
                         _text(family, found.get(RTA_PREFSRC)),
                         _U32.unpack(table[:4])[0] if table and len(table) >= 4 else fields[4])
    raise NetlinkError(0, "the kernel sent no route")


def neighbour_state(address: str, ifindex: int, *, trace: Trace = no_trace) -> str | None:
    """The neighbour table's state for ``address`` on interface ``ifindex`` (``ip neigh``):
    FAILED when it never answered ARP / neighbour discovery; None when it has no entry."""
    family = family_of(address)
    raw = socket.inet_pton(family, address)
    with Netlink(NETLINK_ROUTE, trace) as link:
        seq = link.request(RTM_GETNEIGH, _NDMSG.pack(family, 0, 0, 0, 0), dump=True)
        state: str | None = None
        for data, start, end, kind in link.replies(seq, dump=True):
            if kind != RTM_NEWNEIGH or end - start < _NDMSG.size:
                continue
            _family, index, nud, _flags, _type = _NDMSG.unpack_from(data, start)
            destination = attributes(data, start + _NDMSG.size, end).get(NDA_DST)
            if index == ifindex and destination == raw:
                state = "|".join(name for bit, name in NEIGHBOUR_STATES.items() if nud & bit)
        return state


def _link_name(link: Netlink, index: int) -> str | None:
    """The interface's name (RTM_GETLINK, IFLA_IFNAME); None when it cannot be had."""
    try:
        seq = link.request(RTM_GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0),
                           dump=False)
        for data, start, end, kind in link.replies(seq, dump=False):
            if kind == RTM_NEWLINK:
                name = attributes(data, start + _IFINFOMSG.size, end).get(IFLA_IFNAME)
                if name is not None:
                    return name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    except OSError:
        pass
    return None


def addresses(into: list[AddressMessage], trace: Trace = no_trace) -> None:
    """Every address of every interface (the RTM_GETADDR dump), appended to ``into``.

    Raises OSError; what was read before the error stays in ``into``.
    """
    with Netlink(NETLINK_ROUTE, trace) as link:
        seq = link.request(RTM_GETADDR, struct.pack("=B3x", socket.AF_UNSPEC), dump=True)
        for data, start, end, kind in link.replies(seq, dump=True):
            if kind != RTM_NEWADDR or end - start < _IFADDRMSG.size:
                continue
            family, prefixlen, flags, scope, ifindex = _IFADDRMSG.unpack_from(data, start)
            attrs = attributes(data, start + _IFADDRMSG.size, end)
            into.append(AddressMessage(family, prefixlen, flags, scope, ifindex,
                                       attrs.get(IFA_ADDRESS), attrs.get(IFA_LOCAL)))
