"""``listen``'s socket file: stale or live, ``--unlink``, ``--mode``, and removing it at stop.

bind() of a path creates a socket file and fails with EADDRINUSE when
anything is at the path, a file left by a server that died included: the
kernel never removes a socket file.  Servers cope with a blind unlink()
before bind(), which also removes a live server's file (its clients are
then refused while it runs on) and, with a typo, any file at all.

Design decision: bind first, ask questions after EADDRINUSE.  The success
path makes exactly the calls of the textbook server; only a refused bind
looks at the path:

* not a socket (a regular file, a directory...): ``not-a-socket``; never
  removed, ``--unlink`` or not;
* a socket file something is bound to: ``in-use``; never removed;
* a socket file nothing is bound to: ``stale``; removed (then bind again)
  only with ``--unlink``.

Design decision: "is something bound to it?" is asked of the kernel's table
first, and only then by connecting.  The table (/proc/net/unix) lists every
socket bound in this network namespace under the path it was bound to: if a
socket is listed there, the file is taken as in use and never removed (it
may be an orphan whose file was replaced since; being wrong that way costs
a message, the other way a live server's file).  If none is, the file is
stale unless a server outside this namespace (a container's host, say) is
bound to it, which only a connect() can tell: so a non-blocking SOCK_STREAM
connect() is made, and ECONNREFUSED confirms it stale, while connected,
EAGAIN (a full queue) or EPROTOTYPE (another type) mean it is live.  A probe
that is refused disturbs nobody; one that connects costs that server one
client that leaves at once, the price of not deleting its file.  Rejected:
connecting first (a live server with ``--count 1`` here, or any server
counting clients, would take the probe for a client; seen in testing) and a
blind unlink().

Design decision: the file is removed only if it is still the one netprobe
made.  Its device and inode are kept after bind(); at stop the path is
removed only if it still is that socket, so a file another server put there
meanwhile is left alone.  The check and the unlink are not atomic (no
system call is); the window is the same one every such server has.
"""

from __future__ import annotations

import errno as errno_module
import os
import socket
import stat
from typing import NamedTuple

from netprobe.errors import InvalidInput
from netprobe.events import Fields, Trace
from netprobe.syscalls import now, report, sys_close, sys_connect_ex, sys_socket
from netprobe.unix.address import UnixAddress
from netprobe.unix.table import bound_at, holders

#: What a probe connect found at a socket file.
LIVE, OTHER_TYPE, STALE, GONE, UNKNOWN = "live", "other-type", "stale", "gone", "unknown"


def parse_mode(text: str, stage: str = "listen") -> int:
    """``--mode 0660``: an octal mode 0-7777 (the leading 0 optional)."""
    digits = text[2:] if text.lower().startswith("0o") else text
    if not digits or not all(c in "01234567" for c in digits) or int(digits, 8) > 0o7777:
        raise InvalidInput(stage, text, "--mode is an octal mode 0000-7777 (e.g. 0660)")
    return int(digits, 8)


class SocketFile(NamedTuple):
    """The file bind() made: removed at stop only while it is still this one."""

    path: str
    device: int
    inode: int

    @classmethod
    def made(cls, path: str) -> SocketFile | None:
        try:
            found = os.lstat(path)
        except OSError:
            return None
        return cls(path, found.st_dev, found.st_ino)

    def still_ours(self) -> bool:
        try:
            found = os.lstat(self.path)
        except OSError:
            return False
        return (stat.S_ISSOCK(found.st_mode) and found.st_dev == self.device
                and found.st_ino == self.inode)


def unlink(trace: Trace, path: str) -> None:
    """unlink(2), reported for --syscalls; raises OSError as os.unlink does."""
    started = now()
    try:
        os.unlink(path)
    except OSError as exc:
        report(trace, "unlink", {"pathname": path}, -1, exc.errno, started, None)
        raise
    report(trace, "unlink", {"pathname": path}, 0, None, started, None)


