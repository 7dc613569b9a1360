"""The policy tables getaddrinfo sorts with, and /etc/gai.conf replacing them.

glibc's destination address sorting (``rfc3484_sort`` in
sysdeps/posix/getaddrinfo.c) looks addresses up in three tables: the
precedence and label tables (IPv6 prefixes, IPv4 as ``::ffff:a.b.c.d``)
and the IPv4 scope table.  The defaults below are glibc's, which are
RFC 3484's with glibc's own changes (site-local fec0::/10 and ULA fc00::/7
get labels of their own, Teredo 2001::/32 too) and *not* RFC 6724's: there
is no precedence for ULA or Teredo, and IPv4 private ranges are global
scope (14).  Only 169.254/16 and 127/8 are link-local in the IPv4 scope
table.

/etc/gai.conf replaces a whole table as soon as it has one valid line of
that kind (``label``, ``precedence``, ``scopev4``); glibc appends a catch-all
entry (label 1, precedence 40, scope 14) unless the file gave one, then
sorts the entries most specific first, keeping the file's order among
equals (its qsort is a stable merge sort).  The parser below follows
``gaiconf_init`` and ``add_prefixlist`` down to their quirks, because the
point is to predict what glibc does with the file as it is:

* ``#`` starts a comment anywhere on a line; words are split on whitespace.
* Numbers are read as ``strtoul`` reads them: leading blanks and a sign are
  accepted, an empty value is 0 (``precedence ::1/128`` with no value sets
  precedence 0), a negative value wraps around and is then out of range.
* A prefix without ``/bits`` is a host route (128 bits; 32 for scopev4 in
  IPv4 form).  (glibc reads an uninitialised pointer in that case; on every
  build we know it behaves as 128.)
* An invalid line is skipped, nothing else changes: reported here.
"""

from __future__ import annotations

import ipaddress
import socket

from netprobe.events import Fields
from netprobe.explain.problems import Problem, read_lines
from netprobe.record import Record, field

GAI_CONF = "/etc/gai.conf"

_ULONG_MAX = 2**64 - 1
_INT_MAX = 2**31 - 1
_V4MAPPED = 0xFFFF << 32


class PrefixEntry(Record):
    """One row of the label or precedence table: an IPv6 prefix and its value."""

    __slots__ = ()
    _fields = ("prefix", "bits", "value")
    prefix: int = field(0)  # the 128-bit address, as an integer
    bits: int = field(1)
    value: int = field(2)

    def __new__(cls, prefix: int, bits: int, value: int) -> PrefixEntry:
        return tuple.__new__(cls, (prefix, bits, value))

    def matches(self, address: int) -> bool:
        if self.bits == 0:
            return True
        shift = 128 - self.bits
        return address >> shift == self.prefix >> shift

    def text(self) -> str:
        return f"{ipaddress.IPv6Address(self.prefix)}/{self.bits}"


class ScopeEntry(Record):
    """One row of the IPv4 scope table: a network (host order) and its scope."""

    __slots__ = ()
    _fields = ("network", "netmask", "scope")
    network: int = field(0)
    netmask: int = field(1)
    scope: int = field(2)

    def __new__(cls, network: int, netmask: int, scope: int) -> ScopeEntry:
        return tuple.__new__(cls, (network, netmask, scope))

    def matches(self, address: int) -> bool:
        return address & self.netmask == self.network

    def text(self) -> str:
        bits = bin(self.netmask).count("1")
        return f"{ipaddress.IPv4Address(self.network)}/{bits}"


def _v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


