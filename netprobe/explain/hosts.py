"""/etc/hosts and /etc/host.conf, read as glibc's ``files`` module reads them.

Rules kept from nss/nss_files/files-hosts.c and files-parse.c:

* ``#`` ends a line anywhere; fields are separated by blanks; the first is
  the address, the second the canonical name, the rest aliases.  Names
  match case-insensitively (strcasecmp), the canonical name or any alias.
* The address is parsed with inet_pton for the family asked: for AF_INET
  an IPv6 line counts only when it is ``::ffff:a.b.c.d`` (as that IPv4
  address) or ``::1`` (as 127.0.0.1!); for AF_INET6 only IPv6 lines count;
  for both (AF_UNSPEC, getaddrinfo's usual call) either form.  A line whose
  address does not parse is skipped (reported here).
* Without ``multi on`` in /etc/host.conf (or RESOLV_MULTI=on), the lookup
  stops at the *first* matching line: a second line for the same name is
  never read.  With it, every matching line counts, in file order.
  Debian and most distributions ship ``multi on``.
* A missing or unreadable hosts file makes the source UNAVAIL.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from netprobe.events import Fields
from netprobe.explain.problems import Problem, read_lines
from netprobe.record import Record, field

HOSTS = "/etc/hosts"
HOST_CONF = "/etc/host.conf"

_LOOPBACK6 = b"\x00" * 15 + b"\x01"
#: The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d).
MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


class HostsLine(Record):
    """One usable line of the hosts file."""

    __slots__ = ()
    _fields = ("path", "line", "address_text", "names")
    path: str = field(0)
    line: int = field(1)
    address_text: str = field(2)  # as written
    names: list[str] = field(3)  # canonical name first

    def __new__(cls, path: str, line: int, address_text: str, names: list[str]) -> HostsLine:
        return tuple.__new__(cls, (path, line, address_text, names))

    def to_json(self, address: str | None = None) -> Fields:
        return {"path": self.path, "line": self.line,
                "address": address if address is not None else self.address_text,
                "names": self.names}


class HostsFile(Record):
    __slots__ = ()
    _fields = ("path", "lines", "readable")
    path: str = field(0)
    lines: list[HostsLine] = field(1)
    readable: bool = field(2)

    def __new__(cls, path: str, lines: list[HostsLine], readable: bool) -> HostsFile:
        return tuple.__new__(cls, (path, lines, readable))


def read_hosts(path: str = HOSTS, problems: list[Problem] | None = None) -> HostsFile:
    problems = problems if problems is not None else []
    raw = read_lines(path, problems)
    if raw is None:
        return HostsFile(path, [], False)
    lines: list[HostsLine] = []
    for number, text in enumerate(raw, 1):
        fields = text.partition("#")[0].split()
        if not fields:
            continue
        if _parse(fields[0], socket.AF_UNSPEC) is None:
            problems.append(Problem(path, number, f"{fields[0]!r} is not an IPv4 or IPv6 "
                                    "address; line skipped"))
            continue
        lines.append(HostsLine(path, number, fields[0], fields[1:]))
    return HostsFile(path, lines, True)


def _pton(family: int, text: str) -> bytes | None:
    try:
        return socket.inet_pton(family, text)
    except (OSError, ValueError):
        return None


def _parse(text: str, family: int) -> tuple[int, bytes] | None:
    """The (family, packed address) a line yields under ``family``, None if skipped."""
    if family in (socket.AF_INET, socket.AF_UNSPEC):
        packed4 = _pton(socket.AF_INET, text)
        if packed4 is not None:
            return socket.AF_INET, packed4
    packed = _pton(socket.AF_INET6, text)
    if packed is None:
        return None
    if family == socket.AF_INET:
        if packed.startswith(MAPPED_PREFIX):
            return socket.AF_INET, packed[12:]
        if packed == _LOOPBACK6:
            return socket.AF_INET, socket.inet_aton("127.0.0.1")
        return None
    return socket.AF_INET6, packed


def fold(name: str) -> bytes:
    """strcasecmp's equality: ASCII letters fold, nothing else does."""
    return name.encode("utf-8", "surrogateescape").lower()


def address_text(family: int, packed: bytes) -> str:
    return socket.inet_ntop(family, packed)


class HostsMatch(Record):
    """A matching line and the address it gave (in the family asked)."""

    __slots__ = ()
    _fields = ("line", "family", "packed")
    line: HostsLine = field(0)
    family: int = field(1)
    packed: bytes = field(2)

    def __new__(cls, line: HostsLine, family: int, packed: bytes) -> HostsMatch:
        return tuple.__new__(cls, (line, family, packed))

    @property
    def address(self) -> str:
        return address_text(self.family, self.packed)


def lookup_name(hosts: HostsFile, name: str, family: int, multi: bool) -> list[HostsMatch]:
    """The lines getaddrinfo's ``files`` lookup uses for ``name``, in order."""
    wanted = fold(name)
    matches: list[HostsMatch] = []
    for line in hosts.lines:
        parsed = _parse(line.address_text, family)
        if parsed is None:
            continue
        if wanted not in (fold(n) for n in line.names):
            continue
        matches.append(HostsMatch(line, parsed[0], parsed[1]))
        if not multi:
            break
    return matches


def lookup_address(hosts: HostsFile, family: int, packed: bytes) -> HostsLine | None:
    """The first line naming this address (gethostbyaddr's ``files``), None if none."""
    for line in hosts.lines:
        parsed = _parse(line.address_text, family)
        if parsed is not None and parsed[1] == packed and line.names:
            return line
    return None


def read_host_conf(path: str = HOST_CONF, problems: list[Problem] | None = None,
                   environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``multi`` is on (res_hconf.c: host.conf, then RESOLV_MULTI)."""
    problems = problems if problems is not None else []
    environ = os.environ if environ is None else environ
    multi = False
    for number, text in enumerate(read_lines(path, problems) or [], 1):
        words = text.partition("#")[0].replace(",", " ").split()
        if not words:
            continue
        if words[0].lower() == "multi":
            value = words[1].lower() if len(words) > 1 else ""
            if value in ("on", "off"):
                multi = value == "on"
            else:
                problems.append(Problem(path, number, "multi: expected on or off; ignored"))
    env = environ.get("RESOLV_MULTI")
    if env is not None and env.strip().lower() in ("on", "off"):
        multi = env.strip().lower() == "on"
    return multi