def chmod(trace: Trace, path: str, mode: int) -> None:
    """chmod(2) of the socket file (fchmod on the socket would change the socket's inode)."""
    args = {"pathname": path, "mode": f"0{mode:o}"}
    started = now()
    try:
        os.chmod(path, mode, follow_symlinks=True)
    except OSError as exc:
        report(trace, "chmod", args, -1, exc.errno, started, None)
        raise
    report(trace, "chmod", args, 0, None, started, None)


def remove(trace: Trace, made: SocketFile) -> bool:
    """Remove the socket file netprobe made, if it still is that file; whether it was."""
    if not made.still_ours():
        return False
    try:
        unlink(trace, made.path)
    except OSError:
        return False
    return True


def probe(trace: Trace, address: UnixAddress) -> str:
    """Connect to ``address`` to learn whether anything is bound there (see above)."""
    try:
        sock = sys_socket(trace, socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0)
    except OSError:
        return UNKNOWN
    try:
        number = sys_connect_ex(trace, sock, address.sockaddr)
    finally:
        sys_close(trace, sock)
    if number in (0, errno_module.EAGAIN, errno_module.EINPROGRESS):
        return LIVE
    if number == errno_module.EPROTOTYPE:
        return OTHER_TYPE
    if number == errno_module.ECONNREFUSED:
        return STALE
    if number == errno_module.ENOENT:
        return GONE
    return UNKNOWN


class InUse(NamedTuple):
    """What is at a path bind() found taken, and whether it may be replaced."""

    #: ``in-use``, ``stale``, ``not-a-socket`` or ``gone`` (removed meanwhile: bind again).
    kind: str
    message: str
    stat: os.stat_result | None = None
    #: in-use: the sockets the kernel's table has bound at the path (``socket`` events).
    bound: tuple[Fields, ...] = ()


def examine(trace: Trace, address: UnixAddress) -> InUse:
    """After bind() said EADDRINUSE: what is at the path (the probe is reported too)."""
    from netprobe.unix.diagnose import describe_file
    from netprobe.unix.fs import kind_of

    if address.abstract:
        bound = bound_at(address.text)
        return InUse("in-use", f"the abstract name {address.text} is bound by another "
                     f"socket, {holders(bound)}", bound=tuple(bound))
    try:
        found = os.lstat(address.name)
    except FileNotFoundError:
        return InUse("gone", f"{address.name} was removed meanwhile")
    except OSError as exc:
        return InUse("in-use", f"{address.name}: {exc.strerror}")
    if not stat.S_ISSOCK(found.st_mode):
        return InUse("not-a-socket", f"{address.name} is a {kind_of(found.st_mode)}, not a "
                     "socket: left untouched", found)
    described = describe_file(address.name, found)
    bound = bound_at(address.text)
    if bound:
        types = ", ".join(sorted({str(b["socktype"]) for b in bound}))
        return InUse("in-use", f"{address.name} is bound by a {types} socket, "
                     f"{holders(bound)} ({described}): left untouched", found, tuple(bound))
    seen = probe(trace, address)
    if seen == STALE:
        return InUse("stale", f"{address.name} is a stale socket file: nothing listens on it "
                     f"({described})", found)
    if seen == GONE:
        return InUse("gone", f"{address.name} was removed meanwhile", found)
    if seen in (LIVE, OTHER_TYPE):
        return InUse("in-use", f"something outside this network namespace is bound to "
                     f"{address.name} ({described}): left untouched", found)
    return InUse("in-use", f"{address.name} is a socket file that could not be probed "
                 f"({described}): left untouched", found)


def replace_stale(trace: Trace, address: UnixAddress, seen: InUse) -> bool:
    """--unlink: remove a stale socket file, only if it is still the file examined."""
    if seen.kind != "stale" or seen.stat is None:
        return False
    try:
        again = os.lstat(address.name)
    except OSError:
        return False
    if (again.st_dev, again.st_ino) != (seen.stat.st_dev, seen.stat.st_ino):
        return False
    try:
        unlink(trace, address.name)
    except OSError:
        return False
    return True
