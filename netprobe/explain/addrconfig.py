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

The dump is read here the same way, with a netlink socket of our own, so
the explanation sees what the library saw a moment earlier.  Like glibc it
takes IFA_ADDRESS when present (the peer on a point-to-point link) and
IFA_LOCAL otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
from typing import NamedTuple

from netprobe import syscalls
from netprobe.events import Fields, Trace, no_trace

# rtnetlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
_NETLINK_ROUTE = 0
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
IFA_F_OPTIMISTIC = 0x04
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20

_LOOPBACK4 = 0x7F000001
_LOOPBACK6 = 1
_V4MAPPED = 0xFFFF << 32


class InterfaceAddress(NamedTuple):
    """One address of one interface, as the kernel lists it."""

    family: int
    address: int  # IPv4 as 32 bits, IPv6 as 128
    prefixlen: int
    flags: int  # the 8-bit ifa_flags glibc reads
    ifindex: int

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


class Interfaces(NamedTuple):
    addresses: list[InterfaceAddress]
    #: Why the list is empty when the kernel could not be asked.
    error: str | None = None

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


def _parse_addresses(data: bytes, seq: int, pid: int,
                     into: list[InterfaceAddress]) -> bool:
    """Parse one recv()'s worth of messages; True once NLMSG_DONE is seen."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, msg_seq, msg_pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            return True
        if msg_seq == seq and msg_pid in (pid, 0):
            if kind in (_NLMSG_DONE, _NLMSG_ERROR):
                return True
            if kind == _RTM_NEWADDR and length >= 24:
                family, prefixlen, flags, _scope, index = struct.unpack_from(
                    "=BBBBI", data, offset + 16)
                address: bytes | None = None
                local: bytes | None = None
                attr = offset + 24
                end = offset + length
                while attr + 4 <= end:
                    attr_len, attr_type = struct.unpack_from("=HH", data, attr)
                    if attr_len < 4:
                        break
                    payload = data[attr + 4:attr + attr_len]
                    if attr_type == _IFA_ADDRESS and address is None:
                        address = payload
                    elif attr_type == _IFA_LOCAL and local is None:
                        local = payload
                    attr += (attr_len + 3) & ~3
                chosen = address if address is not None else local
                size = {socket.AF_INET: 4, socket.AF_INET6: 16}.get(family)
                if chosen is not None and size is not None and len(chosen) >= size:
                    into.append(InterfaceAddress(family, int.from_bytes(chosen[:size], "big"),
                                                 prefixlen, flags, index))
        offset += (length + 3) & ~3
    return False


def read_interfaces(trace: Trace = no_trace) -> Interfaces:
    """Every address of every interface (RTM_GETADDR); never raises.

    Every call goes through ``netprobe.syscalls`` (``--syscalls`` shows
    them).  The wait for each reply is an explicit poll() then recv(), the
    two calls Python's recv() on a socket with a timeout makes itself.
    """
    addresses: list[InterfaceAddress] = []
    sock: socket.socket | None = None
    try:
        sock = syscalls.sys_socket(trace, socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
        syscalls.sys_bind(trace, sock, (0, 0))
        pid = syscalls.sys_getsockname(trace, sock)[0]
        seq = int.from_bytes(os.urandom(4), "little") or 1
        header = struct.pack("=IHHII", 20, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP,
                             seq, 0)
        syscalls.sys_sendto(trace, sock, header + struct.pack("=B3x", socket.AF_UNSPEC), (0, 0))
        syscalls.sys_setblocking(trace, sock, False)
        done = False
        while not done:
            if not syscalls.sys_poll(trace, sock, select.POLLIN, 5.0):
                raise TimeoutError("the kernel did not answer within 5 s")
            data = syscalls.sys_recv(trace, sock, 65536)
            if not data:
                break
            done = _parse_addresses(data, seq, pid, addresses)
    except OSError as exc:
        return Interfaces(addresses, f"cannot list the interfaces' addresses: {exc}")
    finally:
        if sock is not None:
            syscalls.sys_close(trace, sock)
    return Interfaces(addresses)


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
