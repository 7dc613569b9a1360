"""What getaddrinfo should answer, phase by phase, in glibc's order.

One function per phase of glibc's getaddrinfo (sysdeps/posix/getaddrinfo.c,
2.36), each returning what it decided and the part of the explanation it
can tell:

1. ``refused_call``: the checks made before anything is read (no host and
   no service; AI_CANONNAME without a host).  A host of ``*`` is no host.
2. ``addrconfig``: AI_ADDRCONFIG may narrow AF_UNSPEC to one family, or
   fail at once.
3. ``entry_kinds_for``: the service and glibc's socket-type table give the
   kinds of entry made for each address (``entries``), or fail.
4. ``host_addresses``: the host's addresses: none given (the loopback or,
   with AI_PASSIVE, the wildcard addresses), a numeric one (no source is
   asked), or what the ``hosts:`` sources found (``sources``).
5. ``kept_addresses``: IPv4-mapped answers beside real IPv6 ones are
   dropped, as ``generate_addrinfo`` does (when that drops them all, no
   entry is made and getaddrinfo fails with EAI_NONAME); each address then
   becomes one entry per kind.
6. ``order``: with more than one address, glibc's sort (``sort``) with the
   policy of /etc/gai.conf (``gaiconf``).
"""

from __future__ import annotations

import socket

from netprobe.addrinfo import Hints
from netprobe.constants import family_name
from netprobe.events import Fields
from netprobe.explain.context import Context
from netprobe.explain.entries import (
    Entry,
    Kinds,
    entry_kinds,
    expand,
    glibc_version,
    service_number,
    type_table,
)
from netprobe.explain.gaiconf import Policy, read_gai_conf
from netprobe.explain.hosts import MAPPED_PREFIX
from netprobe.explain.nsswitch import Walk
from netprobe.explain.sort import Address, decisions, destinations, probe_source, sort_destinations
from netprobe.explain.sources import sources_json, walk_name
from netprobe.inputs import numeric_address
from netprobe.record import Record, field

_LOOPBACK4 = socket.inet_aton("127.0.0.1")
_LOOPBACK6 = bytes(15) + b"\x01"


class Query(Record):
    """getaddrinfo's arguments: a NULL host or service is None."""

    __slots__ = ()
    _fields = ("host", "service", "hints")
    host: str | None = field(0)
    service: str | None = field(1)
    hints: Hints = field(2)

    def __new__(cls, host: str | None, service: str | None, hints: Hints) -> Query:
        return tuple.__new__(cls, (host, service, hints))

    @property
    def no_host(self) -> bool:
        """NULL, or ``*``, which getaddrinfo reads as NULL."""
        return self.host is None or self.host == "*"

    @property
    def service_asked(self) -> str | None:
        """The service getaddrinfo looks up (``*`` is NULL to it too)."""
        return None if self.service == "*" else self.service


class Found(Record):
    """The host's addresses (family, packed) as the lookup found them, or its failure."""

    __slots__ = ()
    _fields = ("addresses", "error", "fields", "walk")
    addresses: list[tuple[int, bytes]] = field(0)
    error: str | None = field(1)
    fields: Fields = field(2)
    walk: Walk | None = field(3)

    def __new__(cls, addresses: list[tuple[int, bytes]], error: str | None, fields: Fields, walk:
                Walk | None = None) -> Found:
        return tuple.__new__(cls, (addresses, error, fields, walk))


class Prediction(Record):
    """getaddrinfo's predicted entries in its order, or its predicted failure."""

    __slots__ = ()
    _fields = ("entries", "error", "walk", "fields")
    entries: list[Entry] = field(0)
    error: str | None = field(1)
    walk: Walk | None = field(2)
    #: The explanation's fields up to the order (``predicted`` and the verdict come after).
    fields: Fields = field(3)

    def __new__(cls, entries: list[Entry], error: str | None, walk: Walk | None,
                fields: Fields) -> Prediction:
        return tuple.__new__(cls, (entries, error, walk, fields))


def refused_call(query: Query) -> Found | None:
    """The checks getaddrinfo makes before it reads anything."""
    if query.no_host and query.service_asked is None:
        return Found([], "EAI_NONAME", {"why": "no host and no service: nothing to look up"})
    if query.no_host and query.hints.flags & socket.AI_CANONNAME:
        return Found([], "EAI_BADFLAGS", {"why": "AI_CANONNAME needs a host"})
    return None


