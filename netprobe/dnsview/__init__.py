"""The DNS view: what DNS itself says, beside what getaddrinfo says.

getaddrinfo answers from /etc/hosts, nsswitch modules, caches and DNS, and
does not say which.  This module asks DNS directly, with dnspython, and lays
the two answers side by side: every address is marked ``both``,
``getaddrinfo only`` (hosts file, other NSS sources) or ``dns only``.  It also
checks reverse DNS (PTR, forward-confirmed), and lets ``connect --server``
take its candidates from one chosen DNS server instead of getaddrinfo.

Design decisions:

* dnspython is imported inside the functions that query, never at module
  level: ``netprobe resolve`` without ``--dns`` must not pay for it (start-up
  time is a target), and this package is the only place allowed to import it.
* Queries go out one by one with ``dns.query`` rather than through
  ``dns.resolver.Resolver``.  The resolver hides what the view exists to
  show: it retries SERVFAIL elsewhere, folds NXDOMAIN into an exception and
  does not report which server answered each question or how long it took.
  Every exchange (question, server, rcode, flags, time, records) is kept.
* Without ``--server`` the servers, search list and ndots come from
  /etc/resolv.conf, read with glibc's rules (``read_resolv_conf``), so that
  DNS is asked the same names getaddrinfo asked: in a container with
  ``search svc.cluster.local`` and ``ndots:5`` a short name is found under a
  search domain, and a view that asked only the bare name would wrongly call
  the address "getaddrinfo only".  With ``--server`` the name is asked as
  given (absolute), as ``dig @server`` does: the user picked the server and
  the question.
* ``--timeout`` bounds all of a lookup's queries together (one deadline),
  not each query: a dead server must not cost the timeout once per
  question.
* Queries set the AD bit (RFC 6840 section 5.7: a validating resolver then
  says in AD whether the data was authenticated) and use EDNS0 with a
  1232-byte payload (the DNS Flag Day 2020 value: no IP fragmentation); a
  truncated UDP answer is asked again over TCP, as RFC 7766 requires.
* NODATA is not an rcode on the wire (RFC 2308: NOERROR with no record of
  the type asked); the view names it, because "the name exists but has no
  AAAA" and "the name does not exist" need different fixes.
"""
#
# One concern a file: ``servers`` (--server and resolv.conf), ``asker`` (the
# query layer), ``forward`` (A/AAAA, and connect --server's candidates) and
# ``reverse`` (PTR and FCrDNS).

from __future__ import annotations

from netprobe.dnsview.asker import Asker, Exchange, Failure
from netprobe.dnsview.forward import ForwardLookup, dns_resolution, lookup_forward
from netprobe.dnsview.reverse import ReverseLookup, lookup_reverse
from netprobe.dnsview.servers import (
    DNS_PORT,
    DnsServer,
    ResolvConf,
    names_to_ask,
    parse_server,
    read_resolv_conf,
)

__all__ = [
    "DNS_PORT",
    "Asker",
    "DnsServer",
    "Exchange",
    "Failure",
    "ForwardLookup",
    "ResolvConf",
    "ReverseLookup",
    "dns_resolution",
    "lookup_forward",
    "lookup_reverse",
    "names_to_ask",
    "parse_server",
    "read_resolv_conf",
]
