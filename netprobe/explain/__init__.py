"""``--explain``: where each getaddrinfo answer came from, and why in this order.

This package knows the files and rules glibc's getaddrinfo uses and works
out, independently of the library, what it should have answered and in
which order; then it compares that prediction with what the library did
answer.  Only an exact match is ``explained: true``: the comparison is the
feature's own test on every machine it runs on, and an explanation that
does not match is shown as such, never bent to fit.

Like the DNS view it knows nothing of output: ``explain_resolution`` and
``explain_reverse`` return the JSON-ready ``explain`` object of the SPEC
and the renderers draw it.

The steps, in glibc's order (sysdeps/posix/getaddrinfo.c, glibc 2.36):

1. AI_ADDRCONFIG (``addrconfig``) may narrow AF_UNSPEC to one family or
   fail at once.
2. A numeric host is parsed; no source is asked.  No host at all gives
   the loopback (or, with AI_PASSIVE, the wildcard) addresses.
3. Otherwise the ``hosts:`` sources of nsswitch.conf are walked
   (``nsswitch``): ``files`` (``hosts``), ``dns`` (``dnsmodel``) and any
   other module, which is named and not modelled.
4. IPv4 answers are mapped for AF_INET6 + AI_V4MAPPED, then one entry per
   socket type is made.
5. With more than one address the list is sorted (``sort``) with the
   policy of /etc/gai.conf (``gaiconf``).

What is *not* modelled is said, not guessed: nscd (if it runs, it answers
instead of the sources), NSS modules other than files and dns, and
AI_CANONNAME's name.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import NamedTuple

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.constants import family_name
from netprobe.events import Fields, Trace, no_trace
from netprobe.explain import gaiconf, hosts, nsswitch, resolvconf
from netprobe.explain.addrconfig import Interfaces, read_interfaces
from netprobe.explain.gaiconf import GAI_CONF
from netprobe.explain.hosts import HOST_CONF, HOSTS
from netprobe.explain.nsswitch import NSSWITCH_CONF
from netprobe.explain.problems import Problem
from netprobe.explain.resolvconf import RESOLV_CONF
from netprobe.explain.sort import (
    Address,
    decisions,
    destinations,
    probe_source,
    sort_destinations,
)
from netprobe.inputs import host_argument

_MAPPED_PREFIX = b"\x00" * 10 + b"\xff\xff"


class Paths(NamedTuple):
    """The files glibc reads (tests point them elsewhere; the CLI never does)."""

    nsswitch: str = NSSWITCH_CONF
    hosts: str = HOSTS
    host_conf: str = HOST_CONF
    resolv: str = RESOLV_CONF
    gai: str = GAI_CONF


#: socket types and protocols getaddrinfo makes entries for when hints leave them open.
_ALL_SOCKTYPES = ((socket.SOCK_STREAM, socket.IPPROTO_TCP),
                  (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
                  (socket.SOCK_RAW, 0))


def _text(family: int, packed: bytes) -> str:
    return socket.inet_ntop(family, packed)


class Context:
    """Everything read once for one explanation."""

    def __init__(self, paths: Paths, environ: Mapping[str, str], timeout: float | None,
                 interfaces: Interfaces | None, trace: Trace = no_trace) -> None:
        self.problems: list[Problem] = []
        #: Where the probes' socket calls are reported (``--syscalls``).
        self.trace = trace
        self.paths = paths
        self.environ = environ
        self.timeout = timeout
        self.config = nsswitch.read_nsswitch(paths.nsswitch, self.problems)
        self.multi = hosts.read_host_conf(paths.host_conf, self.problems, environ)
        self.hosts_file = hosts.read_hosts(paths.hosts, self.problems)
        self.interfaces = interfaces if interfaces is not None else read_interfaces(trace)
        if self.interfaces.error:
            self.problems.append(Problem("rtnetlink", None, self.interfaces.error))
        self._dns: object | None = None

    def dns(self) -> object:
        # Imported and read only when the dns source is reached.
        if self._dns is None:
            from netprobe.explain.dnsmodel import DnsModel

            conf = resolvconf.read_stub_conf(self.paths.resolv, self.problems, self.environ)
            self._dns = DnsModel(conf, self.timeout, self.trace)
        return self._dns


def _files_source(ctx: Context, name: str, family: int, v4mapped: bool,
                  all_flag: bool) -> nsswitch.SourceResult:
    """What getaddrinfo gets from nss_files for ``name`` (gethostbyname4_r or 3_r calls)."""
    if not ctx.hosts_file.readable:
        return nsswitch.SourceResult("UNAVAIL", [], {"hosts_lines": [],
                                                     "note": f"{ctx.paths.hosts} unreadable"})
    matched: list[hosts.HostsMatch] = []
    got_ipv6 = False
    if family == socket.AF_UNSPEC:
        matched = hosts.lookup_name(ctx.hosts_file, name, socket.AF_UNSPEC, ctx.multi)
        status = "SUCCESS" if matched else "NOTFOUND"
        addresses = [(m.family, m.packed) for m in matched]
    else:
        v6_status = v4_status = "UNAVAIL"
        addresses = []
        if family == socket.AF_INET6:
            v6 = hosts.lookup_name(ctx.hosts_file, name, socket.AF_INET6, ctx.multi)
            v6_status = "SUCCESS" if v6 else "NOTFOUND"
            matched += v6
            addresses += [(m.family, m.packed) for m in v6]
            got_ipv6 = bool(v6)
        if family == socket.AF_INET or (family == socket.AF_INET6 and v4mapped
                                        and (all_flag or not got_ipv6)):
            v4 = hosts.lookup_name(ctx.hosts_file, name, socket.AF_INET, ctx.multi)
            v4_status = "SUCCESS" if v4 else "NOTFOUND"
            matched += v4
            if family == socket.AF_INET6:
                addresses += [(socket.AF_INET6, _MAPPED_PREFIX + m.packed) for m in v4]
                if v4:
                    got_ipv6 = False
            else:
                addresses += [(m.family, m.packed) for m in v4]
                v6_status = v4_status
        from netprobe.explain.dnsmodel import combine

        status = combine(v6_status, v4_status)
    lines = [m.line.to_json(m.address) for m in matched]
    return nsswitch.SourceResult(status, addresses, {"hosts_lines": lines}, got_ipv6)


def _dns_source(ctx: Context, name: str, family: int, v4mapped: bool,
                all_flag: bool) -> nsswitch.SourceResult:
    from netprobe.explain.dnsmodel import DnsModel

    model = ctx.dns()
    assert isinstance(model, DnsModel)
    status, found, asked, got_ipv6 = model.lookup(name, family, v4mapped, all_flag)
    return nsswitch.SourceResult(status, found, {"names_asked": [a.to_json() for a in asked]},
                                 got_ipv6)


def _walk(ctx: Context, name: str, family: int, flags: int) -> nsswitch.Walk:
    v4mapped = bool(flags & socket.AI_V4MAPPED)
    all_flag = bool(flags & socket.AI_ALL)

    def ask(spec: nsswitch.SourceSpec) -> nsswitch.SourceResult:
        if spec.name == "files":
            return _files_source(ctx, name, family, v4mapped, all_flag)
        if spec.name == "dns":
            return _dns_source(ctx, name, family, v4mapped, all_flag)
        return nsswitch.SourceResult(None, [], {})

    return nsswitch.walk(ctx.config, ask)


def _sources_json(walk: nsswitch.Walk) -> list[Fields]:
    rows: list[Fields] = []
    for step in walk.steps:
        modelled = step.spec.name in nsswitch.MODELLED
        row: Fields = {
            "name": step.spec.name,
            "actions": step.spec.non_default(),
            "status": step.result.status if step.result else None,
            "reached": step.reached,
            "modelled": modelled,
            "action": step.action,
        }
        if step.result is not None:
            row.update(step.result.evidence)
            row["addresses"] = [_text(f, p) for f, p in step.result.addresses]
        rows.append(row)
    return rows


def _numeric(host: str) -> Address | None:
    """The address of a numeric host, as getaddrinfo parses it (inet_aton or inet_pton)."""
    try:
        # host_argument: an ASCII host as bytes, so no IDNA codec is imported
        # (the start-up cost the resolution core avoids the same way).
        entries = socket.getaddrinfo(host_argument(host), None, 0, socket.SOCK_STREAM, 0,
                                     socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return Address.parse(str(entries[0][4][0])) if entries else None


class Prediction(NamedTuple):
    addresses: list[tuple[int, bytes]]  # in the order the sources gave them, mapped
    error: str | None  # the EAI_* getaddrinfo should fail with, if any


def _socktypes(hints: Hints, actual: Resolution | None) -> list[tuple[int, int]]:
    """The socket types getaddrinfo makes one entry each for.

    Taken from the actual answer when there is one (the service lookup,
    /etc/services, is not what --explain is about); else from the hints.
    """
    if actual is not None and actual.candidates:
        first = actual.candidates[0].address
        kinds: list[tuple[int, int]] = []
        for candidate in actual.candidates:
            kind = (candidate.socktype, candidate.protocol)
            if candidate.address == first and kind not in kinds:
                kinds.append(kind)
        return kinds
    if hints.socktype:
        return [(hints.socktype, hints.protocol)]
    return list(_ALL_SOCKTYPES)


def _key(family: int, address: str) -> tuple[int, int]:
    parsed = Address.parse(address)
    return family, parsed.value


def explain_resolution(host: str | None, hints: Hints, actual: Resolution | None,
                       actual_error: str | None = None, *, timeout: float | None = None,
                       paths: Paths | None = None, environ: Mapping[str, str] | None = None,
                       interfaces: Interfaces | None = None,
                       trace: Trace = no_trace) -> Fields:
    """The SPEC's ``explain`` object for getaddrinfo(host, ..., hints).

    ``actual`` is what getaddrinfo returned (None if it failed with
    ``actual_error``, an EAI_* name).  Never raises for bad files: they are
    reported in ``problems``.
    """
    environ = os.environ if environ is None else environ
    paths = paths or Paths()
    ctx = Context(paths, environ, timeout, interfaces, trace)
    flags = hints.flags
    family = hints.family
    explain: Fields = {
        "nsswitch": ctx.config.to_json(),
        "multi": ctx.multi,
        "numeric": False,
        "sources": [],
    }
    # 1. AI_ADDRCONFIG.
    seen4, seen6 = ctx.interfaces.seen_ipv4, ctx.interfaces.seen_ipv6
    addrconfig: Fields = {"applied": bool(flags & socket.AI_ADDRCONFIG), "AF_INET": seen4,
                          "AF_INET6": seen6, "counted": ctx.interfaces.to_json(),
                          "removed": [], "family": family_name(family)}
    error: str | None = None
    lookup_family = family
    if flags & socket.AI_ADDRCONFIG:
        if family == socket.AF_UNSPEC and (seen4 or seen6) and seen4 != seen6:
            lookup_family = socket.AF_INET if seen4 else socket.AF_INET6
        elif (family == socket.AF_INET and not seen4) or (family == socket.AF_INET6
                                                           and not seen6):
            error = "EAI_NONAME"
        addrconfig["family"] = family_name(lookup_family)
    explain["addrconfig"] = addrconfig

    found: list[tuple[int, bytes]] = []
    walk: nsswitch.Walk | None = None
    numeric = _numeric(host) if host else None
    if error is not None:
        pass
    elif host is None:
        explain["why"] = "no host: " + ("the wildcard addresses (AI_PASSIVE)"
                                        if flags & socket.AI_PASSIVE else "the loopback addresses")
        passive = bool(flags & socket.AI_PASSIVE)
        if lookup_family in (socket.AF_UNSPEC, socket.AF_INET6):
            found.append((socket.AF_INET6, bytes(16) if passive else bytes(15) + b"\x01"))
        if lookup_family in (socket.AF_UNSPEC, socket.AF_INET):
            found.append((socket.AF_INET, bytes(4) if passive else socket.inet_aton("127.0.0.1")))
    elif numeric is not None:
        explain["numeric"] = True
        packed = numeric.value.to_bytes(4 if numeric.family == socket.AF_INET else 16, "big")
        if numeric.family == socket.AF_INET:
            if lookup_family in (socket.AF_UNSPEC, socket.AF_INET):
                found.append((socket.AF_INET, packed))
            elif flags & socket.AI_V4MAPPED:
                found.append((socket.AF_INET6, _MAPPED_PREFIX + packed))
            else:
                error = "EAI_ADDRFAMILY"
        elif lookup_family in (socket.AF_UNSPEC, socket.AF_INET6):
            found.append((socket.AF_INET6, packed))
        elif packed.startswith(_MAPPED_PREFIX):
            found.append((socket.AF_INET, packed[12:]))
        else:
            error = "EAI_ADDRFAMILY"
    else:
        walk = _walk(ctx, host, lookup_family, flags)
        explain["sources"] = _sources_json(walk)
        explain["walk_ended"] = walk.ended
        explain["not_modelled_reached"] = walk.assumed
        found = list(walk.addresses)
        # generate_addrinfo: mapped IPv4 answers are dropped when real IPv6 ones exist.
        if walk.got_ipv6 and flags & (socket.AI_V4MAPPED | socket.AI_ALL) == socket.AI_V4MAPPED:
            found = [(f, p) for f, p in found
                     if not (f == socket.AF_INET6 and p.startswith(_MAPPED_PREFIX))]
        if ctx.config.refused or not found:
            error = "EAI_NONAME"
        if lookup_family != family:
            wider = _walk(ctx, host, family, flags)
            kept = {(f, p) for f, p in found}
            addrconfig["removed"] = [_text(f, p) for f, p in wider.addresses
                                     if (f, p) not in kept]

    # 4-5. Entries and order.
    kinds = _socktypes(hints, actual)
    entries = [Address.parse(_text(f, p)) for f, p in found for _ in kinds]
    policy = gaiconf.read_gai_conf(paths.gai, ctx.problems)
    explain["policy"] = policy.to_json()
    explain["scopev4"] = policy.scopes_json()
    explain["policy_from"] = list(policy.from_file) or None
    explain["sources_addresses"] = {}
    explain["decisions"] = []
    ordered = entries
    if len(found) > 1:
        dests = destinations(entries, ctx.interfaces.for_sorting(),
                             lambda address: probe_source(address, trace))
        sorted_dests = sort_destinations(dests, policy)
        ordered = [d.address for d in sorted_dests]
        explain["sources_addresses"] = {
            d.address.text(): (d.source.text() if d.source else None) for d in dests}
        explain["decisions"] = decisions(sorted_dests, policy)
    explain["sorted"] = len(found) > 1
    predicted = _unique([a.text() for a in ordered])
    explain["predicted"] = predicted if error is None else []
    explain["predicted_error"] = error

    # Honesty: compare entry by entry.
    actual_entries = [Address.parse(c.address) for c in actual.candidates] if actual else []
    explain["actual"] = _unique([a.text() for a in actual_entries])
    explain["actual_error"] = actual_error
    differences = _differences(ordered if error is None else [], actual_entries,
                               error, actual_error)
    if walk is not None and walk.assumed and differences:
        differences.append(f"not modelled and reached: {', '.join(walk.assumed)}; "
                           "its answer cannot be predicted")
    explain["explained"] = not differences
    explain["differences"] = differences
    explain["problems"] = [p.to_json() for p in ctx.problems]
    return explain


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if not seen or seen[-1] != item:
            seen.append(item)
    return seen


def _differences(predicted: list[Address], actual: list[Address], predicted_error: str | None,
                 actual_error: str | None) -> list[str]:
    differences: list[str] = []
    if (predicted_error is None) != (actual_error is None):
        differences.append(f"predicted {predicted_error or 'an answer'}, "
                           f"getaddrinfo gave {actual_error or 'an answer'}")
    if predicted == actual:
        return differences
    want = {a.text() for a in predicted}
    got = {a.text() for a in actual}
    for text in _unique([a.text() for a in actual]):
        if text not in want:
            differences.append(f"{text}: returned by getaddrinfo, not predicted")
    for text in _unique([a.text() for a in predicted]):
        if text not in got:
            differences.append(f"{text}: predicted, not returned by getaddrinfo")
    if want == got:
        if len(predicted) != len(actual):
            differences.append(f"{len(predicted)} entries predicted, {len(actual)} returned")
        else:
            for position, (p, a) in enumerate(zip(predicted, actual, strict=False)):
                if p != a:
                    differences.append(f"entry {position}: predicted {p.text()}, "
                                       f"getaddrinfo gave {a.text()}")
                    break
    elif not differences:
        differences.append("the counts of entries differ")
    return differences


def candidates_order(candidates: list[Candidate]) -> list[str]:
    """Addresses in getaddrinfo's order, one per address (for connect's attempt order)."""
    return _unique([c.address for c in candidates])
