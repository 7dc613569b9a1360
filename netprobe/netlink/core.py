"""One netlink socket: a request, its replies, the attributes of a reply.

netlink(7): a message is a 16-byte ``struct nlmsghdr`` (length, type,
flags, sequence number, port id) followed by its payload, padded to 4
bytes; several come in one datagram.  A dump (NLM_F_DUMP) is answered by
any number of messages and ends with NLMSG_DONE; a plain request by one
message; a failure by NLMSG_ERROR carrying the negative errno.  Replies
carry the request's sequence number, so stale ones are skipped.

Every call goes through ``netprobe.syscalls``: socket, bind (port id 0: the
kernel picks one), getsockname (to learn it), sendto, then a non-blocking
socket read with poll() and recv() until the answer is complete, close.
That is exactly the sequence ``--explain``'s address dump always made, so
moving it here changed nothing that ``--syscalls`` shows.
"""

from __future__ import annotations

import os
import select
import socket
import struct
from collections.abc import Iterator
from types import TracebackType

from netprobe import syscalls
from netprobe.events import Trace, no_trace

NETLINK_ROUTE = 0
NETLINK_SOCK_DIAG = 4

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

#: struct nlmsghdr.
HEADER = struct.Struct("=IHHII")
#: struct nlattr / struct rtattr: length, type.
ATTRIBUTE = struct.Struct("=HH")
_ERROR_CODE = struct.Struct("=i")
#: The type bits of an attribute (without NLA_F_NESTED, NLA_F_NET_BYTEORDER).
_TYPE_MASK = 0x3FFF

#: How long to wait for each part of an answer: the kernel answers at once,
#: so this only bounds a kernel that never does.
ANSWER_WAIT = 5.0
#: One recv(): the kernel fills a dump's datagrams up to 32 KiB.
RECV_SIZE = 65536

#: (datagram, offset of the message's payload, end of the message, type)
Reply = tuple[bytes, int, int, int]


class NetlinkError(OSError):
    """The kernel answered a request with NLMSG_ERROR (``errno`` is its errno)."""


class Netlink:
    """A netlink socket of one protocol (NETLINK_ROUTE, NETLINK_SOCK_DIAG), used as a context.

    Raises OSError when the socket cannot be made (no such protocol in this
    kernel, a sandbox without netlink).
    """

    def __init__(self, protocol: int, trace: Trace = no_trace) -> None:
        self.trace = trace
        self.sock = syscalls.sys_socket(trace, socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        try:
            syscalls.sys_bind(trace, self.sock, (0, 0))
            self.port_id = int(syscalls.sys_getsockname(trace, self.sock)[0])
        except BaseException:
            self.close()
            raise
        self._seq = int.from_bytes(os.urandom(4), "little") or 1
        self._blocking = True

    def close(self) -> None:
        syscalls.sys_close(self.trace, self.sock)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def request(self, kind: int, payload: bytes, *, dump: bool) -> int:
        """Send one request; returns its sequence number (for ``replies``)."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        header = HEADER.pack(HEADER.size + len(payload), kind, flags, self._seq, 0)
        syscalls.sys_sendto(self.trace, self.sock, header + payload, (0, 0))
        if self._blocking:
            # Non-blocking from here on: every wait is an explicit poll().
            syscalls.sys_setblocking(self.trace, self.sock, False)
            self._blocking = False
        return self._seq

    def receive(self) -> bytes:
        """One datagram of the answer (b"" if the socket was shut); TimeoutError after
        ANSWER_WAIT without one."""
        if not syscalls.sys_poll(self.trace, self.sock, select.POLLIN, ANSWER_WAIT):
            raise TimeoutError(f"the kernel did not answer within {ANSWER_WAIT:g} s")
        return syscalls.sys_recv(self.trace, self.sock, RECV_SIZE)

    def ours(self, seq: int, msg_seq: int, msg_port: int) -> bool:
        """Whether a message answers request ``seq`` (not a stale reply)."""
        return msg_seq == seq and msg_port in (self.port_id, 0)

    def replies(self, seq: int, *, dump: bool) -> Iterator[Reply]:
        """Every message answering request ``seq``: up to NLMSG_DONE for a dump, else one.

        Raises NetlinkError for NLMSG_ERROR, TimeoutError when the kernel
        does not answer within ANSWER_WAIT.
        """
        while True:
            data = self.receive()
            if not data:
                return
            offset, size = 0, len(data)
            while offset + 16 <= size:
                length, kind, _flags, msg_seq, msg_port = HEADER.unpack_from(data, offset)
                if length < 16:
                    return  # a broken datagram: nothing after it can be trusted
                end = offset + length
                if self.ours(seq, msg_seq, msg_port):
                    if kind in (NLMSG_ERROR, NLMSG_DONE):
                        if finished(data, offset, end, kind) or not dump:
                            return
                    else:
                        yield data, offset + 16, end, kind
                        if not dump:
                            return
                offset += (length + 3) & ~3


def finished(data: bytes, offset: int, end: int, kind: int) -> bool:
    """For NLMSG_DONE and NLMSG_ERROR: raise the error, else whether the answer is over
    (DONE ends a dump; ERROR 0 is an acknowledgement)."""
    _raise_error(data, offset, end)
    return kind == NLMSG_DONE


def _raise_error(data: bytes, offset: int, end: int) -> None:
    """NLMSG_ERROR (and a dump's NLMSG_DONE) carry an int: 0, or minus the errno."""
    if end - offset >= 20:
        (code,) = _ERROR_CODE.unpack_from(data, offset + 16)
        if code < 0:
            raise NetlinkError(-code, os.strerror(-code))


def attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """The attributes between ``start`` and ``end``: type -> payload (the first of each type)."""
    found: dict[int, bytes] = {}
    while start + 4 <= end:
        length, kind = ATTRIBUTE.unpack_from(data, start)
        if length < 4:
            break
        found.setdefault(kind & _TYPE_MASK, data[start + 4:start + length])
        start += (length + 3) & ~3
    return found


def attribute(kind: int, payload: bytes) -> bytes:
    """One request attribute, padded to 4 bytes."""
    length = ATTRIBUTE.size + len(payload)
    return ATTRIBUTE.pack(length, kind) + payload + b"\0" * (-length % 4)