def addrconfig(ctx: Context, hints: Hints) -> tuple[int, str | None, Fields]:
    """AI_ADDRCONFIG: the family looked up, a failure, and what the interfaces said."""
    family, flags = hints.family, hints.flags
    seen4, seen6 = ctx.interfaces.seen_ipv4, ctx.interfaces.seen_ipv6
    fields: Fields = {"applied": bool(flags & socket.AI_ADDRCONFIG), "AF_INET": seen4,
                      "AF_INET6": seen6, "counted": ctx.interfaces.to_json(),
                      "removed": [], "family": family_name(family)}
    if not flags & socket.AI_ADDRCONFIG:
        return family, None, fields
    error = None
    if family == socket.AF_UNSPEC and (seen4 or seen6) and seen4 != seen6:
        family = socket.AF_INET if seen4 else socket.AF_INET6
    elif (family == socket.AF_INET and not seen4) or (family == socket.AF_INET6
                                                       and not seen6):
        error = "EAI_NONAME"
    fields["family"] = family_name(family)
    return family, error, fields


def entry_kinds_for(query: Query) -> Kinds:
    """The service check of getaddrinfo, then ``get_servtuples`` (``entries``)."""
    service, hints = query.service_asked, query.hints
    if service is not None and hints.flags & socket.AI_NUMERICSERV \
            and service_number(service) is None:
        return Kinds([], "EAI_NONAME", f"AI_NUMERICSERV: service {service!r} is not a number")
    return entry_kinds(hints.socktype, hints.protocol, service, type_table(glibc_version()))


def numeric_host_address(host: str) -> Address | None:
    """The address a numeric host stands for (inet_aton or inet_pton), None for a name."""
    address = numeric_address(host)
    return None if address is None else Address.parse(address)


def no_host(family: int, flags: int, star: bool) -> Found:
    """A NULL host: the loopback addresses, or the wildcard ones with AI_PASSIVE."""
    passive = bool(flags & socket.AI_PASSIVE)
    why = ("the wildcard addresses (AI_PASSIVE)" if passive else "the loopback addresses")
    addresses: list[tuple[int, bytes]] = []
    if family in (socket.AF_UNSPEC, socket.AF_INET6):
        addresses.append((socket.AF_INET6, bytes(16) if passive else _LOOPBACK6))
    if family in (socket.AF_UNSPEC, socket.AF_INET):
        addresses.append((socket.AF_INET, bytes(4) if passive else _LOOPBACK4))
    return Found(addresses, None, {"why": ("host '*' is no host: " if star else "no host: ")
                                   + why})


def numeric_host(address: Address, family: int, flags: int) -> Found:
    """``text_to_binary_address``: the address itself, mapped or refused for the family."""
    packed = address.value.to_bytes(4 if address.family == socket.AF_INET else 16, "big")
    fields: Fields = {"numeric": True}
    if address.family == socket.AF_INET:
        if family in (socket.AF_UNSPEC, socket.AF_INET):
            return Found([(socket.AF_INET, packed)], None, fields)
        if flags & socket.AI_V4MAPPED:
            return Found([(socket.AF_INET6, MAPPED_PREFIX + packed)], None, fields)
    elif family in (socket.AF_UNSPEC, socket.AF_INET6):
        return Found([(socket.AF_INET6, packed)], None, fields)
    elif packed.startswith(MAPPED_PREFIX):
        return Found([(socket.AF_INET, packed[12:])], None, fields)
    return Found([], "EAI_ADDRFAMILY", fields)


def looked_up(ctx: Context, host: str, family: int, flags: int) -> Found:
    """The ``hosts:`` sources of nsswitch.conf, walked for ``host``."""
    walk = walk_name(ctx, host, family, flags)
    fields: Fields = {"sources": sources_json(walk), "walk_ended": walk.ended,
                      "not_modelled_reached": walk.assumed}
    error = None
    if ctx.config.refused or not walk.addresses:
        error = "EAI_NONAME"
        # getaddrinfo's error is the last source's h_errno (get_nss_addresses
        # resets it for each): dns can leave NO_DATA or TRY_AGAIN; files,
        # and a source netprobe does not model, leave EAI_NONAME here.
        last = next((s for s in reversed(walk.steps) if s.reached), None)
        if not ctx.config.refused and not walk.failed_with_merge and last is not None \
                and last.result is not None:
            error = last.result.evidence.get("error") or error
    return Found(list(walk.addresses), error, fields, walk)


