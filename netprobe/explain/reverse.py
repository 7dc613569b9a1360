"""``reverse --explain``: which source named the address (glibc getnameinfo).

getnameinfo (inet/getnameinfo.c) asks the hosts sources of nsswitch.conf
with gethostbyaddr: ``files`` gives the first /etc/hosts line whose
address, read in the address's family, is this one (so ``::1 localhost``
names 127.0.0.1 when no IPv4 line does: nss_files reads ``::1`` as
127.0.0.1 under AF_INET); ``dns`` asks the PTR record.  The walk follows
the same [STATUS=action] rules as for names.  The host name shown is the
first name of the answer (the line's canonical name, the PTR's target).
When the last source asked leaves h_errno TRY_AGAIN (``dns`` got no
answer, or SERVFAIL), getnameinfo fails with EAI_AGAIN, NI_NAMEREQD or
not (gni_host_inet_name).  Otherwise nothing found: the numeric address
(with ``%scope`` when the socket address has a scope id), or EAI_NONAME
with NI_NAMEREQD.  NI_NUMERICHOST asks no source at all, and neither
does ``::``: gethostbyaddr_r answers the unspecified address
HOST_NOT_FOUND before any source (its PREPROCESS step).  nss_dns asks an
IPv4-mapped (``::ffff:a.b.c.d``) or IPv4-compatible (``::a.b.c.d``, not
``::1``) address's PTR under in-addr.arpa, as the IPv4 address it
carries.  NI_NOFQDN (the short form of names in the local domain) is not
modelled: with it, a difference is reported rather than an invented
short name.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from netprobe.events import Fields, Trace, no_trace
from netprobe.explain.context import Context, Paths
from netprobe.explain.dnsmodel import h_errno
from netprobe.explain.hosts import lookup_address
from netprobe.explain.nsswitch import SourceResult, SourceSpec, Walk, walk
from netprobe.explain.sort import Address
from netprobe.explain.sources import sources_json
from netprobe.inputs import host_argument

#: The IPv4 address inside an IPv4-mapped or -compatible IPv6 address.
_V4_MASK = (1 << 32) - 1


def _files_name(ctx: Context, address: Address) -> SourceResult:
    """gethostbyaddr's ``files``: the first hosts line with this address."""
    if not ctx.hosts_file.readable:
        return SourceResult("UNAVAIL", [], {"hosts_lines": []})
    packed = address.value.to_bytes(4 if address.family == socket.AF_INET else 16, "big")
    line = lookup_address(ctx.hosts_file, address.family, packed)
    if line is None:
        return SourceResult("NOTFOUND", [], {"hosts_lines": []})
    return SourceResult("SUCCESS", [], {"hosts_lines": [line.to_json(address.text())],
                                        "host": line.names[0]})


def _dns_ptr(ctx: Context, address: Address) -> SourceResult:
    name = _reverse_name(address)
    rcode, ptr = ctx.dns().ask_ptr(name)
    asked = [{"name": name, "qtype": "PTR", "rcode": rcode, "addresses": ptr, "why": "as is"}]
    if ptr:
        return SourceResult("SUCCESS", [], {"names_asked": asked, "host": ptr[0]})
    status = "NOTFOUND" if rcode in ("NXDOMAIN", "NODATA", "NOERROR") else "TRYAGAIN"
    return SourceResult(status, [], {"names_asked": asked, "host": None,
                                     "h_errno": h_errno([rcode])})


def _reverse_name(address: Address) -> str:
    """The PTR name nss_dns asks (resolv/nss_dns/dns-host.c, gethostbyaddr2_r)."""
    if address.family == socket.AF_INET6 and address.value >> 32 in (0, 0xFFFF) \
            and address.value != 1:
        # Mapped or compatible: unmapped to the IPv4 address (``::`` never gets here).
        address = Address(socket.AF_INET, address.value & _V4_MASK)
    if address.family == socket.AF_INET:
        return ".".join(reversed(address.text().split("."))) + ".in-addr.arpa"
    nibbles = f"{address.value:032x}"
    return ".".join(reversed(nibbles)) + ".ip6.arpa"


def _walk_address(ctx: Context, address: Address) -> Walk:
    def ask(spec: SourceSpec) -> SourceResult:
        if spec.name == "files":
            return _files_name(ctx, address)
        if spec.name == "dns":
            return _dns_ptr(ctx, address)
        return SourceResult(None, [], {})

    return walk(ctx.config, ask)