#: glibc's default label table (getaddrinfo.c ``default_labels``), in its order.
DEFAULT_LABELS: tuple[PrefixEntry, ...] = (
    PrefixEntry(_v6("::1"), 128, 0),
    PrefixEntry(_v6("2002::"), 16, 2),
    PrefixEntry(_v6("::"), 96, 3),
    PrefixEntry(_v6("::ffff:0:0"), 96, 4),
    PrefixEntry(_v6("fec0::"), 10, 5),
    PrefixEntry(_v6("fc00::"), 7, 6),
    PrefixEntry(_v6("2001::"), 32, 7),
    PrefixEntry(_v6("::"), 0, 1),
)
#: glibc's default precedence table (``default_precedence``).
DEFAULT_PRECEDENCE: tuple[PrefixEntry, ...] = (
    PrefixEntry(_v6("::1"), 128, 50),
    PrefixEntry(_v6("2002::"), 16, 30),
    PrefixEntry(_v6("::"), 96, 20),
    PrefixEntry(_v6("::ffff:0:0"), 96, 10),
    PrefixEntry(_v6("::"), 0, 40),
)
#: glibc's default IPv4 scope table (``default_scopes``).
DEFAULT_SCOPES: tuple[ScopeEntry, ...] = (
    ScopeEntry(0xA9FE0000, 0xFFFF0000, 2),
    ScopeEntry(0x7F000000, 0xFF000000, 2),
    ScopeEntry(0, 0, 14),
)


class Policy(Record):
    """The three tables in force, and whether each came from gai.conf."""

    __slots__ = ()
    _fields = ("labels", "precedence", "scopes", "from_file")
    labels: tuple[PrefixEntry, ...] = field(0)
    precedence: tuple[PrefixEntry, ...] = field(1)
    scopes: tuple[ScopeEntry, ...] = field(2)
    from_file: tuple[str, ...] = field(3)

    def __new__(cls, labels: tuple[PrefixEntry, ...] = DEFAULT_LABELS, precedence:
                tuple[PrefixEntry, ...] = DEFAULT_PRECEDENCE, scopes: tuple[ScopeEntry, ...] =
                DEFAULT_SCOPES, from_file: tuple[str, ...] = ()) -> Policy:
        return tuple.__new__(cls, (labels, precedence, scopes, from_file))

    def label(self, address: int) -> int:
        return next(e.value for e in self.labels if e.matches(address))

    def precedence_of(self, address: int) -> int:
        return next(e.value for e in self.precedence if e.matches(address))

    def scope_v4(self, address: int) -> int:
        # The catch-all entry (netmask 0) is always there, so this finds one.
        return next(e.scope for e in self.scopes if e.matches(address))

    def to_json(self) -> list[Fields]:
        """The SPEC's ``policy``: prefix, precedence, label, one row per prefix.

        The two tables have different prefixes; a row holds, for each table,
        its entry for that prefix, or else the entry that covers the whole
        prefix (the most specific one no longer than it), so the table reads
        like ip6addrctl's.
        """
        rows: list[Fields] = []
        seen: set[tuple[int, int]] = set()
        for entry in sorted((*self.precedence, *self.labels), key=lambda e: -e.bits):
            if (entry.prefix, entry.bits) in seen:
                continue
            seen.add((entry.prefix, entry.bits))
            rows.append({
                "prefix": entry.text(),
                "precedence": _covering(self.precedence, entry),
                "label": _covering(self.labels, entry),
            })
        return rows

    def scopes_json(self) -> list[Fields]:
        return [{"prefix": e.text(), "scope": e.scope} for e in self.scopes]


def _covering(table: tuple[PrefixEntry, ...], entry: PrefixEntry) -> int:
    return next(e.value for e in table if e.bits <= entry.bits and e.matches(entry.prefix))


def _strtoul(text: str) -> tuple[int, str] | None:
    """C's strtoul(text, &end, 10): (value, the rest), None on ERANGE.

    No digits: (0, text) -- the caller's ``*end == '\\0'`` test then decides.
    """
    stripped = text.lstrip(" \t\n\v\f\r")
    sign = 1
    body = stripped
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    digits = len(body) - len(body.lstrip("0123456789"))
    if digits == 0:
        return 0, text
    value = int(body[:digits])
    if value > _ULONG_MAX:
        return None
    if sign < 0:
        value = (-value) % (_ULONG_MAX + 1)
    return value, body[digits:]


def _number(text: str, limit: int) -> int | None:
    """A whole-word strtoul value no larger than ``limit``, else None."""
    parsed = _strtoul(text)
    if parsed is None or parsed[1] != "" or parsed[0] > limit:
        return None
    return parsed[0]


