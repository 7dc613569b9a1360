"""Forward lookups: A/AAAA for a host (``resolve --dns``), and the candidates of
``connect --server``, taken from one DNS server's answer instead of getaddrinfo."""

from __future__ import annotations

import socket
from typing import NamedTuple

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.constants import AI_FLAGS, family_name
from netprobe.dnsview.asker import (
    Answer,
    Asker,
    Exchange,
    Failure,
    Link,
    address_key,
    answered_by,
    asked_json,
    dns_name_problem,
    error_for,
    load_dnspython,
    numeric_address,
    overall_rcode,
)
from netprobe.dnsview.servers import DnsServer, names_to_ask, parse_server, servers_and_conf
from netprobe.errors import InvalidInput, NetprobeError, ResolutionFailed
from netprobe.events import Clock, Fields, Trace, monotonic, no_trace
from netprobe.inputs import check_host, check_service, library_host, target
from netprobe.resolver import numeric_sockaddr

_ADDRESS_TYPES: dict[int, str] = {socket.AF_INET: "A", socket.AF_INET6: "AAAA"}
_TYPE_FAMILIES: dict[str, int] = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}


class DnsAddress(NamedTuple):
    """An address DNS gave, with the record's owner name and TTL."""

    address: str
    family: int
    ttl: int
    name: str




class ForwardLookup(NamedTuple):
    """A/AAAA for a host name, asked of DNS, with everything that was exchanged."""

    host: str
    #: The name whose answer counts (a search domain may have been added).
    name: str
    qtypes: list[str]
    numeric: bool
    exchanges: list[Exchange]
    chain: list[Link]
    addresses: list[DnsAddress]
    rcode: str | None
    server: DnsServer | None
    ad: bool
    elapsed: float
    failure: Failure | None

    def error(self, stage: str, where: str, *, need_addresses: bool) -> NetprobeError | None:
        """The error this lookup means, if any.

        ``resolve --dns`` (need_addresses False): only no answer at all is an
        error; NXDOMAIN and NODATA are answers, shown in the view.
        ``connect --server`` (True): no address is an error as well.
        """
        if self.numeric:
            return None
        rcode = self.rcode if need_addresses else None
        return error_for(rcode, self.failure, stage, where, self.name, self.server,
                          "/".join(self.qtypes))

    def to_json(self, resolution: Resolution | None, *, compare: bool = True) -> Fields:
        """The ``dns`` object; with ``compare``, each address is marked against getaddrinfo's."""
        return {
            **asked_json(self),
            "numeric": self.numeric,
            "addresses": self.marked(resolution) if compare else [
                {"address": a.address, "family": family_name(a.family), "ttl": a.ttl,
                 "name": a.name, "source": "dns"} for a in self.addresses
            ],
        }

    def marked(self, resolution: Resolution | None) -> list[Fields]:
        """Every address once: getaddrinfo's in its order, then DNS's own, each marked."""
        from_dns = {address_key(a.address): a for a in self.addresses}
        entries: list[Fields] = []
        seen: set[str] = set()
        for candidate in resolution.candidates if resolution else []:
            key = address_key(candidate.address)
            if key in seen:  # one entry per socktype in getaddrinfo's list
                continue
            seen.add(key)
            record = from_dns.get(key)
            entries.append({
                "address": candidate.address,
                "family": family_name(candidate.family),
                # The record's type: an A record for ::ffff:a.b.c.d with AI_V4MAPPED.
                "type": _ADDRESS_TYPES[record.family] if record else None,
                "ttl": record.ttl if record else None,
                "name": record.name if record else None,
                "source": "both" if record else "getaddrinfo only",
            })
        for key, record in from_dns.items():
            if key not in seen:
                entries.append({"address": record.address, "family": family_name(record.family),
                                "type": _ADDRESS_TYPES[record.family], "ttl": record.ttl,
                                "name": record.name, "source": "dns only"})
        return entries


def _unasked(host: str, qtypes: list[str], *, numeric: bool,
             failure: Failure | None) -> ForwardLookup:
    """A lookup that asked nothing: a numeric host, or a name DNS cannot carry."""
    return ForwardLookup(host=host, name=host, qtypes=qtypes, numeric=numeric, exchanges=[],
                         chain=[], addresses=[], rcode=None, server=None, ad=False,
                         elapsed=0.0, failure=failure)


