"""Which Unix sockets the kernel has bound at a path: /proc/net/unix, read after a failure.

Only the failure path reads it (EPROTOTYPE: which type serves the path).
/proc/net/unix is the kernel's table in text (what ``ss -x`` and netstat
read without netlink): one line per socket, ``Num RefCount Protocol Flags
Type St Inode Path``, the path as bound (``@name`` for an abstract one).

Design decision: a path match, not an inode match.  The table names the
path a socket was bound to, not the file now at that path: a socket whose
file was removed and replaced is still listed under the old path.  That is
good enough to name the *type* served there (a wrong answer needs two
sockets of different types bound to one path, one of them orphaned); it is
used to decide that a file may be removed only in the safe direction: a
socket listed at the path keeps the file (``socketfile``).
"""

from __future__ import annotations

import socket
from typing import NamedTuple

_PROC = "/proc/net/unix"
#: __SO_ACCEPTCON in the Flags column: the socket is listening.
_ACCEPTCON = 0x10000
TYPE_NAMES: dict[int, str] = {
    socket.SOCK_STREAM: "SOCK_STREAM",
    socket.SOCK_DGRAM: "SOCK_DGRAM",
    socket.SOCK_SEQPACKET: "SOCK_SEQPACKET",
}


class Bound(NamedTuple):
    """One socket of the table bound at a path."""

    path: str
    socktype: int
    listening: bool
    inode: int


def parse(text: str) -> list[Bound]:
    """The bound sockets of /proc/net/unix's text (unnamed ones are left out)."""
    entries: list[Bound] = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 7)
        if len(fields) < 8:
            continue  # unnamed: no Path column
        try:
            flags, kind, inode = int(fields[3], 16), int(fields[4], 16), int(fields[6])
        except ValueError:
            continue
        entries.append(Bound(fields[7], kind, bool(flags & _ACCEPTCON), inode))
    return entries


def bound_at(path_text: str) -> list[Bound]:
    """The sockets bound at ``path_text`` (a path or ``@NAME``); [] when unreadable."""
    try:
        with open(_PROC, encoding="utf-8", errors="surrogateescape") as source:
            text = source.read()
    except OSError:
        return []
    return [entry for entry in parse(text) if entry.path == path_text]
