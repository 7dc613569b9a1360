"""The C names of the sockets interface's constants: one table of each, for every layer.

netprobe shows constants by the names a man page, a C program and strace
use (``AF_INET6``, ``SOCK_STREAM``, ``IPPROTO_TCP``, ``SO_REUSEADDR``), in
the JSON events, the human lines and the ``--syscalls`` trace alike.  The
resolver's candidates and the system-call reports once had a table each,
and the two drifted (one knew AF_UNIX, the other did not); here is the only
one.  What differs is only the fallback for a number with no name: the
events say ``0`` for "any" socket type or protocol (a number, as the SPEC's
JSON has it), the syscall trace writes every argument as text, as strace
does (``netprobe.syscalls`` makes the str of these).

Design decision: a new address family or socket option is one row here.
AF_UNIX and AF_NETLINK already have theirs, so the Unix-socket and kernel
table work add rows, not branches.

The option names (``--family inet6``, ``--socktype``, ``--protocol``, the
``--ai-*``/``--ni-*`` flags) map to the numbers here too, and the EAI_*
codes get their names from the socket module.

Ground floor: imports nothing of netprobe's, so any module may use it.
"""

from __future__ import annotations

import socket

FAMILY_NAMES: dict[int, str] = {
    socket.AF_UNSPEC: "AF_UNSPEC",
    socket.AF_INET: "AF_INET",
    socket.AF_INET6: "AF_INET6",
    socket.AF_UNIX: "AF_UNIX",
    socket.AF_NETLINK: "AF_NETLINK",
}
SOCKTYPE_NAMES: dict[int, str] = {
    socket.SOCK_STREAM: "SOCK_STREAM",
    socket.SOCK_DGRAM: "SOCK_DGRAM",
    socket.SOCK_RAW: "SOCK_RAW",
    socket.SOCK_SEQPACKET: "SOCK_SEQPACKET",
}
PROTOCOL_NAMES: dict[int, str] = {
    socket.IPPROTO_TCP: "IPPROTO_TCP",
    socket.IPPROTO_UDP: "IPPROTO_UDP",
    socket.IPPROTO_ICMP: "IPPROTO_ICMP",
    socket.IPPROTO_ICMPV6: "IPPROTO_ICMPV6",
    socket.IPPROTO_RAW: "IPPROTO_RAW",
    132: "IPPROTO_SCTP",
}
#: Netlink protocols (socket()'s third argument for AF_NETLINK).
NETLINK_PROTOCOL_NAMES: dict[int, str] = {0: "NETLINK_ROUTE", 4: "NETLINK_SOCK_DIAG"}

# strace names levels by the name of the socket layer (SOL_TCP, SOL_IP...);
# the textbook and the man pages say IPPROTO_TCP.  The numbers are the same;
# the man pages' names are used.
LEVEL_NAMES: dict[int, str] = {
    socket.SOL_SOCKET: "SOL_SOCKET",
    socket.IPPROTO_IP: "IPPROTO_IP",
    socket.IPPROTO_IPV6: "IPPROTO_IPV6",
    socket.IPPROTO_TCP: "IPPROTO_TCP",
    socket.IPPROTO_UDP: "IPPROTO_UDP",
}
#: Socket options by level.
OPTION_NAMES: dict[int, dict[int, str]] = {
    socket.SOL_SOCKET: {socket.SO_REUSEADDR: "SO_REUSEADDR", socket.SO_ERROR: "SO_ERROR",
                        socket.SO_KEEPALIVE: "SO_KEEPALIVE", socket.SO_TYPE: "SO_TYPE",
                        socket.SO_RCVBUF: "SO_RCVBUF", socket.SO_SNDBUF: "SO_SNDBUF",
                        getattr(socket, "SO_REUSEPORT", 15): "SO_REUSEPORT"},
    socket.IPPROTO_IP: {getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24):
                        "IP_BIND_ADDRESS_NO_PORT"},
    socket.IPPROTO_IPV6: {socket.IPV6_V6ONLY: "IPV6_V6ONLY"},
    socket.IPPROTO_TCP: {socket.TCP_NODELAY: "TCP_NODELAY"},
}
SHUT_NAMES: dict[int, str] = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR",
                              socket.SHUT_RDWR: "SHUT_RDWR"}


def family_name(family: int) -> str:
    """``AF_INET6``; the number as text for a family with no name here."""
    return FAMILY_NAMES.get(family, str(family))


def socktype_name(socktype: int) -> str | int:
    """The C name, or the number when there is none (0 means "any")."""
    return SOCKTYPE_NAMES.get(socktype, socktype)


def protocol_name(protocol: int) -> str | int:
    """The C name, or the number when there is none (0 means "any")."""
    return PROTOCOL_NAMES.get(protocol, protocol)


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, str(level))


def option_name(level: int, option: int) -> str:
    return OPTION_NAMES.get(level, {}).get(option, str(option))


# --- the option names, the AI_*/NI_* flags and the EAI_* codes ------------------------

#: The values of --family, --socktype and --protocol.
FAMILIES: dict[str, int] = {
    "unspec": socket.AF_UNSPEC,
    "inet": socket.AF_INET,
    "inet6": socket.AF_INET6,
}
SOCKTYPES: dict[str, int] = {
    "any": 0,
    "stream": socket.SOCK_STREAM,
    "dgram": socket.SOCK_DGRAM,
    "raw": socket.SOCK_RAW,
}
PROTOCOLS: dict[str, int] = {"any": 0, "tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}

#: AI_* flags in the order the SPEC lists them, keyed by option name.
AI_FLAGS: dict[str, tuple[str, int]] = {
    "passive": ("AI_PASSIVE", socket.AI_PASSIVE),
    "canonname": ("AI_CANONNAME", socket.AI_CANONNAME),
    "numeric_host": ("AI_NUMERICHOST", socket.AI_NUMERICHOST),
    "numeric_serv": ("AI_NUMERICSERV", socket.AI_NUMERICSERV),
    "addrconfig": ("AI_ADDRCONFIG", socket.AI_ADDRCONFIG),
    "v4mapped": ("AI_V4MAPPED", socket.AI_V4MAPPED),
    "all": ("AI_ALL", socket.AI_ALL),
}
#: NI_* flags, keyed by option name.
NI_FLAGS: dict[str, tuple[str, int]] = {
    "numeric_host": ("NI_NUMERICHOST", socket.NI_NUMERICHOST),
    "numeric_serv": ("NI_NUMERICSERV", socket.NI_NUMERICSERV),
    "namereqd": ("NI_NAMEREQD", socket.NI_NAMEREQD),
    "dgram": ("NI_DGRAM", socket.NI_DGRAM),
    "nofqdn": ("NI_NOFQDN", socket.NI_NOFQDN),
}

# EAI_* numbers are negative on glibc and differ between systems: read them
# from the socket module rather than writing them down.  Read when a failure
# first needs a name, not at every start-up (dir(socket) sorts ~1000 names).
_EAI_NAMES: dict[int, str] = {}


def eai_name(number: int) -> str:
    if not _EAI_NAMES:
        _EAI_NAMES.update(
            (getattr(socket, name), name) for name in dir(socket) if name.startswith("EAI_"))
    return _EAI_NAMES.get(number, f"EAI_{number}")


def flag_names(flags: int, table: dict[str, tuple[str, int]]) -> list[str]:
    # Plain ints: the socket module's flags are IntFlag members, whose ``&``
    # runs through the enum machinery (a tenth of a check target's time).
    value = int(flags)
    return [name for name, bit in table.values() if value & int(bit)]
