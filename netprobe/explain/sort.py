"""glibc's destination address sorting (``rfc3484_sort``), rule by rule, as a pure function.

getaddrinfo sorts its answer when it has more than one address.  Each
destination gets the source address the kernel would use for it (a UDP
connect + getsockname: no packet is sent), then the list is sorted by a
comparison that walks rules 1 to 10 and stops at the first that tells two
destinations apart.  The comparison here is glibc's, rule for rule, and
each call returns *which* rule decided and the values it compared, so the
explanation can say "rule 6: precedence 40 > 10".

Design decisions:

* The comparison is applied exactly where glibc applies it: per list entry
  (an address appears once per socket type), rule 10 comparing positions
  in the list as the sources returned it.  glibc's comparison is not
  always a strict order (rule 9 compares only destinations of one family,
  rule 10 orders everything else by position), so *how* the sort calls it
  matters: the sort below is glibc's qsort as built on this machine (a
  top-down merge sort taking the left element on ties, ``msort.c``), not
  Python's sorted(), and gives the same order even then.
* Sources are probed per destination here and cached: glibc reuses one
  socket, which gives the same addresses.
* What glibc knows about source addresses from rtnetlink (flags, prefix
  length, interface) comes from ``addrconfig``; only rule 3, 4, 7 and the
  IPv4 part of rule 9 use it.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections.abc import Callable, Sequence

from netprobe import syscalls
from netprobe.events import Fields, Trace, no_trace
from netprobe.explain.addrconfig import (
    IFA_F_DEPRECATED,
    IFA_F_HOMEADDRESS,
    IFA_F_OPTIMISTIC,
    InterfaceAddress,
    interface_is_native,
)
from netprobe.explain.gaiconf import Policy
from netprobe.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")

_V4MAPPED = 0xFFFF << 32
_UNKNOWN_INDEX = 0xFFFFFFFF


class Address(Record):
    """An IPv4 (32-bit) or IPv6 (128-bit) address."""

    __slots__ = ()
    _fields = ("family", "value")
    family: int = field(0)
    value: int = field(1)

    def __new__(cls, family: int, value: int) -> Address:
        return tuple.__new__(cls, (family, value))

    @classmethod
    def parse(cls, text: str) -> Address:
        ip = ipaddress.ip_address(text.partition("%")[0])
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        return cls(family, int(ip))

    @property
    def as_v6(self) -> int:
        """The 128-bit form the label and precedence tables use."""
        return self.value | _V4MAPPED if self.family == socket.AF_INET else self.value

    def text(self) -> str:
        """As the C library prints it (``::ffff:192.0.2.1``, not ``::ffff:c000:201``)."""
        size = 4 if self.family == socket.AF_INET else 16
        return socket.inet_ntop(self.family, self.value.to_bytes(size, "big"))


class Destination(Record):
    """One getaddrinfo entry as the sort sees it."""

    __slots__ = ()
    _fields = ("position", "address", "source", "deprecated", "home", "prefixlen", "ifindex",
               "native", "rank")
    position: int = field(0)  # index in the unsorted list (rule 10)
    address: Address = field(1)
    source: Address | None = field(2)  # None: no route (rule 1)
    deprecated: bool = field(3)
    home: bool = field(4)
    prefixlen: int = field(5)
    ifindex: int = field(6)
    native: bool = field(7)
    #: Which address of the sources' list this is (entries of one address share it).
    rank: int = field(8)

    def __new__(cls, position: int, address: Address, source: Address | None, deprecated: bool =
                False, home: bool = False, prefixlen: int = 0, ifindex: int = _UNKNOWN_INDEX,
                native: bool = False, rank: int = 0) -> Destination:
        return tuple.__new__(cls, (position, address, source, deprecated, home, prefixlen, ifindex,
                                   native, rank))


class Decision(Record):
    """How one comparison was decided: -1 (first goes first) or 1, by which rule, why."""

    __slots__ = ()
    _fields = ("result", "rule", "why")
    result: int = field(0)
    rule: int = field(1)
    why: str = field(2)

    def __new__(cls, result: int, rule: int, why: str) -> Decision:
        return tuple.__new__(cls, (result, rule, why))


def scope(address: Address, policy: Policy) -> int:
    """glibc's get_scope: IPv6 from the address type, IPv4 from the scope table."""
    if address.family == socket.AF_INET:
        return policy.scope_v4(address.value)
    value = address.value
    if value >> 120 == 0xFF:  # multicast: the scope nibble
        return (value >> 112) & 0xF
    if value >> 118 == 0xFE80 >> 6 or value == 1:  # link-local fe80::/10, and ::1
        return 2
    if value >> 118 == 0xFEC0 >> 6:  # site-local fec0::/10
        return 5
    return 14


