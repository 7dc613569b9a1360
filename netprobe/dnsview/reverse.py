"""Reverse lookups: the PTR records of an address and their forward confirmation (FCrDNS)."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from netprobe.dnsview.asker import (
    Asker,
    Exchange,
    Failure,
    Link,
    address_key,
    answered_by,
    asked_json,
    error_for,
    numeric_address,
)
from netprobe.dnsview.servers import DnsServer, servers_and_conf
from netprobe.errors import InvalidInput, NetprobeError
from netprobe.events import Clock, Fields, Trace, monotonic, no_trace
from netprobe.inputs import numeric_address as library_numeric_address


class PtrName(NamedTuple):
    """A name a PTR record gave, and whether its A/AAAA lead back to the address."""

    name: str
    ttl: int
    rcode: str | None
    addresses: list[str]
    confirmed: bool

    def to_json(self) -> Fields:
        return {"name": self.name, "ttl": self.ttl, "rcode": self.rcode,
                "addresses": self.addresses, "confirmed": self.confirmed}


class ReverseLookup(NamedTuple):
    """PTR records for an address and their forward confirmation (FCrDNS)."""

    address: str
    name: str
    exchanges: list[Exchange]
    chain: list[Link]
    rcode: str | None
    ptr: list[PtrName]
    server: DnsServer | None
    ad: bool
    elapsed: float
    failure: Failure | None

    @property
    def confirmed(self) -> bool:
        """FCrDNS holds: some PTR name's A/AAAA records include the address."""
        return any(p.confirmed for p in self.ptr)

    def error(self, stage: str, where: str) -> NetprobeError | None:
        """Only no answer at all is an error; NXDOMAIN for the PTR name is an answer."""
        return error_for(None, self.failure, stage, where, self.name, self.server, "PTR")

    def unconfirmed_reason(self) -> str:
        frm = f" from {self.server.endpoint()}" if self.server else ""
        if not self.ptr:
            return f"no PTR record for {self.address} ({self.rcode or 'no answer'}{frm})"
        names = ", ".join(p.name for p in self.ptr)
        return f"no PTR name maps back to {self.address} (checked {names})"

    def to_json(self) -> Fields:
        return {
            **asked_json(self),
            "ptr": [p.to_json() for p in self.ptr],
            "confirmed": self.confirmed,
        }


def lookup_reverse(address: str, server: DnsServer | None, timeout: float | None,
                   *, clock: Clock = monotonic, trace: Trace = no_trace) -> ReverseLookup:
    """PTR records for ``address`` and, for each name, whether its A/AAAA include it.

    The PTR name's CNAME chain is followed (RFC 2317 classless delegation
    is built on CNAMEs).  Only the address's own family is asked forward:
    FCrDNS asks whether the name maps back to *this* address.  An
    IPv4-mapped address is the IPv4 address it carries: its PTR is under
    in-addr.arpa (dnspython's from_address, and nss_dns, unmap it) and its
    names are confirmed by their A records.
    """
    import dns.reversename

    # Read as getnameinfo's socket address was made (getaddrinfo with
    # AI_NUMERICHOST): 127.1 is 127.0.0.1, a %scope is dropped.
    parsed = library_numeric_address(address)
    ip = numeric_address(parsed) if parsed is not None else None
    if ip is None:
        raise InvalidInput("reverse", address, "not a numeric IPv4 or IPv6 address")
    name = dns.reversename.from_address(str(ip)).to_text(omit_final_dot=True)
    mapped = isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None
    qtype = "AAAA" if ip.version == 6 and not mapped else "A"
    servers, _, per_try = servers_and_conf(server)
    asker = Asker(servers, timeout, per_try, clock, trace)
    start = clock()
    answer = asker.follow(name, "PTR")
    ptr: list[PtrName] = []
    for record in answer.records:
        if asker.timed_out:
            break
        forward = asker.follow(record.data, qtype)
        found = [r.data for r in forward.records]
        confirmed = address_key(str(ip)) in {address_key(a) for a in found}
        ptr.append(PtrName(record.data, record.ttl, forward.rcode, found, confirmed))
    answered_server, ad = answered_by(asker.exchanges)
    return ReverseLookup(address=address, name=name, exchanges=asker.exchanges,
                         chain=answer.chain, rcode=answer.rcode, ptr=ptr, server=answered_server,
                         ad=ad, elapsed=clock() - start, failure=asker.failure())
