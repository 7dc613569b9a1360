"""Why a Unix-socket connect or bind failed, in one line: the SPEC's kinds for AF_UNIX.

Read only after a failure (the success path costs nothing).  The errno says
which question to ask; the file system (``fs``) and the kernel's table
(``table``) answer it:

| errno | kind |
|---|---|
| ENOENT, ENOTDIR, ELOOP | ``no-such-file``: the first missing component (or a non-directory) |
| EACCES, EPERM | ``permission``: the directory or file whose mode refused, its owner, this user |
| ECONNREFUSED on a socket file | ``stale``: nothing listens on it |
| ECONNREFUSED on anything else | ``not-a-socket`` (the kernel checks the type after the lookup) |
| ECONNREFUSED, abstract name | ``no-listener``: nothing is bound to the name |
| EPROTOTYPE | ``other-socktype``: the type that is bound there |
| EAGAIN, or timed out | ``queue-full``: the listener's backlog is full (it is not calling accept) |
| EADDRINUSE (bind) | ``in-use`` (something listens), ``stale`` or ``not-a-socket`` |

A kind that cannot be told is never guessed: ``kind`` is None and the
message says what was seen.
"""

from __future__ import annotations

import errno as errno_module
import os
import stat
import time
from typing import Any, NamedTuple

from netprobe.unix import fs, table
from netprobe.unix.address import UnixAddress

#: What to pass to see a socket of the other type (the hint after other-socktype).
_TYPE_OPTIONS = {"SOCK_STREAM": "no option", "SOCK_DGRAM": "--udp",
                 "SOCK_SEQPACKET": "--seqpacket"}


class Diagnosis(NamedTuple):
    """The ``why`` of one failed Unix attempt or bind."""

    kind: str | None
    message: str
    #: The file or directory the message is about (None for an abstract name).
    path: str | None = None
    refusal: fs.Refusal | None = None
    #: other-socktype: the types bound at the path, as C names.
    served: tuple[str, ...] = ()
    #: The sockets the kernel's table has at the path (the ``why``'s ``sockets``).
    sockets: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        refusal = self.refusal
        return {
            "kind": self.kind,
            "message": self.message,
            "path": self.path,
            "refused": None if refusal is None else {
                "path": refusal.path,
                "type": fs.kind_of(refusal.mode),
                "mode": f"{stat.S_IMODE(refusal.mode):04o}",
                "uid": refusal.uid,
                "gid": refusal.gid,
                "need": refusal.need,
                "class": refusal.access_class,
                "acl": refusal.acl,
            },
            "served": list(self.served),
            "sockets": list(self.sockets),
            "route": None,
        }


def _who(creds: fs.Credentials) -> str:
    others = sorted(creds.groups - {creds.gid})
    groups = ", ".join(fs.group_name(g) for g in [creds.gid, *others])
    return f"uid {fs.user_name(creds.uid)} (groups {groups})"


def _bits(need: str) -> str:
    return {"search": "x", "write": "w", "write and search": "wx"}.get(need, need)


def _permission(address: UnixAddress, creds: fs.Credentials, creating: bool) -> Diagnosis:
    walked = fs.walk(address.name, creds, creating=creating)
    refusal = walked.refusal
    if refusal is None:
        # The modes allow it: something netprobe does not model refused.
        need = "create it" if creating else "write it"
        return Diagnosis("permission", f"the modes of {address.name} and its directories "
                         f"let {_who(creds)} {need}: a POSIX ACL or a security module "
                         f"(AppArmor, SELinux, Landlock) refused", address.name)
    acl = " (it has a POSIX ACL: its group bits are the ACL's mask)" if refusal.acl else ""
    message = (f"{refusal.path} ({stat.filemode(refusal.mode)} "
               f"{fs.owner_text(refusal.uid, refusal.gid)}) refuses {refusal.need} to "
               f"{_who(creds)}: its {refusal.access_class} class lacks "
               f"{_bits(refusal.need)}{acl}")
    return Diagnosis("permission", message, refusal.path, refusal)


