"""The ``hosts:`` sources asked for a name, as getaddrinfo asks them (``get_nss_addresses``).

getaddrinfo walks the sources of nsswitch.conf (``nsswitch.walk``) and
asks each modelled one what glibc would ask it:

* AF_UNSPEC: one call for both families (gethostbyname4_r): ``files``
  gives every matching line in file order (``hosts``), ``dns`` the A and
  AAAA answers together (``dnsmodel``).
* One family: a call per family (gethostbyname3_r), IPv6 first; with
  AF_INET6 + AI_V4MAPPED the IPv4 answers are asked too (always with
  AI_ALL, else only when no IPv6 one came) and mapped to ::ffff:a.b.c.d.
  The two statuses become one as ``nsswitch.combine`` says.

A source netprobe does not model answers ``None``: the walk goes on as if
it had found nothing, and the explanation says so.
"""

from __future__ import annotations

import socket

from netprobe.events import Fields
from netprobe.explain.context import Context
from netprobe.explain.hosts import MAPPED_PREFIX, HostsMatch, lookup_name
from netprobe.explain.nsswitch import (
    MODELLED,
    SourceResult,
    SourceSpec,
    Walk,
    combine,
    walk,
)


def _addresses(matches: list[HostsMatch]) -> list[tuple[int, bytes]]:
    return [(m.family, m.packed) for m in matches]


def files_source(ctx: Context, name: str, family: int, v4mapped: bool,
                 all_flag: bool) -> SourceResult:
    """What getaddrinfo gets from nss_files for ``name`` (gethostbyname4_r or 3_r calls)."""
    if not ctx.hosts_file.readable:
        return SourceResult("UNAVAIL", [], {"hosts_lines": [],
                                            "note": f"{ctx.paths.hosts} unreadable"})
    if family == socket.AF_UNSPEC:
        matched = lookup_name(ctx.hosts_file, name, socket.AF_UNSPEC, ctx.multi)
        lines = [m.line.to_json(m.address) for m in matched]
        return SourceResult("SUCCESS" if matched else "NOTFOUND", _addresses(matched),
                            {"hosts_lines": lines}, False)
    matched = []
    addresses: list[tuple[int, bytes]] = []
    v6_status = v4_status = "UNAVAIL"
    got_ipv6 = False
    if family == socket.AF_INET6:
        v6 = lookup_name(ctx.hosts_file, name, socket.AF_INET6, ctx.multi)
        v6_status = "SUCCESS" if v6 else "NOTFOUND"
        matched += v6
        addresses += _addresses(v6)
        got_ipv6 = bool(v6)
    if family == socket.AF_INET or (family == socket.AF_INET6 and v4mapped
                                    and (all_flag or not got_ipv6)):
        v4 = lookup_name(ctx.hosts_file, name, socket.AF_INET, ctx.multi)
        v4_status = "SUCCESS" if v4 else "NOTFOUND"
        matched += v4
        if family == socket.AF_INET6:
            addresses += [(socket.AF_INET6, MAPPED_PREFIX + m.packed) for m in v4]
            if v4:
                got_ipv6 = False
        else:
            addresses += _addresses(v4)
            v6_status = v4_status
    lines = [m.line.to_json(m.address) for m in matched]
    return SourceResult(combine(v6_status, v4_status), addresses, {"hosts_lines": lines},
                        got_ipv6)


def dns_source(ctx: Context, name: str, family: int, v4mapped: bool,
               all_flag: bool) -> SourceResult:
    """What nss_dns answers: the names asked in the resolver's order, and the records."""
    status, found, asked, got_ipv6, error = ctx.dns().lookup(name, family, v4mapped, all_flag)
    evidence: Fields = {"names_asked": [a.to_json() for a in asked]}
    if not found:
        # What getaddrinfo fails with when dns is the last source it asks.
        evidence["error"] = error
    return SourceResult(status, found, evidence, got_ipv6)


def walk_name(ctx: Context, name: str, family: int, flags: int) -> Walk:
    """The sources walked for ``name`` and ``family``, each asked as glibc asks it."""
    v4mapped = bool(flags & socket.AI_V4MAPPED)
    all_flag = bool(flags & socket.AI_ALL)

    def ask(spec: SourceSpec) -> SourceResult:
        if spec.name == "files":
            return files_source(ctx, name, family, v4mapped, all_flag)
        if spec.name == "dns":
            return dns_source(ctx, name, family, v4mapped, all_flag)
        return SourceResult(None, [], {})

    return walk(ctx.config, ask)


def sources_json(steps: Walk, with_addresses: bool = True) -> list[Fields]:
    """The SPEC's ``sources``: each source, what it returned, whether it was reached."""
    rows: list[Fields] = []
    for step in steps.steps:
        row: Fields = {
            "name": step.spec.name,
            "actions": step.spec.non_default(),
            "status": step.result.status if step.result else None,
            "reached": step.reached,
            "modelled": step.spec.name in MODELLED,
            "action": step.action,
        }
        if step.result is not None:
            row.update(step.result.evidence)
            if with_addresses:
                row["addresses"] = [socket.inet_ntop(f, p) for f, p in step.result.addresses]
        rows.append(row)
    return rows