def lookup_forward(host: str, family: int, server: DnsServer | None, timeout: float | None,
                   *, clock: Clock = monotonic, trace: Trace = no_trace,
                   v4mapped: bool = False) -> ForwardLookup:
    """Ask DNS for ``host``'s A and/or AAAA records (as ``family`` asks), CNAMEs followed.

    ``v4mapped`` (AF_INET6 with AI_V4MAPPED): getaddrinfo asks A as well and
    answers its records as ``::ffff:a.b.c.d``, so the view asks both.
    Never raises for what DNS does: timeouts, network errors and a name DNS
    cannot carry are in ``failure``; ``error()`` turns them into exceptions.
    """
    qtypes = [_ADDRESS_TYPES[family]] if family in _ADDRESS_TYPES else ["A", "AAAA"]
    if family == socket.AF_INET6 and v4mapped:
        qtypes = ["AAAA", "A"]
    # Ask the name getaddrinfo was given (a non-ASCII host in its IDNA form), so
    # the answers' owner names match it and the view compares like with like.
    host = library_host(host)
    if numeric_address(host) is not None:
        # A numeric host is parsed, not looked up: there is nothing to ask DNS.
        return _unasked(host, qtypes, numeric=True, failure=None)
    problem = dns_name_problem(host.rstrip(".")) if host.strip(".") else "no host name to ask"
    if problem:
        return _unasked(host, qtypes, numeric=False, failure=Failure("EBADNAME", problem))
    servers, conf, per_try = servers_and_conf(server)
    asker = Asker(servers, timeout, per_try, clock, trace)
    start = clock()
    tried: list[Answer] = []
    answers: list[Answer] = []
    for name in names_to_ask(host, conf):
        answers = [asker.follow(name, qtype) for qtype in qtypes]
        tried += answers
        if asker.timed_out or any(a.records for a in answers):
            break
    found = any(a.records for a in answers)
    chain: list[Link] = []
    for answer in answers:
        chain += [link for link in answer.chain if link not in chain]
    addresses = [DnsAddress(r.data, _TYPE_FAMILIES[r.type], r.ttl, r.name)
                 for a in answers for r in a.records]
    answered_server, ad = answered_by(asker.exchanges)
    return ForwardLookup(
        host=host,
        name=answers[0].name if found else host.rstrip("."),
        qtypes=qtypes,
        numeric=False,
        exchanges=asker.exchanges,
        chain=chain if found else [link for a in tried for link in a.chain],
        addresses=addresses,
        rcode=overall_rcode(tried),
        server=answered_server,
        ad=ad,
        elapsed=clock() - start,
        failure=asker.failure(),
    )


def _service_port(service: str | None, socktype: int, flags: int, stage: str, where: str) -> int:
    """The port of a service as getaddrinfo finds it: a number, or a name in /etc/services."""
    if service is None:
        return 0
    text = service.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    if flags & AI_FLAGS["numeric_serv"][1]:
        raise ResolutionFailed(stage, where, "AI_NUMERICSERV forbids a service name", "EAI_NONAME")
    try:
        return socket.getservbyname(text, "udp" if socktype == socket.SOCK_DGRAM else "tcp")
    except OSError:
        raise ResolutionFailed(stage, where, f"unknown service {service!r}",
                               "EAI_SERVICE") from None


def dns_resolution(
    host: str | None,
    service: str | None,
    hints: Hints,
    server: str | DnsServer,
    *,
    timeout: float | None,
    trace: Trace = no_trace,
    clock: Clock = monotonic,
    stage: str = "connect",
) -> Resolution:
    """Candidates from one DNS server's A/AAAA answers instead of getaddrinfo (``--server``).

    Emits the same events as the core's getaddrinfo (``resolving``, each
    ``candidate``, ``resolved``) with ``source`` ("dns", or "numeric" for an
    address that needed no lookup), ``server`` and the ``dns`` view added.
    Candidates: IPv6 before IPv4, the order RFC 6724's default policy table
    gives global addresses (no reachability sorting: this is DNS's answer,
    not the system's); socktype and protocol from the hints, SOCK_STREAM and
    TCP when they say "any".  AI_ADDRCONFIG is not applied: DNS answers are
    shown as they are.
    """
    chosen = server if isinstance(server, DnsServer) else parse_server(server)
    host = host or None
    service = service or None
    where = target(host, service)
    if host is None:
        raise InvalidInput(stage, where, "--server needs a host name to look up")
    check_host(host, stage)
    check_service(service, stage, host)
    socktype = hints.socktype or socket.SOCK_STREAM
    protocol = hints.protocol or (
        socket.IPPROTO_UDP if socktype == socket.SOCK_DGRAM else socket.IPPROTO_TCP)
    port = _service_port(service, socktype, hints.flags, stage, where)
    extra: Fields = {"source": "dns", "server": chosen.endpoint()}
    trace("resolving", {"host": host, "service": service, "hints": hints.to_json(), **extra})
    load_dnspython()
    start = clock()
    lookup = lookup_forward(host, hints.family, chosen, timeout, clock=clock, trace=trace)
    error = lookup.error(stage, where, need_addresses=True)
    if error is not None:
        error.extra = {"dns": lookup.to_json(None, compare=False)}
        raise error
    numeric = numeric_address(host) is not None
    found: list[tuple[int, str, int, int]]  # family, address, flowinfo, scope_id
    if numeric:
        extra["source"] = "numeric"
        sockaddr = numeric_sockaddr(host, port, stage)
        if len(sockaddr) == 4:
            found = [(socket.AF_INET6, sockaddr[0], sockaddr[2], sockaddr[3])]
        else:
            found = [(socket.AF_INET, sockaddr[0], 0, 0)]
    else:
        found = sorted(((a.family, a.address, 0, 0) for a in lookup.addresses),
                       key=lambda entry: entry[0] != socket.AF_INET6)
    canonname = ""
    if hints.flags & AI_FLAGS["canonname"][1]:
        canonname = lookup.chain[-1].target if lookup.chain else lookup.name
    candidates: list[Candidate] = []
    for index, (family, address, flowinfo, scope_id) in enumerate(found):
        candidate = Candidate(index=index, family=family, socktype=socktype, protocol=protocol,
                              canonname=canonname if index == 0 else "", address=address,
                              port=port, flowinfo=flowinfo, scope_id=scope_id)
        candidates.append(candidate)
        trace("candidate", {"candidate": candidate.to_json()})
    result = Resolution(host, service, hints, candidates, canonname or None, clock() - start)
    view = None if numeric else lookup.to_json(None, compare=False)
    trace("resolved", {**result.to_json(), **extra, "dns": view})
    return result
