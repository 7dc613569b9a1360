"""The interfaces' addresses as getaddrinfo sees them (glibc's ``__check_pf``).

getaddrinfo asks the kernel for every address (an RTM_GETADDR dump over
rtnetlink) for two reasons:

* AI_ADDRCONFIG: a family counts as configured when it has an address
  other than the loopback one.  The test is exact: 127.0.0.1 and ::1 do
  not count, 127.0.0.2 on ``lo`` does.  With AF_UNSPEC and only one family
  configured, the lookup is narrowed to that family; asking for a family
  that is not configured fails at once (EAI_NONAME); with neither
  configured nothing is filtered at all.
* Sorting: each source address's flags (deprecated/optimistic for rule 3,
  home address for rule 4), prefix length (rule 9 for IPv4) and interface
  (rule 7).  glibc keeps this list only when an IPv6 address other than ::1
  exists; otherwise every source is "not found" (no flags, prefix length
  0, no interface).

The dump is read here the same way, with a netlink socket of our own
(``netprobe.netlink.route``), so the explanation sees what the library saw
a moment earlier.  Like glibc it takes IFA_ADDRESS when present (the peer
on a point-to-point link) and IFA_LOCAL otherwise.
"""

from __future__ import annotations

import ipaddress
import socket

from netprobe.events import Fields, Trace, no_trace
from netprobe.netlink.core import NetlinkError
from netprobe.netlink.route import AddressMessage
from netprobe.netlink.route import addresses as dump_addresses
from netprobe.record import Record, field

# ifa_flags bits (linux/if_addr.h) that glibc reads.
IFA_F_OPTIMISTIC = 0x04
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20

_ADDRESS_SIZES: dict[int, int] = {socket.AF_INET: 4, socket.AF_INET6: 16}
_LOOPBACK4 = 0x7F000001
_LOOPBACK6 = 1
_V4MAPPED = 0xFFFF << 32


class InterfaceAddress(Record):
    """One address of one interface, as the kernel lists it."""

    __slots__ = ()
    _fields = ("family", "address", "prefixlen", "flags", "ifindex")
    family: int = field(0)
    address: int = field(1)  # IPv4 as 32 bits, IPv6 as 128
    prefixlen: int = field(2)
    flags: int = field(3)  # the 8-bit ifa_flags glibc reads
    ifindex: int = field(4)

    def __new__(cls, family: int, address: int, prefixlen: int, flags: int,
                ifindex: int) -> InterfaceAddress:
        return tuple.__new__(cls, (family, address, prefixlen, flags, ifindex))

    @property
    def text(self) -> str:
        if self.family == socket.AF_INET:
            return str(ipaddress.IPv4Address(self.address))
        return str(ipaddress.IPv6Address(self.address))

    @property
    def key(self) -> int:
        """The 128-bit form glibc files it under (IPv4 as ::ffff:a.b.c.d)."""
        return self.address | _V4MAPPED if self.family == socket.AF_INET else self.address

    @property
    def counts(self) -> bool:
        """Whether it makes its family "configured" for AI_ADDRCONFIG."""
        if self.family == socket.AF_INET:
            return self.address != _LOOPBACK4
        return self.address != _LOOPBACK6


class Interfaces(Record):
    __slots__ = ()
    _fields = ("addresses", "error")
    addresses: list[InterfaceAddress] = field(0)
    #: Why the list is empty when the kernel could not be asked.
    error: str | None = field(1)

    def __new__(cls, addresses: list[InterfaceAddress], error: str | None = None) -> Interfaces:
        return tuple.__new__(cls, (addresses, error))

    @property
    def seen_ipv4(self) -> bool:
        return any(a.counts for a in self.addresses if a.family == socket.AF_INET)

    @property
    def seen_ipv6(self) -> bool:
        return any(a.counts for a in self.addresses if a.family == socket.AF_INET6)

    def for_sorting(self) -> dict[int, InterfaceAddress]:
        """glibc's ``in6ai`` list, by 128-bit key: empty unless IPv6 is configured."""
        if not self.seen_ipv6:
            return {}
        table: dict[int, InterfaceAddress] = {}
        for address in self.addresses:
            table.setdefault(address.key, address)
        return table

    def to_json(self) -> Fields:
        return {
            "AF_INET": [a.text for a in self.addresses
                        if a.family == socket.AF_INET and a.counts],
            "AF_INET6": [a.text for a in self.addresses
                         if a.family == socket.AF_INET6 and a.counts],
        }


def read_interfaces(trace: Trace = no_trace) -> Interfaces:
    """Every address of every interface (RTM_GETADDR, ``netprobe.netlink.route``); never raises.

    Every call goes through ``netprobe.syscalls`` (``--syscalls`` shows
    them).  The wait for each reply is an explicit poll() then recv(), the
    two calls Python's recv() on a socket with a timeout makes itself.
    """
    messages: list[AddressMessage] = []
    error: str | None = None
    try:
        dump_addresses(messages, trace)
    except NetlinkError:
        pass  # kept from before the move: an error ends the dump, what came before counts
    except OSError as exc:
        error = f"cannot list the interfaces' addresses: {exc}"
    return Interfaces([a for a in map(_interface_address, messages) if a is not None], error)


def _interface_address(message: AddressMessage) -> InterfaceAddress | None:
    """Like glibc: IFA_ADDRESS (the peer on a point-to-point link), else IFA_LOCAL."""
    chosen = message.address if message.address is not None else message.local
    size = _ADDRESS_SIZES.get(message.family)
    if chosen is None or size is None or len(chosen) < size:
        return None
    return InterfaceAddress(message.family, int.from_bytes(chosen[:size], "big"),
                            message.prefixlen, message.flags, message.ifindex)


def interface_is_native(ifindex: int) -> bool:
    """Rule 7's test (glibc ``__check_native``): not a tunnel device.

    glibc asks rtnetlink for the link's type; /sys/class/net/NAME/type holds
    the same ARPHRD_* number.  An interface that cannot be found is not
    native, as in glibc (its "native" starts at 0 and nothing sets it).
    """
    try:
        name = socket.if_indextoname(ifindex)
        with open(f"/sys/class/net/{name}/type", encoding="ascii") as handle:
            kind = int(handle.read().strip())
    except (OSError, ValueError):
        return False
    # ARPHRD_TUNNEL, ARPHRD_TUNNEL6, ARPHRD_SIT
    return kind not in (768, 769, 776)