def _leading_zeros(word: int) -> int:
    """glibc's ``fls`` (despite the name: leading zero bits of a 32-bit word, 32 for 0)."""
    return 32 - word.bit_length()


def _common_bits(first: Destination, second: Destination) -> tuple[int, int]:
    """Rule 9's values for two destinations of one family (glibc's arithmetic)."""
    assert first.source is not None and second.source is not None
    if first.address.family == socket.AF_INET:
        values = []
        for dest in (first, second):
            assert dest.source is not None
            # Only within the source's own subnet; prefix length 0 shifts
            # by 32, which x86 reduces to a shift by 0: a /32 mask.
            mask = (0xFFFFFFFF << ((32 - dest.prefixlen) % 32)) & 0xFFFFFFFF
            same_subnet = dest.source.value & mask == dest.address.value & mask
            values.append(_leading_zeros(dest.address.value ^ dest.source.value)
                          if same_subnet else 0)
        return values[0], values[1]
    # IPv6: the first 32-bit word where either pair differs decides both.
    for word in range(4):
        shift = 96 - 32 * word
        d1 = (first.address.value >> shift) & 0xFFFFFFFF
        s1 = (first.source.value >> shift) & 0xFFFFFFFF
        d2 = (second.address.value >> shift) & 0xFFFFFFFF
        s2 = (second.source.value >> shift) & 0xFFFFFFFF
        if d1 != s1 or d2 != s2:
            return _leading_zeros(d1 ^ s1) + 32 * word, _leading_zeros(d2 ^ s2) + 32 * word
    return 0, 0


def _prefer(first_wins: bool, rule: int, why: str) -> Decision:
    return Decision(-1 if first_wins else 1, rule, why)


def compare(a: Destination, b: Destination, policy: Policy) -> Decision:
    """glibc's rfc3484_sort for two entries, with the rule that decided."""
    # Rule 1: avoid unusable destinations (no source address: no route).
    if (a.source is None) != (b.source is None):
        return _prefer(a.source is not None, 1,
                       "no route to " + (b if a.source is not None else a).address.text())
    has_source = a.source is not None
    a_dst_scope, b_dst_scope = scope(a.address, policy), scope(b.address, policy)
    # Rule 2: prefer matching scope.
    if has_source:
        assert a.source is not None and b.source is not None
        a_src_scope, b_src_scope = scope(a.source, policy), scope(b.source, policy)
        a_match, b_match = a_dst_scope == a_src_scope, b_dst_scope == b_src_scope
        if a_match != b_match:
            return _prefer(a_match, 2,
                           f"scope {a_dst_scope} {'=' if a_match else '!='} source's "
                           f"{a_src_scope} vs {b_dst_scope} {'=' if b_match else '!='} "
                           f"{b_src_scope}")
        # Rule 3: avoid deprecated addresses.
        if a.deprecated != b.deprecated:
            return _prefer(not a.deprecated, 3, "source address deprecated: "
                           f"{'yes' if a.deprecated else 'no'} vs "
                           f"{'yes' if b.deprecated else 'no'}")
        # Rule 4: prefer home addresses.
        if a.home != b.home:
            return _prefer(a.home, 4, f"home address: {'yes' if a.home else 'no'} vs "
                           f"{'yes' if b.home else 'no'}")
        # Rule 5: prefer matching label.
        a_label, a_src_label = policy.label(a.address.as_v6), policy.label(a.source.as_v6)
        b_label, b_src_label = policy.label(b.address.as_v6), policy.label(b.source.as_v6)
        a_match, b_match = a_label == a_src_label, b_label == b_src_label
        if a_match != b_match:
            return _prefer(a_match, 5,
                           f"label {a_label} {'=' if a_match else '!='} source's "
                           f"{a_src_label} vs {b_label} {'=' if b_match else '!='} "
                           f"{b_src_label}")
    # Rule 6: prefer higher precedence.
    a_prec, b_prec = policy.precedence_of(a.address.as_v6), policy.precedence_of(b.address.as_v6)
    if a_prec != b_prec:
        return _prefer(a_prec > b_prec, 6,
                       f"precedence {a_prec} {'>' if a_prec > b_prec else '<'} {b_prec}")
    # Rule 7: prefer native transport (only between different interfaces).
    if has_source and a.ifindex != b.ifindex and a.native != b.native:
        return _prefer(a.native, 7, f"native interface: {'yes' if a.native else 'no'} vs "
                       f"{'yes' if b.native else 'no'}")
    # Rule 8: prefer smaller scope.
    if a_dst_scope != b_dst_scope:
        return _prefer(a_dst_scope < b_dst_scope, 8,
                       f"scope {a_dst_scope} {'<' if a_dst_scope < b_dst_scope else '>'} "
                       f"{b_dst_scope}")
    # Rule 9: longest matching prefix (same family only).
    if has_source and a.address.family == b.address.family:
        a_bits, b_bits = _common_bits(a, b)
        if a_bits != b_bits:
            return _prefer(a_bits > b_bits, 9,
                           f"common prefix with the source {a_bits} "
                           f"{'>' if a_bits > b_bits else '<'} {b_bits} bits")
    # Rule 10: leave the order unchanged.
    earlier = a.position < b.position
    return _prefer(earlier, 10,
                   f"the order the sources gave: #{a.rank} {'<' if earlier else '>'} #{b.rank}")


