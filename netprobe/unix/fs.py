"""The file system's side of a Unix socket: the path walk the kernel makes, modelled.

connect() on a path socket asks the kernel to look the path up and then to
check write permission on the inode it found (net/unix/af_unix.c,
``unix_find_bsd``: ``kern_path`` then ``path_permission(MAY_WRITE)``, and
only then "is it a socket?").  bind() looks up the parent directory and
creates the file in it (``may_create``: write and search on the parent).  A
failure of either is one errno, ENOENT or EACCES, that names nothing.  This
module walks the same path the same way, as this process, and says which
component is missing or which file or directory refused, with its mode and
owner.

Design decision: the permission check is the kernel's, class by class
(fs/namei.c ``acl_permission_check``): the owner's bits apply to the owner
even when the group or other bits would allow more, the group's bits to a
member of the file's group (the effective gid or a supplementary group),
the other bits to everyone else; root's CAP_DAC_OVERRIDE passes every
directory and any read or write.  The classes are what users get wrong
(``chmod 707`` does not let the owner in), so the message names the class
that applied.  Rejected: ``os.access``, which uses the *real* uid and says
only yes or no.

Design decision: honest about what is not modelled.  POSIX ACLs, security
modules (AppArmor, SELinux, Landlock) and user namespaces can refuse what
the mode bits allow.  When the kernel said EACCES and the modes allow it,
the diagnosis says exactly that instead of blaming a component; a component
with an ACL is marked as such.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

# The access bits of one class (the ``other`` position; shifted for group and owner).
READ, WRITE, SEARCH = 4, 2, 1
#: How many symbolic links one lookup follows before ELOOP (Linux's MAXSYMLINKS).
MAX_SYMLINKS = 40

_KINDS = (
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISREG, "regular file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def kind_of(mode: int) -> str:
    """``regular file``, ``directory``, ``socket``... for an st_mode."""
    return next((name for test, name in _KINDS if test(mode)), "file")


class Credentials(NamedTuple):
    """Who asks: the effective uid and gid and the supplementary groups, as the kernel uses."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def current(cls) -> Credentials:
        gid = os.getegid()
        return cls(os.geteuid(), gid, frozenset(os.getgroups()) | {gid})

    def access_class(self, st: os.stat_result) -> str:
        """Which of the mode's classes applies to this user: owner, group or other."""
        if self.uid == st.st_uid:
            return "owner"
        if st.st_gid in self.groups:
            return "group"
        return "other"

    def may(self, st: os.stat_result, need: int) -> bool:
        """The kernel's check of ``need`` (READ|WRITE|SEARCH bits) on a file."""
        if self.uid == 0:
            # CAP_DAC_OVERRIDE: any directory, any read or write; execute of
            # a plain file only if some x bit is set (irrelevant here).
            return stat.S_ISDIR(st.st_mode) or not need & SEARCH or bool(st.st_mode & 0o111)
        shift = {"owner": 6, "group": 3, "other": 0}[self.access_class(st)]
        granted = (st.st_mode >> shift) & 0o7
        return granted & need == need


class Refusal(NamedTuple):
    """A file or directory whose mode refused what the lookup needed."""

    path: str
    mode: int
    uid: int
    gid: int
    #: What was needed: ``search`` (x on a directory), ``write`` (w on the socket
    #: file) or ``write and search`` (wx on the directory bind() creates in).
    need: str
    #: The class of the mode that applied to this user: owner, group or other.
    access_class: str
    #: Whether a POSIX ACL is on it (then the group bits are its mask: not modelled).
    acl: bool


class Walk(NamedTuple):
    """Where the lookup of a path ended.

    ``outcome``: ``found`` (``path`` is the object, ``stat`` its lstat),
    ``missing`` (``path`` is the first component that does not exist),
    ``refused`` (``refusal`` says who), ``not-a-directory`` (``path`` is a
    non-directory with components after it), ``loop`` (too many symbolic
    links), ``exists`` (bind: something is already at the path) or
    ``unreadable`` (the model allowed a step the kernel refused us).
    """

    outcome: str
    path: str
    stat: os.stat_result | None = None
    refusal: Refusal | None = None
    #: ``missing``: whether it is the last component (the file) or a directory.
    final: bool = False


def _has_acl(path: str) -> bool:
    try:
        os.getxattr(path, "system.posix_acl_access", follow_symlinks=False)
    except OSError:
        return False
    return True


def _refused(path: str, st: os.stat_result, need: str, creds: Credentials) -> Walk:
    refusal = Refusal(path, st.st_mode, st.st_uid, st.st_gid, need, creds.access_class(st),
                      _has_acl(path))
    return Walk("refused", path, st, refusal)


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def walk(path: str, creds: Credentials, *, creating: bool = False) -> Walk:
    """Look ``path`` up as the kernel does for connect (or, ``creating``, for bind).

    connect: search on every directory, symbolic links followed (the last
    one too), then write on what was found.  bind: the same up to the parent
    directory, which needs write and search; the last component is not
    followed, and anything already there is ``exists`` (EADDRINUSE).
    """
    pending = _parts(path)
    last = pending.pop() if creating and pending else None
    current = "/" if path.startswith("/") else os.getcwd()
    links = 0
    while pending:
        part = pending.pop(0)
        try:
            directory = os.stat(current)
        except OSError:
            return Walk("unreadable", current)
        if not creds.may(directory, SEARCH):
            return _refused(current, directory, "search", creds)
        if part == "..":
            current = os.path.dirname(current) or "/"
            continue
        step = os.path.join(current, part)
        try:
            found = os.lstat(step)
        except FileNotFoundError:
            return Walk("missing", step, final=not pending and last is None)
        except OSError:
            return Walk("unreadable", step)
        if stat.S_ISLNK(found.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                return Walk("loop", step)
            target = os.readlink(step)
            pending[:0] = _parts(target)
            if target.startswith("/"):
                current = "/"
            continue
        if pending and not stat.S_ISDIR(found.st_mode):
            return Walk("not-a-directory", step, found)
        current = step
    if last is not None:
        return _creating(current, last, creds)
    try:
        found = os.lstat(current)
    except OSError:
        return Walk("unreadable", current)
    if not creds.may(found, WRITE):
        return _refused(current, found, "write", creds)
    return Walk("found", current, found)


def _creating(parent: str, name: str, creds: Credentials) -> Walk:
    try:
        directory = os.stat(parent)
    except OSError:
        return Walk("unreadable", parent)
    if not stat.S_ISDIR(directory.st_mode):
        return Walk("not-a-directory", parent, directory)
    if not creds.may(directory, WRITE | SEARCH):
        return _refused(parent, directory, "write and search", creds)
    step = os.path.join(parent, name)
    try:
        found = os.lstat(step)
    except FileNotFoundError:
        return Walk("found", step)
    except OSError:
        return Walk("unreadable", step)
    return Walk("exists", step, found)


# --- naming owners --------------------------------------------------------------------------


def user_name(uid: int) -> str:
    """``1000 (alice)``; the number alone where no name is known."""
    import pwd

    try:
        return f"{uid} ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, OverflowError):
        return str(uid)


def group_name(gid: int) -> str:
    import grp

    try:
        return f"{gid} ({grp.getgrgid(gid).gr_name})"
    except (KeyError, OverflowError):
        return str(gid)


def owner_text(uid: int, gid: int) -> str:
    """``root:docker`` as ``ls -l`` shows an owner (numbers where there are no names)."""
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        group = str(gid)
    return f"{user}:{group}"
