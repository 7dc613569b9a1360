"""--syscalls for the calls the event loop makes itself (accept4, setsockopt, close).

The loop's system calls are not made through ``netprobe.syscalls``' wrappers:
asyncio's are reported by wrapping the listening socket's accept()
(``report_accepts``), uvloop's (made in C) from the callbacks that follow them.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from netprobe import syscalls
from netprobe.constants import level_name, option_name
from netprobe.events import Fields
from netprobe.syscalls import report_loop_call, sockaddr, sockaddr_len

if TYPE_CHECKING:
    from netprobe.serve.owner import Owner
    from netprobe.serve.stream import Connection


def report_accepts(sock: socket.socket, server: Owner) -> None:
    """asyncio: make the listening socket report each accept() the loop makes on it.

    asyncio's accept loop calls ``sock.accept()`` on the very socket object
    create_server was given, several times a wake-up (until EAGAIN), and
    sets the connections up later: reporting from connection_made would put
    the calls out of order.  So the object's class is switched to a subclass
    whose accept() reports (same layout, no new state: Python allows it)
    and makes the one accept4() it always made.  The accepted socket gets
    the same treatment for the one setsockopt(TCP_NODELAY) the loop makes
    when it sets the connection up (later, and maybe after further
    accepts), then becomes a plain socket again.  uvloop accepts in C and
    is reported from connection_made instead.
    """

    class ReportingConnection(socket.socket):
        __slots__ = ()

        def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
            plain: socket.socket = self  # a plain socket again: only the first call reports
            plain.__class__ = socket.socket
            fd = self.fileno()
            args: Fields = {"sockfd": fd, "level": level_name(level),
                            "optname": option_name(level, option), "optval": value,
                            "optlen": 4}
            started = syscalls.now()
            try:
                super(socket.socket, self).setsockopt(level, option, value, *rest)
            except OSError as exc:
                _loop_report(server, "setsockopt", args, -1, exc.errno, started, fd)
                raise
            _loop_report(server, "setsockopt", args, 0, None, started, fd)

    class ReportingListener(socket.socket):
        __slots__ = ()

        def accept(self) -> tuple[socket.socket, Any]:
            fd = self.fileno()
            length = {socket.AF_INET6: 28, socket.AF_UNIX: 110}.get(self.family, 16)
            started = syscalls.now()
            try:
                conn, address = super().accept()
            except OSError as exc:
                _loop_report(server, "accept4", {"sockfd": fd, "addr": None, "addrlen": length,
                                                 "flags": ["SOCK_CLOEXEC"]},
                             -1, exc.errno, started, fd)
                raise
            addr = sockaddr(address)
            _loop_report(server, "accept4", {"sockfd": fd, "addr": addr,
                                             "addrlen": sockaddr_len(addr),
                                             "flags": ["SOCK_CLOEXEC"]},
                         conn.fileno(), None, started, fd)
            conn.__class__ = ReportingConnection
            return conn, address

    sock.__class__ = ReportingListener


# The reports go through ``server.emit``, not the bare trace: a closed stdout
# then stops the server (as every other event does) instead of unwinding
# through the loop's callback.


def _loop_report(server: Owner, call: str, args: Fields, result: int, number: int | None,
                 started: float, fd: int) -> None:
    syscalls.report(server.emit, call, args, result, number, started, fd, by=server.loop_name)


def loop_call(server: Owner, call: str, args: Fields, result: int, fd: int) -> None:
    """--syscalls: a call the event loop made (see ``syscalls.report_loop_call``)."""
    if server.shows_syscalls:
        report_loop_call(server.emit, call, args, result, fd, server.loop_name)


def accepted_calls(server: Owner, conn: Connection, transport: asyncio.BaseTransport) -> None:
    """The loop's accept4() and its setsockopt(TCP_NODELAY) for a new connection.

    What each loop passes was read off strace: uvloop (libuv) asks for no
    address and a non-blocking socket; asyncio's sock.accept() asks for
    the address, then makes the socket non-blocking with ioctl.  Both
    set TCP_NODELAY on TCP sockets.  Only uvloop's are reported here.
    """
    if not server.shows_syscalls:
        return
    sock = transport.get_extra_info("socket")
    conn.fd = sock.fileno() if sock is not None else -1
    if conn.fd < 0:
        return
    if server.loop_name == "uvloop":
        # libuv accepts in C: reported here, from the callback that follows
        # (asyncio's calls are reported as they are made: report_accepts).
        args: Fields = {"sockfd": conn.listen_fd, "addr": None, "addrlen": None,
                        "flags": ["SOCK_CLOEXEC", "SOCK_NONBLOCK"]}
        loop_call(server, "accept4", args, conn.fd, conn.listen_fd)
        if sock.family == socket.AF_UNIX:
            return  # no TCP_NODELAY on a Unix socket
        loop_call(server, "setsockopt", {"sockfd": conn.fd, "level": "IPPROTO_TCP",
                                         "optname": "TCP_NODELAY", "optval": 1, "optlen": 4},
                  0, conn.fd)


def closed_calls(server: Owner, conn: Connection, sent: int | None) -> None:
    """--syscalls: what the loop read and wrote on a client's socket, and its close().

    The loop's recv()/send() calls are its own business (how many depends
    on its buffers): only their bytes are known, so only bytes are given.
    """
    if conn.fd < 0 or not server.shows_syscalls:
        return
    if sent is not None:
        server.emit("syscall_summary", {"fd": conn.fd, "recv": {"calls": None,
                                                                "bytes": conn.bytes_in},
                                        "send": {"calls": None, "bytes": sent},
                                        "by": server.loop_name})
    loop_call(server, "close", {"fd": conn.fd}, 0, conn.fd)
    conn.fd = -1