def _missing(address: UnixAddress, creds: fs.Credentials, creating: bool) -> Diagnosis:
    walked = fs.walk(address.name, creds, creating=creating)
    if walked.outcome == "missing":
        parent = os.path.dirname(walked.path) or "."
        if walked.final:
            message = f"{walked.path} does not exist (the directory {parent} does)"
        else:
            message = f"the directory {walked.path} does not exist ({parent} does)"
        return Diagnosis("no-such-file", message, walked.path)
    if walked.outcome == "not-a-directory":
        kind = fs.kind_of(walked.stat.st_mode) if walked.stat else "file"
        return Diagnosis("no-such-file", f"{walked.path} is a {kind}, not a directory",
                         walked.path)
    if walked.outcome == "loop":
        return Diagnosis("no-such-file", f"too many symbolic links at {walked.path}",
                         walked.path)
    if walked.outcome == "found":
        return Diagnosis("no-such-file", f"{address.name} exists now (it did not at the "
                         "call: created since)", address.name)
    return Diagnosis(None, f"{walked.path} could not be looked at", walked.path)


def _clock_time(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def describe_file(path: str, found: os.stat_result) -> str:
    """``srwxr-xr-x root:root, modified 2026-12-01 22:10:01``: what ``ls -l`` would say of it."""
    return (f"{stat.filemode(found.st_mode)} {fs.owner_text(found.st_uid, found.st_gid)}, "
            f"modified {_clock_time(found.st_mtime)}")


def _refused_connection(address: UnixAddress) -> Diagnosis:
    if address.abstract:
        return Diagnosis("no-listener", f"nothing is bound to the abstract name {address.text}")
    try:
        found = os.stat(address.name)
    except OSError as exc:
        return Diagnosis(None, f"{address.name}: {exc.strerror}", address.name)
    if stat.S_ISSOCK(found.st_mode):
        return Diagnosis("stale", f"{address.name} is a stale socket file: nothing listens on it "
                         f"({describe_file(address.name, found)})", address.name)
    return Diagnosis("not-a-socket", f"{address.name} is a {fs.kind_of(found.st_mode)}, "
                     "not a socket", address.name)


def _other_socktype(address: UnixAddress, socktype: str) -> Diagnosis:
    bound = table.bound_at(address.text)
    served = sorted({str(b["socktype"]) for b in bound} - {socktype})
    if not served:
        return Diagnosis("other-socktype", f"{address.text} is served by a socket of "
                         f"another type than {socktype}", address.name)
    hints = ", ".join(f"{name} ({_TYPE_OPTIONS.get(name, '?')})" for name in served)
    return Diagnosis("other-socktype", f"{address.text} is served by {hints}, not "
                     f"{socktype}: {table.holders(bound)}", address.name, served=tuple(served),
                     sockets=tuple(bound))


def connect_failure(address: UnixAddress, number: int, socktype: str,
                    creds: fs.Credentials | None = None) -> Diagnosis:
    """Why connect() (or sendto()) to ``address`` failed with ``number``."""
    creds = creds or fs.Credentials.current()
    if number in (errno_module.ENOENT, errno_module.ENOTDIR, errno_module.ELOOP):
        return _missing(address, creds, creating=False)
    if number in (errno_module.EACCES, errno_module.EPERM):
        return _permission(address, creds, creating=False)
    if number == errno_module.ECONNREFUSED:
        return _refused_connection(address)
    if number == errno_module.EPROTOTYPE:
        return _other_socktype(address, socktype)
    if number in (errno_module.EAGAIN, errno_module.ETIMEDOUT):
        return Diagnosis("queue-full", f"the accept queue of {address.text} is full: its "
                         "server is not calling accept()", address.name)
    return Diagnosis(None, os.strerror(number), address.name)


def bind_failure(address: UnixAddress, number: int,
                 creds: fs.Credentials | None = None) -> Diagnosis:
    """Why bind() of ``address`` failed with ``number`` (EADDRINUSE: see ``socketfile``)."""
    creds = creds or fs.Credentials.current()
    if number in (errno_module.ENOENT, errno_module.ENOTDIR, errno_module.ELOOP):
        return _missing(address, creds, creating=True)
    if number in (errno_module.EACCES, errno_module.EPERM):
        return _permission(address, creds, creating=True)
    return Diagnosis(None, os.strerror(number), address.name)


def attempt_why(candidate: Any, errno_name: str) -> dict[str, Any] | None:
    """The ``why`` of a failed attempt at the Unix candidate (``connect``, ``check``,
    probes), called by ``netprobe.kernel.why`` for AF_UNIX with the errno's name.

    The shape of the kernel's side (``kind``, ``message``, ``sockets``,
    ``route``: none for a path) with the file system's details added.
    """
    from netprobe.constants import socktype_name

    number = getattr(errno_module, errno_name, None)
    if not isinstance(number, int):
        return None
    found = connect_failure(candidate.unix, number, str(socktype_name(candidate.socktype)))
    return found.to_json()
