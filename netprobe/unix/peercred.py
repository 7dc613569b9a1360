"""SO_PEERCRED: who is at the other end of a Unix socket, and what it runs.

The kernel records the credentials of the process that called connect()
(for the server) or listen() (for the client) and returns them as ``struct
ucred {pid_t pid; uid_t uid; gid_t gid;}``.  The pid is turned into a
command from /proc: the command line, or the name (``comm``) where the
command line is empty (a kernel thread, a process that cleared it), or null
where this user may not look (hidepid) or the process is gone.

The command is outside text (a process chooses its own argv): it is kept
as it is here and made safe by the renderers, like every peer's payload.

Design decision: asked once, right after connect() or accept().  The
credentials are those of connect/listen time, not of "now"; reading them
later would not change them, but the process may have exited, and its
command is worth more the sooner it is read.  A datagram socket has no
peer credentials (the kernel fills none in: pid 0): nothing is reported.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any, NamedTuple

from netprobe.events import Trace
from netprobe.syscalls import now, report

_UCRED = struct.Struct("iII")
SO_PEERCRED: int = getattr(socket, "SO_PEERCRED", 17)


class PeerCred(NamedTuple):
    pid: int
    uid: int
    gid: int
    command: str | None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "uid": self.uid, "gid": self.gid, "command": self.command}


def command_of(pid: int, proc: str = "/proc") -> str | None:
    """The command line of ``pid`` (arguments joined by spaces), its comm, or None."""
    if pid <= 0:
        return None
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as source:
            raw = source.read()
        if raw.strip(b"\0"):
            words = raw.rstrip(b"\0").split(b"\0")
            return " ".join(os.fsdecode(word) for word in words)
        with open(f"{proc}/{pid}/comm", "rb") as source:
            return os.fsdecode(source.read().rstrip(b"\n")) or None
    except OSError:
        return None


def read_peer_cred(sock: Any, trace: Trace) -> PeerCred | None:
    """getsockopt(SO_PEERCRED) on a connected Unix stream socket, reported for --syscalls.

    ``sock`` is a socket or the event loop's wrapper of one (both have
    getsockopt and fileno).  None when the kernel gives nothing (pid 0).
    """
    fd = sock.fileno()
    args: dict[str, Any] = {"sockfd": fd, "level": "SOL_SOCKET", "optname": "SO_PEERCRED"}
    started = now()
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERCRED, _UCRED.size)
    except OSError as exc:
        report(trace, "getsockopt", {**args, "optval": None, "optlen": _UCRED.size}, -1,
               exc.errno, started, fd)
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    # A structure, not an int: the renderer draws it as strace does ({pid=..., ...}).
    ucred = {"pid": pid, "uid": uid, "gid": gid}
    report(trace, "getsockopt", {**args, "optval": ucred, "optlen": _UCRED.size}, 0, None,
           started, fd)
    if pid == 0:
        return None
    return PeerCred(pid, uid, gid, command_of(pid))
