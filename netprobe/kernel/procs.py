"""Which processes hold a socket: its inode among the links of /proc/PID/fd, as ``ss -p``.

A socket's descriptor is a link ``socket:[INODE]`` in /proc/PID/fd of every
process that holds it (a forked server's children share their listener).
The kernel's table names the inode, never the process, so the only way from
one to the other is to read every process's descriptor table.

Design decision: "not permitted" is said, never guessed.  /proc/PID/fd of
another user's process can be read only with CAP_SYS_PTRACE (root, as a
rule); where this user may not look, a socket found nowhere it could look
has ``None`` for processes ("not permitted"), not ``[]`` (which says no
process holds it, as for a TIME_WAIT remnant).  A socket found in a
process it could read is reported with that process, even when others it
could not read may share it.

Design decision: one pass over /proc, descriptor tables read relative to
their directory (``readlink(fd, dir_fd=...)``, so the kernel does not
resolve /proc/PID/fd again for each of a server's ten thousand
descriptors), and only for the inodes asked about.  The command line is
read only for a process that holds one of them.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netprobe.events import Fields

PROC = "/proc"
_PREFIX = "socket:["


class Processes:
    """The processes holding each inode asked about, and whether anything was hidden."""

    __slots__ = ("_alone", "_commands", "by_inode", "hidden")

    def __init__(self, by_inode: dict[int, list[int]], hidden: bool) -> None:
        self.by_inode = by_inode
        #: Some process's descriptors could not be read (EACCES): absence proves nothing.
        self.hidden = hidden
        self._commands: dict[int, Fields] = {}
        self._alone: dict[int, list[Fields]] = {}

    def of(self, inode: int) -> list[Fields] | None:
        """[{pid, command, name}] holding ``inode``; [] for none; None when this user may not
        look (the socket was not found and some process could not be read)."""
        pids = self.by_inode.get(inode)
        if pids is None:
            return None if self.hidden and inode else []
        if len(pids) == 1:
            # The common case, a socket of one process: that process's one list, shared
            # by all its sockets (ten thousand, for a busy server).
            alone = self._alone.get(pids[0])
            if alone is None:
                alone = self._alone[pids[0]] = [self.process(pids[0])]
            return alone
        return [self.process(pid) for pid in pids]

    def process(self, pid: int) -> Fields:
        known = self._commands.get(pid)
        if known is None:
            name = command_name(pid)
            known = self._commands[pid] = {"pid": pid, "command": command_line(pid) or name,
                                           "name": name}
        return known


def scan(inodes: set[int] | None = None, proc: str = PROC) -> Processes:
    """Who holds each of ``inodes`` (every socket inode when None), from /proc/*/fd."""
    by_inode: dict[int, list[int]] = {}
    hidden = False
    readlink = os.readlink
    try:
        entries = os.listdir(proc)
    except OSError:
        return Processes({}, True)
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            directory = os.open(f"{proc}/{entry}/fd", os.O_RDONLY | os.O_DIRECTORY)
        except PermissionError:
            hidden = True
            continue
        except OSError:
            continue  # gone meanwhile, or a kernel thread's empty table
        pid = int(entry)
        try:
            for name in os.listdir(directory):
                try:
                    link = readlink(name, dir_fd=directory)
                except PermissionError:
                    raise  # the table can be listed, but its links not followed
                except OSError:
                    continue  # closed meanwhile
                if link.startswith(_PREFIX):
                    inode = int(link[8:-1])
                    if inodes is None or inode in inodes:
                        holders = by_inode.setdefault(inode, [])
                        if not holders or holders[-1] != pid:
                            holders.append(pid)
        except PermissionError:
            hidden = True
        except OSError:
            pass
        finally:
            os.close(directory)
    return Processes(by_inode, hidden)


class Scanning:
    """``scan()`` of every socket inode, in a thread, while the caller dumps the table.

    Design decision: both halves of ``netprobe sockets`` wait on the kernel
    (recv() of the dump, readlink() of ten thousand descriptors), and both
    release the interpreter lock while they do, so on two cores they take
    the time of the longer one instead of the sum (bench/sockets.py: a third
    off the total with 10 000 sockets).  The scan asks for every inode: the
    dump is not there yet to say which, and a pass reads every link anyway.
    """

    def __init__(self, proc: str = PROC) -> None:
        self._result: Processes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(proc,), daemon=True,
                                        name="netprobe-proc-scan")
        self._thread.start()

    def _run(self, proc: str) -> None:
        try:
            self._result = scan(None, proc)
        except BaseException as exc:  # handed to result(), raised in the caller's thread
            self._error = exc

    def result(self) -> Processes:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def command_line(pid: int, proc: str = PROC) -> str:
    """The process's arguments joined by spaces ("" for a kernel thread or a zombie)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as source:
            raw = source.read(65536)
    except OSError:
        return ""
    return b" ".join(raw.rstrip(b"\0").split(b"\0")).decode("utf-8", "surrogateescape")


def command_name(pid: int, proc: str = PROC) -> str:
    """The kernel's name of the process (``comm``, 15 bytes at most), as ``ss -p`` shows it."""
    try:
        with open(f"{proc}/{pid}/comm", "rb") as source:
            raw = source.read(64)
    except OSError:
        return ""
    return raw.rstrip(b"\n").decode("utf-8", "surrogateescape")
