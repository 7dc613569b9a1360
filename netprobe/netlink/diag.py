"""NETLINK_SOCK_DIAG (sock_diag(7)): the kernel's socket table, as ``ss`` reads it.

One SOCK_DIAG_BY_FAMILY dump per (family, protocol): ``inet_sockets`` sends
``struct inet_diag_req_v2`` (TCP or UDP, IPv4 or IPv6, a mask of states),
``unix_sockets`` sends ``struct unix_diag_req``.  Each reply is one socket:
``struct inet_diag_msg`` (state, the two ends, the queues, uid, inode) or
``struct unix_diag_msg`` with the attributes asked for (name, peer, queue
lengths, uid).

What the queues mean depends on the state, and the kernel says so in the
same two fields: for a TCP (and Unix) listener ``rqueue`` is the number of
connections waiting to be accepted (sk_ack_backlog) and ``wqueue`` the
backlog given to listen() (sk_max_ack_backlog); for any other socket they
are the bytes not yet read and not yet acknowledged (or sent).

IPV6_V6ONLY comes as INET_DIAG_SKV6ONLY, which the kernel adds for IPv6
sockets in LISTEN or CLOSE (an unconnected UDP socket) only: elsewhere it
is not known (``None``).

Design decision: a port is filtered in the kernel (``port=``), not here.
``ss sport = :P`` does the same with inet_diag's bytecode: two conditional
jumps (local port >= P, local port <= P) that every socket of the dump is
run through, so a ``why`` on a host with tens of thousands of connections
reads only the handful on its port.  Unix sockets have no such filter.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

from netprobe.netlink.core import (
    HEADER,
    NLMSG_DONE,
    NLMSG_ERROR,
    Netlink,
    attribute,
    attributes,
    finished,
)

SOCK_DIAG_BY_FAMILY = 20

# TCP states (include/net/tcp_states.h); unix_diag and UDP use the same numbers.
ESTABLISHED = 1
SYN_RECV = 3
TIME_WAIT = 6
CLOSE = 7
LISTEN = 10
NEW_SYN_RECV = 12
BOUND_INACTIVE = 13
STATE_NAMES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
               6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
               11: "CLOSING", 12: "SYN_RECV", 13: "BOUND_INACTIVE"}
#: What ``ss -l`` asks for: listeners, and unconnected (bound) datagram sockets.
LISTENING_STATES = (1 << LISTEN) | (1 << CLOSE)
#: Every state, the kernel-only ones included: half-open connections are
#: NEW_SYN_RECV request sockets, and BOUND_INACTIVE (Linux 6.6+) is a TCP
#: socket that bound a port but neither listens nor connects; older kernels
#: ignore the bit.
EVERY_STATE = (1 << 14) - 1

INET_DIAG_REQ_BYTECODE = 1
INET_DIAG_SKV6ONLY = 11
_BC_S_GE = 2
_BC_S_LE = 3

UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_RQLEN = 0x10
UDIAG_SHOW_UID = 0x40
UNIX_DIAG_NAME = 0
UNIX_DIAG_PEER = 2
UNIX_DIAG_RQLEN = 4
UNIX_DIAG_UID = 7

#: struct inet_diag_req_v2: family, protocol, ext, pad, states, then a zero sockid.
_INET_REQUEST = struct.Struct("=BBBxI48x")
#: struct inet_diag_msg: family, state, timer, retrans, sockid (ports in network
#: order, addresses, interface, cookie), expires, rqueue, wqueue, uid, inode.
_INET_MESSAGE = struct.Struct("=BBxx4x16s16sI8x4xIIII")
#: The two ports, read apart: they are in network order, the rest in the host's.
_PORTS = struct.Struct("!HH")
_MESSAGE_LENGTH = 16 + _INET_MESSAGE.size
#: struct unix_diag_req: family, protocol, pad, states, ino, show, cookie.
_UNIX_REQUEST = struct.Struct("=BBxxIII8x")
#: struct unix_diag_msg: family, type, state, pad, ino, cookie.
_UNIX_MESSAGE = struct.Struct("=BBBxI8x")
_TWO_U32 = struct.Struct("=II")
_U32 = struct.Struct("=I")
_BC_OP = struct.Struct("=BBH")


class InetSocket(NamedTuple):
    """One TCP or UDP socket of the table (an inet_diag_msg)."""

    protocol: int  # IPPROTO_TCP or IPPROTO_UDP
    family: int
    state: int
    local_address: str
    local_port: int
    peer_address: str
    peer_port: int
    ifindex: int  # the device it is bound to (SO_BINDTODEVICE), 0 for none
    rqueue: int
    wqueue: int
    uid: int
    inode: int  # 0 for TIME_WAIT and request sockets: no socket file
    v6only: bool | None


class UnixSocket(NamedTuple):
    """One AF_UNIX socket (a unix_diag_msg and its attributes)."""

    socktype: int
    state: int
    inode: int
    #: The bound name: a path, ``@name`` in the abstract namespace, None when unnamed.
    path: str | None
    peer_inode: int  # 0 when not connected
    rqueue: int
    wqueue: int
    uid: int | None  # None before Linux 5.3 (UNIX_DIAG_UID)


def port_filter(port: int) -> bytes:
    """inet_diag bytecode that keeps the sockets whose local port is ``port``.

    Each op is (code, yes, no) then its operand in a second op's ``no``;
    "yes" jumps to the next op, "no" jumps 4 bytes past the end, which
    rejects the socket (an offset that lands exactly on the end accepts it).
    """
    return (_BC_OP.pack(_BC_S_GE, 8, 20) + _BC_OP.pack(0, 0, port)
            + _BC_OP.pack(_BC_S_LE, 8, 12) + _BC_OP.pack(0, 0, port))


def inet_sockets(link: Netlink, protocol: int, family: int, states: int,
                 port: int | None = None) -> list[InetSocket]:
    """The TCP or UDP sockets of one family in ``states`` (a bit mask), on ``port`` if given."""
    payload = _INET_REQUEST.pack(family, protocol, 0, states)
    if port is not None:
        payload += attribute(INET_DIAG_REQ_BYTECODE, port_filter(port))
    seq = link.request(SOCK_DIAG_BY_FAMILY, payload, dump=True)
    found: list[InetSocket] = []
    names: dict[bytes, str] = {}
    while True:
        data = link.receive()
        if not data or _inet_datagram(link, seq, data, protocol, family, found, names):
            return found


def _inet_datagram(link: Netlink, seq: int, data: bytes, protocol: int, family: int,
                   found: list[InetSocket], names: dict[bytes, str]) -> bool:
    """The sockets of one datagram of the dump, appended to ``found``; True at its end.

    The hot loop (ten thousand sockets in a few milliseconds): the framing
    is walked here rather than through ``Netlink.replies`` (a generator
    step per message), every lookup is a local, an address is converted
    once per distinct address (``names``), a record is made by
    ``tuple.__new__`` (a NamedTuple's own ``__new__`` is Python code), and
    the attributes are read only where IPV6_V6ONLY can be.
    """
    header, body, ports = HEADER.unpack_from, _INET_MESSAGE.unpack_from, _PORTS.unpack_from
    ntop, append, make = socket.inet_ntop, found.append, tuple.__new__
    size = 4 if family == socket.AF_INET else 16
    v6 = family == socket.AF_INET6
    port_id = link.port_id
    offset, total = 0, len(data)
    while offset + 16 <= total:
        length, kind, _flags, msg_seq, msg_port = header(data, offset)
        if length < 16:
            return True  # a broken datagram: nothing after it can be trusted
        end = offset + length
        if msg_seq != seq or (msg_port != port_id and msg_port != 0):
            pass  # a stale reply to an earlier request
        elif kind == SOCK_DIAG_BY_FAMILY and length >= _MESSAGE_LENGTH:
            (msg_family, state, src, dst, ifindex, rqueue, wqueue, uid,
             inode) = body(data, offset + 16)
            v6only: bool | None = None
            if v6 and state in (LISTEN, CLOSE):
                flag = attributes(data, offset + _MESSAGE_LENGTH, end).get(INET_DIAG_SKV6ONLY)
                v6only = bool(flag[0]) if flag else None
            local = names.get(src)
            if local is None:
                local = names[src] = ntop(family, src[:size])
            peer = names.get(dst)
            if peer is None:
                peer = names[dst] = ntop(family, dst[:size])
            sport, dport = ports(data, offset + 20)
            append(make(InetSocket, (protocol, msg_family, state, local, sport, peer, dport,
                                     ifindex, rqueue, wqueue, uid, inode, v6only)))
        elif kind in (NLMSG_DONE, NLMSG_ERROR) and finished(data, offset, end, kind):
            return True
        offset += (length + 3) & ~3
    return False


def unix_sockets(link: Netlink, states: int) -> list[UnixSocket]:
    """Every AF_UNIX socket in ``states``, with its name, peer, queue and uid."""
    show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID
    seq = link.request(SOCK_DIAG_BY_FAMILY,
                       _UNIX_REQUEST.pack(socket.AF_UNIX, 0, states, 0, show), dump=True)
    found: list[UnixSocket] = []
    for data, start, end, kind in link.replies(seq, dump=True):
        if kind != SOCK_DIAG_BY_FAMILY or end - start < _UNIX_MESSAGE.size:
            continue
        _family, socktype, state, inode = _UNIX_MESSAGE.unpack_from(data, start)
        attrs = attributes(data, start + _UNIX_MESSAGE.size, end)
        rqlen = attrs.get(UNIX_DIAG_RQLEN)
        rqueue, wqueue = _TWO_U32.unpack(rqlen[:8]) if rqlen and len(rqlen) >= 8 else (0, 0)
        peer = attrs.get(UNIX_DIAG_PEER)
        uid = attrs.get(UNIX_DIAG_UID)
        found.append(UnixSocket(
            socktype, state, inode, unix_name(attrs.get(UNIX_DIAG_NAME)),
            _U32.unpack(peer[:4])[0] if peer and len(peer) >= 4 else 0, rqueue, wqueue,
            _U32.unpack(uid[:4])[0] if uid and len(uid) >= 4 else None))
    return found


def unix_name(raw: bytes | None) -> str | None:
    """A sun_path as text: ``@name`` for the abstract namespace (its NULs as ``@``, as
    ``ss`` shows them), bytes that are not UTF-8 kept (surrogateescape)."""
    if raw is None:
        return None
    if raw[:1] == b"\0":
        return "@" + raw[1:].replace(b"\0", b"@").decode("utf-8", "surrogateescape")
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