def host_addresses(ctx: Context, query: Query, family: int) -> Found:
    """Where the addresses come from: no host, a numeric host, or the sources."""
    flags = query.hints.flags
    if query.host is None or query.no_host:
        return no_host(family, flags, star=query.host is not None)
    numeric = numeric_host_address(query.host)
    if numeric is not None:
        return numeric_host(numeric, family, flags)
    if flags & socket.AI_NUMERICHOST:
        return Found([], "EAI_NONAME", {"why": f"AI_NUMERICHOST: {query.host!r} is not a "
                                        "numeric address, so no source is asked"})
    return looked_up(ctx, query.host, family, flags)


def kept_addresses(found: Found, flags: int) -> list[tuple[int, bytes]]:
    """``generate_addrinfo``: mapped IPv4 answers go when real IPv6 ones came (no AI_ALL)."""
    if found.walk is not None and found.walk.got_ipv6 \
            and flags & (socket.AI_V4MAPPED | socket.AI_ALL) == socket.AI_V4MAPPED:
        return [(f, p) for f, p in found.addresses
                if not (f == socket.AF_INET6 and p.startswith(MAPPED_PREFIX))]
    return found.addresses


def removed_by_addrconfig(ctx: Context, query: Query, kept: list[tuple[int, bytes]]
                          ) -> list[str]:
    """The addresses the other family would have added (the sources asked without it)."""
    assert query.host is not None
    wider = walk_name(ctx, query.host, query.hints.family, query.hints.flags)
    keep = set(kept)
    return [socket.inet_ntop(f, p) for f, p in wider.addresses if (f, p) not in keep]


def order(ctx: Context, entries: list[Entry], addresses: int, per_address: int,
          policy: Policy) -> tuple[list[Entry], Fields]:
    """glibc's sort of the entries when there is more than one address, and its reasons."""
    fields: Fields = {"sources_addresses": {}, "decisions": [], "sorted": addresses > 1}
    if addresses <= 1:
        return entries, fields
    dests = destinations([entry.address for entry in entries], ctx.interfaces.for_sorting(),
                         lambda address: probe_source(address, ctx.trace),
                         entries_per_address=per_address)
    sorted_dests = sort_destinations(dests, policy)
    fields["sources_addresses"] = {
        d.address.text(): (d.source.text() if d.source else None) for d in dests}
    fields["decisions"] = decisions(sorted_dests, policy)
    return [entries[d.position] for d in sorted_dests], fields


def lookup(ctx: Context, query: Query, family: int, addrconfig_error: str | None
           ) -> tuple[Found, Kinds]:
    """Phases 1 to 4: the first failure ends the lookup, as it does in glibc."""
    refused = refused_call(query)
    if refused is not None:
        return refused, Kinds([])
    if addrconfig_error is not None:
        return Found([], addrconfig_error, {}), Kinds([])
    kinds = entry_kinds_for(query)
    if kinds.error is not None:
        return Found([], kinds.error, {"why": kinds.why}), kinds
    return host_addresses(ctx, query, family), kinds


def predict(ctx: Context, query: Query) -> Prediction:
    """Every phase in glibc's order, and the explanation's fields in the SPEC's."""
    hints = query.hints
    fields: Fields = {"nsswitch": ctx.config.to_json(), "multi": ctx.multi, "numeric": False,
                      "sources": []}
    family, addrconfig_error, fields["addrconfig"] = addrconfig(ctx, hints)
    found, kinds = lookup(ctx, query, family, addrconfig_error)
    fields.update(found.fields)
    kept = kept_addresses(found, hints.flags)
    error = found.error
    if error is None and not kept:
        # Every address was a mapped one dropped beside IPv6: no entry, and
        # getaddrinfo ends with EAI_NONAME when it has made none.
        error = "EAI_NONAME"
    if found.walk is not None and family != hints.family:
        fields["addrconfig"]["removed"] = removed_by_addrconfig(ctx, query, kept)
    # gai.conf is read after the lookup, so its problems are listed after the sources'.
    policy = read_gai_conf(ctx.paths.gai, ctx.problems)
    fields.update(policy=policy.to_json(), scopev4=policy.scopes_json(),
                  policy_from=list(policy.from_file) or None)
    addresses = [Address(f, int.from_bytes(p, "big")) for f, p in kept]
    ordered, order_fields = order(ctx, expand(addresses, kinds.kinds), len(addresses),
                                  len(kinds.kinds), policy)
    fields.update(order_fields)
    return Prediction(ordered, error, found.walk, fields)