def _inet_pton6(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def _inet_pton4(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        return None


def _prefix_entry(value1: str, value2: str) -> PrefixEntry | str:
    """A ``label``/``precedence`` line's entry, or why glibc skips it."""
    address_text, slash, bits_text = value1.partition("/")
    prefix = _inet_pton6(address_text)
    if prefix is None:
        return f"{address_text!r} is not an IPv6 address"
    bits = _number(bits_text, 128) if slash else 128
    if bits is None:
        return f"prefix length {bits_text!r} is not a number 0-128"
    value = _number(value2, _INT_MAX)
    if value is None:
        return f"value {value2!r} is not a number 0-{_INT_MAX}"
    return PrefixEntry(prefix, bits, value)


def _scope_entry(value1: str, value2: str) -> ScopeEntry | str:
    """A ``scopev4`` line's entry (IPv4 or ``::ffff:a.b.c.d`` form), or why it is skipped."""
    address_text, slash, bits_text = value1.partition("/")
    mapped = _inet_pton6(address_text)
    if mapped is not None:
        if mapped >> 32 != 0xFFFF:
            return f"{address_text!r} is not an IPv4-mapped address (::ffff:a.b.c.d)"
        bits = _number(bits_text, 128) if slash else 128
        if bits is None or bits < 96:
            return f"prefix length {bits_text!r} is not a number 96-128"
        address = mapped & 0xFFFFFFFF
    else:
        v4 = _inet_pton4(address_text)
        if v4 is None:
            return f"{address_text!r} is not an IPv4 address"
        v4_bits = _number(bits_text, 32) if slash else 32
        if v4_bits is None:
            return f"prefix length {bits_text!r} is not a number 0-32"
        bits, address = v4_bits + 96, v4
    value = _number(value2, _INT_MAX)
    if value is None:
        return f"value {value2!r} is not a number 0-{_INT_MAX}"
    netmask = 0 if bits == 96 else (0xFFFFFFFF << (128 - bits)) & 0xFFFFFFFF
    return ScopeEntry(address & netmask, netmask, value)


def _stable_most_specific_first(entries: list[PrefixEntry]) -> tuple[PrefixEntry, ...]:
    return tuple(sorted(entries, key=lambda e: -e.bits))


def read_gai_conf(path: str = GAI_CONF,
                  problems: list[Problem] | None = None) -> Policy:
    """The policy glibc builds from ``path`` (its defaults when absent or empty)."""
    problems = problems if problems is not None else []
    lines = read_lines(path, problems)
    if lines is None:
        return Policy()
    labels: list[PrefixEntry] = []
    precedence: list[PrefixEntry] = []
    scopes: list[ScopeEntry] = []
    for number, raw in enumerate(lines, 1):
        words = raw.partition("#")[0].split()
        if not words:
            continue
        command = words[0]
        value1 = words[1] if len(words) > 1 else ""
        value2 = words[2] if len(words) > 2 else ""
        if command in ("label", "precedence"):
            entry = _prefix_entry(value1, value2)
            if isinstance(entry, str):
                problems.append(Problem(path, number, f"{command}: {entry}; line skipped"))
            else:
                (labels if command == "label" else precedence).append(entry)
        elif command == "scopev4":
            scope = _scope_entry(value1, value2)
            if isinstance(scope, str):
                problems.append(Problem(path, number, f"scopev4: {scope}; line skipped"))
            else:
                scopes.append(scope)
        elif command != "reload":
            problems.append(Problem(path, number, f"unknown keyword {command!r}; line skipped"))
    from_file: list[str] = []
    policy = Policy()
    if labels:
        if not any(e.bits == 0 for e in labels):
            labels.append(PrefixEntry(0, 0, 1))
        policy = policy._replace(labels=_stable_most_specific_first(labels))
        from_file.append("label")
    if precedence:
        if not any(e.bits == 0 for e in precedence):
            precedence.append(PrefixEntry(0, 0, 40))
        policy = policy._replace(precedence=_stable_most_specific_first(precedence))
        from_file.append("precedence")
    if scopes:
        if not any(e.netmask == 0 for e in scopes):
            scopes.append(ScopeEntry(0, 0, 14))
        # glibc compares the byte-swapped netmasks; for prefix masks that
        # is the same order as their length, longest first (stable).
        ordered = sorted(scopes, key=lambda e: -bin(e.netmask).count("1"))
        policy = policy._replace(scopes=tuple(ordered))
        from_file.append("scopev4")
    return policy._replace(from_file=tuple(from_file))
