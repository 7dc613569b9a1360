"""Which Unix sockets the kernel has bound at a path, with their processes: read after a failure.

The kernel's own table (``netprobe.kernel.table``: unix_diag over
NETLINK_SOCK_DIAG, and /proc/PID/fd for who holds each socket), asked for
the listeners and bound datagram sockets whose name is the path (or
``@NAME``), as the SPEC's ``socket`` events: what ``netprobe sockets PATH``
shows, and what a Unix ``why`` lists in ``sockets``.

Design decision: a path match, not a match on the file.  The table names the
path a socket was bound to, not the file now at that path: a socket whose
file was removed and replaced is still listed under the old path.  That is
good enough to name the *type* and the *process* served there (a wrong answer
needs two sockets bound to one path, one of them orphaned), and it is used to
decide that a file may be removed only in the safe direction: a socket
listed at the path keeps the file (``socketfile``).
"""

from __future__ import annotations

from typing import Any

from netprobe.events import Fields


def bound_at(path_text: str) -> list[Fields]:
    """The sockets bound at ``path_text`` (a path or ``@NAME``); [] when the table cannot
    be read (then nothing is claimed about the path)."""
    from netprobe.kernel.rows import unix_fields
    from netprobe.kernel.table import Query, TableUnreadable, read_table

    try:
        table = read_table(Query(protocols=("unix",), path=path_text))
    except TableUnreadable:
        return []
    return [unix_fields(sock, table.processes, table.unix_names) for sock in table.unix]


def holders(sockets: list[Fields]) -> str:
    """``pid 42 (python3 app.py)``: who holds these sockets, or what cannot be said."""
    named: list[str] = []
    for fields in sockets:
        processes: Any = fields.get("processes")
        if processes is None:
            return "its process is not visible to this user"
        named += [f"pid {p['pid']} ({p['command']})" for p in processes
                  if f"pid {p['pid']} ({p['command']})" not in named]
    return ", ".join(named) if named else "no process holds it"