def _socket_address(text: str) -> tuple[Address, int]:
    """The address and scope id getnameinfo is given: ``reverse`` builds its socket
    address with getaddrinfo(AI_NUMERICHOST), so ``127.1`` and ``fe80::1%lo`` are read
    here the same way (``ipaddress`` knows neither)."""
    entry = socket.getaddrinfo(host_argument(text), None, 0, socket.SOCK_STREAM, 0,
                               socket.AI_NUMERICHOST)[0][4]
    address = Address.parse(str(entry[0]))
    return address, int(entry[3]) if len(entry) == 4 else 0


def _numeric_text(address: Address, scope_id: int) -> str:
    """getnameinfo's numeric host (gni_host_inet_numeric): inet_ntop, then ``%scope``
    for a non-zero scope id: the interface's name for a link-local unicast or
    multicast address whose index names one, else the number."""
    text = address.text()
    if address.family != socket.AF_INET6 or not scope_id:
        return text
    link_local = address.value >> 118 == 0x3FA or (address.value >> 112) & 0xFF0F == 0xFF02
    if link_local:
        try:
            return f"{text}%{socket.if_indextoname(scope_id)}"
        except OSError:
            pass
    return f"{text}%{scope_id}"


def explain_reverse(address_text: str, flags: int, actual_host: str | None,
                    actual_error: str | None = None, *, timeout: float | None = None,
                    paths: Paths | None = None,
                    environ: Mapping[str, str] | None = None,
                    trace: Trace = no_trace) -> Fields:
    """The ``explain`` object of ``reverse``: the source that named the address."""
    environ = os.environ if environ is None else environ
    ctx = Context(paths or Paths(), environ, timeout, None, trace)
    address, scope_id = _socket_address(address_text)
    explain: Fields = {"nsswitch": ctx.config.to_json(), "sources": [], "numeric": False}
    predicted: str | None = None
    error: str | None = None
    named_by: str | None = None
    if flags & socket.NI_NUMERICHOST:
        explain["numeric"] = True
    elif address.family == socket.AF_INET6 and address.value == 0:
        explain["why"] = ("the unspecified address (::): glibc's gethostbyaddr answers it "
                          "HOST_NOT_FOUND without asking any source")
    else:
        walked = _walk_address(ctx, address)
        explain["sources"] = sources_json(walked, with_addresses=False)
        explain["walk_ended"] = walked.ended
        explain["not_modelled_reached"] = walked.assumed
        last = next((s for s in reversed(walked.steps) if s.reached and s.result), None)
        if last is not None and last.result is not None and last.result.status == "SUCCESS" \
                and not walked.failed_with_merge:
            predicted = last.result.evidence.get("host")
            named_by = last.spec.name
        elif last is not None and last.result is not None \
                and last.result.evidence.get("h_errno") == "TRY_AGAIN":
            error = "EAI_AGAIN"
    if predicted is None and error is None:
        if flags & socket.NI_NAMEREQD:
            error = "EAI_NONAME"
        else:
            predicted = _numeric_text(address, scope_id)
            named_by = "numeric"
    explain["named_by"] = named_by
    explain["predicted"] = [predicted] if predicted is not None else []
    explain["predicted_error"] = error
    explain["actual"] = [actual_host] if actual_host is not None else []
    explain["actual_error"] = actual_error
    differences: list[str] = []
    if error != actual_error:
        # By name: EAI_NONAME predicted where getnameinfo said EAI_AGAIN is a difference.
        differences.append(f"predicted {error or 'an answer'}, getnameinfo gave "
                           f"{actual_error or 'an answer'}")
    elif predicted is not None and actual_host is not None \
            and predicted.lower() != actual_host.lower():
        differences.append(f"predicted {predicted}, getnameinfo gave {actual_host}")
    if differences and flags & socket.NI_NOFQDN:
        differences.append("NI_NOFQDN's short names are not modelled")
    if differences and explain.get("not_modelled_reached"):
        differences.append("not modelled and reached: "
                           f"{', '.join(explain['not_modelled_reached'])}")
    explain["explained"] = not differences
    explain["differences"] = differences
    explain["problems"] = [p.to_json() for p in ctx.problems]
    return explain