def merge_sort(items: Sequence[T], before_or_equal: Callable[[T, T], bool]) -> list[T]:
    """glibc 2.36 qsort (``msort_with_tmp``): split n/2, sort halves, merge, left on ties."""
    if len(items) <= 1:
        return list(items)
    half = len(items) // 2
    left = merge_sort(items[:half], before_or_equal)
    right = merge_sort(items[half:], before_or_equal)
    merged: list[T] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if before_or_equal(left[i], right[j]):
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


def sort_destinations(destinations: Sequence[Destination], policy: Policy) -> list[Destination]:
    return merge_sort(destinations, lambda a, b: compare(a, b, policy).result <= 0)


def decisions(ordered: Sequence[Destination], policy: Policy) -> list[Fields]:
    """For each neighbouring pair of the final order, the rule that keeps them so."""
    result: list[Fields] = []
    for first, second in itertools.pairwise(ordered):
        if first.address == second.address:
            continue  # the same address for another socket type: nothing to explain
        decision = compare(first, second, policy)
        result.append({"first": first.address.text(), "second": second.address.text(),
                       "rule": decision.rule, "why": decision.why})
    return result


# --- source addresses -------------------------------------------------------------------


def probe_source(address: Address, trace: Trace = no_trace) -> Address | None:
    """The source address the kernel picks for ``address``: UDP connect + getsockname.

    Nothing is sent: connecting a UDP socket only chooses the route.  None
    when there is no route (ENETUNREACH and friends), as glibc's rule 1 sees it.
    """
    # Through the wrappers (--syscalls shows them).  The protocol is named
    # (IPPROTO_UDP where glibc's sorting passes 0: the same socket) so
    # strace tells netprobe's probes from the library's.
    try:
        sock = syscalls.sys_socket(trace, address.family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    except OSError:
        return None
    try:
        destination: tuple[str, int] | tuple[str, int, int, int] = (
            (address.text(), 9) if address.family == socket.AF_INET
            else (address.text(), 9, 0, 0))
        if syscalls.sys_connect_ex(trace, sock, destination):
            return None
        return Address.parse(str(syscalls.sys_getsockname(trace, sock)[0]))
    except OSError:
        return None
    finally:
        syscalls.sys_close(trace, sock)


def destinations(addresses: Sequence[Address], known: dict[int, InterfaceAddress],
                 probe: Callable[[Address], Address | None] = probe_source, *,
                 entries_per_address: int = 1) -> list[Destination]:
    """Each entry with its source and what rtnetlink says about that source.

    ``known`` is glibc's in6ai table (``Interfaces.for_sorting``).  glibc
    looks an IPv4 source up under ::ffff:127.0.0.1 when it is any 127/8
    address and its probing socket is IPv4, i.e. when no IPv6 entry came
    before; after an IPv6 entry its socket is IPv6 and the source is looked
    up as the mapped address itself.  ``entries_per_address``: the entries
    getaddrinfo made of each address (one per socket type), in a row, so
    that an entry's rank is the place of its address in the sources' list.
    """
    sources: dict[Address, Address | None] = {}
    socket_is_v6 = False
    result: list[Destination] = []
    native_of: dict[int, bool] = {}
    for position, address in enumerate(addresses):
        rank = position // entries_per_address
        if address.family == socket.AF_INET6:
            socket_is_v6 = True
        if address not in sources:
            sources[address] = probe(address)
        source = sources[address]
        if source is None:
            result.append(Destination(position, address, None, rank=rank))
            continue
        key = source.as_v6
        if source.family == socket.AF_INET and not socket_is_v6 and source.value >> 24 == 127:
            key = 0x7F000001 | _V4MAPPED
        info = known.get(key)
        if info is None:
            result.append(Destination(position, address, source, rank=rank))
            continue
        if info.ifindex not in native_of:
            native_of[info.ifindex] = interface_is_native(info.ifindex)
        result.append(Destination(
            position, address, source,
            deprecated=bool(info.flags & (IFA_F_DEPRECATED | IFA_F_OPTIMISTIC)),
            home=bool(info.flags & IFA_F_HOMEADDRESS),
            prefixlen=info.prefixlen, ifindex=info.ifindex, native=native_of[info.ifindex],
            rank=rank,
        ))
    return result
