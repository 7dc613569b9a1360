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
  time is a target), and this is the only module allowed to import it.
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

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence
from typing import NamedTuple, Protocol, cast

from netprobe.errors import InvalidInput, NetprobeError, ResolutionFailed, TimedOut
from netprobe.events import Clock, Fields, Trace, monotonic, ms, no_trace
from netprobe.resolver import (
    AI_FLAGS,
    Candidate,
    Hints,
    Resolution,
    check_host,
    check_service,
    family_name,
    numeric_sockaddr,
    split_endpoint,
    target,
)

#: The DNS port (RFC 1035 section 4.2).
DNS_PORT = 53
#: glibc uses at most three nameservers from resolv.conf (MAXNS in resolv.h).
MAXNS = 3
#: glibc's defaults: RES_TIMEOUT seconds a try, ndots 1, caps 30 and 15.
RES_TIMEOUT = 5.0
RES_MAXTIMEOUT = 30.0
RES_MAXNDOTS = 15
#: EDNS0 UDP payload size: the DNS Flag Day 2020 value, which avoids fragmentation.
EDNS_PAYLOAD = 1232
#: Longest CNAME chain followed.  BIND and Unbound stop at similar depths; a
#: longer chain is a misconfiguration (or a loop through names not yet seen).
MAX_CNAME_CHAIN = 16
#: Where the system resolver's configuration lives.
RESOLV_CONF = "/etc/resolv.conf"

#: rcodes after which the stub resolver asks the next server (glibc res_send
#: does so for SERVFAIL, NOTIMP and REFUSED): the server could not or would
#: not answer, which says nothing about the name.
_TRY_NEXT = frozenset({"SERVFAIL", "NOTIMP", "REFUSED", "FORMERR"})

#: Which outcome a lookup reports when no question found an address: the
#: most actionable first.  A server failure hides whether the name exists;
#: NODATA beats NXDOMAIN as glibc's res_search does (some name existed).
_RCODE_PRIORITY = ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR", "NODATA", "NXDOMAIN")

_ADDRESS_TYPES: dict[int, str] = {socket.AF_INET: "A", socket.AF_INET6: "AAAA"}
_TYPE_FAMILIES: dict[str, int] = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}

# --- the server ------------------------------------------------------------------

_SERVER_FORMS = "give IPv4[:PORT] or [IPv6][:PORT], e.g. 127.0.0.1:5353 or [::1]:5353"


class Server(NamedTuple):
    """A DNS server's numeric address and port."""

    address: str
    port: int = DNS_PORT

    def endpoint(self) -> str:
        """``127.0.0.1:53`` or ``[::1]:5353``: the form ``--server`` accepts."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_server(text: str, stage: str = "dns") -> Server:
    """``ADDR[:PORT]`` -> Server; InvalidInput (exit 2) for anything else.

    Only numeric addresses: a server given by name would have to be resolved
    by the very resolver being examined.  A bare IPv6 address (``::1``) is
    accepted without a port, as dig and ncat take it; with a port it must be
    bracketed, since ``::1:53`` is itself a valid IPv6 address.
    """
    host, port_text, bracketed = split_endpoint(text, stage, _SERVER_FORMS)
    text = text.strip() or repr(text)  # how the error line names it; never an empty target
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput(
            stage, text, f"not a numeric DNS server address; {_SERVER_FORMS}"
        ) from None
    if bracketed and address.version != 6:
        raise InvalidInput(stage, text, f"brackets are for IPv6 addresses; {_SERVER_FORMS}")
    scope = getattr(address, "scope_id", None)
    if scope and not scope.isdigit():
        try:
            socket.if_nametoindex(scope)
        except OSError:
            raise InvalidInput(stage, text, f"no network interface named {scope!r}") from None
    port = DNS_PORT
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
            raise InvalidInput(stage, text, "the DNS server's port must be a number 1-65535")
        port = int(port_text)
    return Server(str(address), port)


class ResolvConf(NamedTuple):
    """What /etc/resolv.conf tells the stub resolver."""

    servers: list[Server]
    search: list[str]
    ndots: int
    timeout: float


def read_resolv_conf(path: str = RESOLV_CONF) -> ResolvConf:
    """Read resolv.conf as glibc does (resolv.conf(5)).

    glibc's rules, kept because the view must ask what getaddrinfo asked:
    at most MAXNS nameservers, unparsable ones skipped; ``domain`` and
    ``search`` replace each other, the last wins; no nameserver at all means
    the local one (127.0.0.1).  The LOCALDOMAIN and RES_OPTIONS environment
    overrides are not applied (rare, and a hidden input to a diagnostic).
    """
    servers: list[Server] = []
    search: list[str] = []
    ndots, per_try = 1, RES_TIMEOUT
    try:
        with open(path, encoding="utf-8", errors="replace") as conf:
            lines = conf.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        key, args = words[0], words[1:]
        if key == "nameserver" and args and len(servers) < MAXNS:
            try:
                servers.append(Server(str(ipaddress.ip_address(args[0]))))
            except ValueError:
                continue
        elif key == "search" and args:
            search = args
        elif key == "domain" and args:
            search = args[:1]
        elif key == "options":
            for option in args:
                name, _, value = option.partition(":")
                if value.isdigit() and name == "ndots":
                    ndots = min(int(value), RES_MAXNDOTS)
                elif value.isdigit() and name == "timeout":
                    per_try = min(float(value), RES_MAXTIMEOUT) or 1.0
    return ResolvConf(servers or [Server("127.0.0.1")], search, ndots, per_try)


def names_to_ask(host: str, conf: ResolvConf | None) -> list[str]:
    """The absolute names the stub resolver tries for ``host``, in its order.

    glibc's res_search: a name with a trailing dot is only itself; a name
    with at least ``ndots`` dots is tried as it is first, then under each
    search domain; a shorter one under the search domains first.
    """
    bare = host.rstrip(".")
    if conf is None or host.endswith(".") or not conf.search:
        return [bare]
    searched = [f"{bare}.{domain.strip('.')}" for domain in conf.search if domain.strip(".")]
    if bare.count(".") >= conf.ndots:
        return [bare, *searched]
    return [*searched, bare]


# --- what came back ------------------------------------------------------------------


class Failure(NamedTuple):
    """Why a question got no DNS answer: ETIMEDOUT, an errno name, EBADNAME, ..."""

    code: str
    message: str

    def to_json(self) -> Fields:
        return {"code": self.code, "message": self.message}


class Record(NamedTuple):
    """One resource record of an answer section."""

    name: str
    type: str
    ttl: int
    data: str

    def to_json(self) -> Fields:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "data": self.data}


class Exchange(NamedTuple):
    """One question sent to one server, and its answer or the lack of one."""

    name: str
    qtype: str
    server: Server
    #: NOERROR, NXDOMAIN, NODATA, SERVFAIL, REFUSED, ...; None: no answer.
    rcode: str | None
    flags: list[str]
    elapsed: float
    tcp: bool
    records: list[Record]
    failure: Failure | None

    @property
    def ad(self) -> bool:
        return "AD" in self.flags

    def to_json(self) -> Fields:
        return {
            "name": self.name,
            "qtype": self.qtype,
            "server": self.server.endpoint(),
            "rcode": self.rcode,
            "flags": self.flags,
            "ad": self.ad,
            "tcp": self.tcp,
            "elapsed_ms": ms(self.elapsed),
            "records": [r.to_json() for r in self.records],
            "error": self.failure.to_json() if self.failure else None,
        }


class Link(NamedTuple):
    """One step of a CNAME chain."""

    name: str
    target: str
    ttl: int

    def to_json(self) -> Fields:
        return {"name": self.name, "target": self.target, "ttl": self.ttl}


class Answer(NamedTuple):
    """The outcome of one question after its CNAME chain was followed."""

    name: str
    qtype: str
    rcode: str | None
    chain: list[Link]
    records: list[Record]
    exchange: Exchange | None


def _same(a: str, b: str) -> bool:
    """DNS names compare without regard to ASCII case (RFC 4343)."""
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def _address_key(address: str) -> str:
    """Compare addresses as addresses: ``::ffff:192.0.2.1`` is 192.0.2.1, case and zeros aside."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.compressed


def _load_dnspython() -> None:
    """Import what the queries need before any clock starts: the import (tens
    of milliseconds) is not the server's time."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.reversename  # noqa: F401


def _send(name: str, qtype: str, server: Server, timeout: float | None, clock: Clock) -> Exchange:
    """Ask ``server`` one question (UDP, TCP when truncated); never raises for network trouble."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    start = clock()
    tcp = False
    response: dns.message.Message | None = None
    failure: Failure | None = None
    try:
        query = dns.message.make_query(name + ".", qtype, use_edns=0, payload=EDNS_PAYLOAD)
        query.flags |= dns.flags.AD
        response = dns.query.udp(query, server.address, timeout=timeout, port=server.port,
                                 ignore_unexpected=True)
        if response.flags & dns.flags.TC:
            tcp = True
            left = None if timeout is None else max(timeout - (clock() - start), 0.001)
            response = dns.query.tcp(query, server.address, timeout=left, port=server.port)
    except dns.exception.Timeout:
        failure = Failure("ETIMEDOUT", f"no answer from {server.endpoint()}"
                          + (f" within {timeout:.3g} s" if timeout is not None else ""))
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "EIO")
        failure = Failure(code, f"cannot ask {server.endpoint()}: {exc.strerror or exc}")
    except dns.exception.DNSException as exc:
        failure = Failure("EBADRESP", f"unusable answer from {server.endpoint()}: {exc}")
    elapsed = clock() - start
    if response is None:
        return Exchange(name, qtype, server, None, [], elapsed, tcp, [], failure)

    records: list[Record] = []
    for rrset in response.answer:
        for rdata in rrset:
            pointed = getattr(rdata, "target", None)  # CNAME, PTR, DNAME: a name
            records.append(Record(
                rrset.name.to_text(omit_final_dot=True),
                dns.rdatatype.to_text(rrset.rdtype),
                int(rrset.ttl),
                pointed.to_text(omit_final_dot=True) if pointed is not None else rdata.to_text(),
            ))
    rcode = dns.rcode.to_text(response.rcode())
    if rcode == "NOERROR" and not any(r.type in (qtype, "CNAME") for r in records):
        rcode = "NODATA"
    flags = dns.flags.to_text(response.flags).split()
    return Exchange(name, qtype, server, rcode, flags, elapsed, tcp, records, None)


class Asker:
    """Asks questions of a list of servers against one deadline, keeping every exchange.

    Like the stub resolver it tries the servers in order, moving on when one
    does not answer or answers SERVFAIL/REFUSED.  A server that is not the
    last gets at most ``per_try`` seconds, so a dead first server leaves
    time for the second; the last one gets whatever is left.
    """

    def __init__(self, servers: Sequence[Server], timeout: float | None,
                 per_try: float | None, clock: Clock = monotonic) -> None:
        _load_dnspython()
        self.servers = list(servers)
        self.clock = clock
        self.timeout = timeout
        self.deadline = None if timeout is None else clock() + timeout
        self.per_try = per_try
        self.exchanges: list[Exchange] = []
        self.timed_out = False

    def ask(self, name: str, qtype: str) -> Exchange | None:
        """The deciding exchange for one question, or None when the deadline had passed."""
        last: Exchange | None = None
        for position, server in enumerate(self.servers):
            budget = None if self.deadline is None else self.deadline - self.clock()
            if budget is not None and budget <= 0:
                break
            if self.per_try is not None and position < len(self.servers) - 1:
                budget = self.per_try if budget is None else min(budget, self.per_try)
            exchange = _send(name, qtype, server, budget, self.clock)
            self.exchanges.append(exchange)
            if last is None or exchange.rcode is not None or last.rcode is None:
                last = exchange
            if exchange.rcode is not None and exchange.rcode not in _TRY_NEXT:
                break
        if last is None or (last.rcode is None and self._expired()):
            self.timed_out = True
        return last

    def _expired(self) -> bool:
        # dnspython measures its timeout on another clock: allow it a millisecond.
        return self.deadline is not None and self.deadline - self.clock() < 0.001

    def follow(self, name: str, qtype: str) -> Answer:
        """Ask ``qtype`` for ``name`` and follow its CNAME chain to the end.

        Servers usually put the whole chain in one answer; when the chain
        stops short of the records (the server was not authoritative for the
        target), the end of the chain is asked again, as a stub resolver does.
        """
        chain: list[Link] = []
        seen = {name.lower()}
        current = name
        while True:
            exchange = self.ask(current, qtype)
            if exchange is None or exchange.rcode is None:
                return Answer(name, qtype, None, chain, [], exchange)
            owner, looped = current, False
            while not looped and len(chain) < MAX_CNAME_CHAIN:
                link = next((r for r in exchange.records
                             if r.type == "CNAME" and _same(r.name, owner)), None)
                if link is None:
                    break
                chain.append(Link(link.name, link.data, link.ttl))
                owner = link.data
                looped = owner.lower() in seen
                seen.add(owner.lower())
            records = [r for r in exchange.records if r.type == qtype and _same(r.name, owner)]
            rcode = exchange.rcode
            stopped_short = (rcode == "NOERROR" and not records and not _same(owner, current)
                             and not looped and len(chain) < MAX_CNAME_CHAIN)
            if not stopped_short:
                if rcode == "NOERROR" and not records:
                    rcode = "NODATA"
                return Answer(name, qtype, rcode, chain, records, exchange)
            current = owner

    def failure(self) -> Failure | None:
        """Why nothing was answered: the deadline, or the last network error."""
        if self.timed_out:
            servers = ", ".join(s.endpoint() for s in self.servers)
            within = f" within {self.timeout:g} s" if self.timeout is not None else ""
            return Failure("ETIMEDOUT", f"no answer from {servers}{within}")
        if any(e.rcode is not None for e in self.exchanges):
            return None
        return next((e.failure for e in reversed(self.exchanges) if e.failure), None)


def _overall_rcode(answers: Sequence[Answer]) -> str | None:
    if any(a.records for a in answers):
        return "NOERROR"
    rcodes = {a.rcode for a in answers if a.rcode is not None}
    for rcode in _RCODE_PRIORITY:
        if rcode in rcodes:
            return rcode
    return next(iter(sorted(rcodes)), None)


def _summary(exchanges: Sequence[Exchange]) -> tuple[Server | None, bool]:
    """The server whose answer counts (the last that answered) and the AD flag.

    AD is true only if every answer was authenticated: one unvalidated answer
    is enough for an attacker to change what the view shows.
    """
    answered = [e for e in exchanges if e.rcode is not None]
    server = answered[-1].server if answered else None
    return server, bool(answered) and all(e.ad for e in answered)


def _error_for(rcode: str | None, failure: Failure | None, stage: str, where: str,
               name: str, server: Server | None, what: str) -> NetprobeError | None:
    """The one place a DNS outcome becomes an exception (and so an exit status).

    REFUSED is exit 3, not 5: the server answered at once and definitively
    ("I will not resolve this for you"), so it is a failed resolution, and
    waiting longer would not change it; 5 is kept for silence.
    """
    if failure is not None:
        kind = {"ETIMEDOUT": TimedOut, "EBADNAME": InvalidInput}.get(failure.code, ResolutionFailed)
        return kind(stage, where, failure.message, failure.code)
    frm = f" from {server.endpoint()}" if server else ""
    messages = {
        "NXDOMAIN": f"{name} does not exist (NXDOMAIN{frm})",
        "NODATA": f"{name} exists but has no {what} record (NODATA{frm})",
        "SERVFAIL": f"the server failed to resolve {name} (SERVFAIL{frm})",
        "REFUSED": f"the server refused to resolve {name} (REFUSED{frm})",
    }
    if rcode is None or rcode == "NOERROR":
        return None
    return ResolutionFailed(stage, where, messages.get(rcode, f"{name}: {rcode}{frm}"), rcode)


def _servers_and_conf(
    server: Server | None,
) -> tuple[list[Server], ResolvConf | None, float | None]:
    """The servers to ask, the configuration naming them, and the per-server try time."""
    if server is not None:
        return [server], None, None
    conf = read_resolv_conf()
    return conf.servers, conf, conf.timeout


def _numeric(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _dns_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be asked of DNS (empty label, bad IDNA, ...), or None."""
    import dns.exception
    import dns.name

    try:
        dns.name.from_text(name + ".")
    except (dns.exception.DNSException, UnicodeError) as exc:
        return f"not a valid DNS name: {exc}"
    return None


# --- forward: resolve --dns, connect --server ----------------------------------------


class DnsAddress(NamedTuple):
    """An address DNS gave, with the record's owner name and TTL."""

    address: str
    family: int
    ttl: int
    name: str


class _Asked(Protocol):
    """What a forward and a reverse lookup both know about the asking."""

    @property
    def name(self) -> str: ...
    @property
    def server(self) -> Server | None: ...
    @property
    def rcode(self) -> str | None: ...
    @property
    def ad(self) -> bool: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def exchanges(self) -> list[Exchange]: ...
    @property
    def chain(self) -> list[Link]: ...
    @property
    def failure(self) -> Failure | None: ...


def _asked_json(lookup: _Asked) -> Fields:
    """The fields a forward and a reverse ``dns`` object share."""
    return {
        "name": lookup.name,
        "server": lookup.server.endpoint() if lookup.server else None,
        "rcode": lookup.rcode,
        "ad": lookup.ad,
        "elapsed_ms": ms(lookup.elapsed),
        "queries": [e.to_json() for e in lookup.exchanges],
        "cname_chain": [link.to_json() for link in lookup.chain],
        "error": lookup.failure.to_json() if lookup.failure else None,
    }


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
    server: Server | None
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
        return _error_for(rcode, self.failure, stage, where, self.name, self.server,
                          "/".join(self.qtypes))

    def to_json(self, resolution: Resolution | None, *, compare: bool = True) -> Fields:
        """The ``dns`` object; with ``compare``, each address is marked against getaddrinfo's."""
        return {
            **_asked_json(self),
            "numeric": self.numeric,
            "addresses": self.marked(resolution) if compare else [
                {"address": a.address, "family": family_name(a.family), "ttl": a.ttl,
                 "name": a.name, "source": "dns"} for a in self.addresses
            ],
        }

    def marked(self, resolution: Resolution | None) -> list[Fields]:
        """Every address once: getaddrinfo's in its order, then DNS's own, each marked."""
        from_dns = {_address_key(a.address): a for a in self.addresses}
        entries: list[Fields] = []
        seen: set[str] = set()
        for candidate in resolution.candidates if resolution else []:
            key = _address_key(candidate.address)
            if key in seen:  # one entry per socktype in getaddrinfo's list
                continue
            seen.add(key)
            record = from_dns.get(key)
            entries.append({
                "address": candidate.address,
                "family": family_name(candidate.family),
                "ttl": record.ttl if record else None,
                "name": record.name if record else None,
                "source": "both" if record else "getaddrinfo only",
            })
        for key, record in from_dns.items():
            if key not in seen:
                entries.append({"address": record.address, "family": family_name(record.family),
                                "ttl": record.ttl, "name": record.name, "source": "dns only"})
        return entries


def lookup_forward(host: str, family: int, server: Server | None, timeout: float | None,
                   *, clock: Clock = monotonic) -> ForwardLookup:
    """Ask DNS for ``host``'s A and/or AAAA records (as ``family`` asks), CNAMEs followed.

    Never raises for what DNS does: timeouts, network errors and a name DNS
    cannot carry are in ``failure``; ``error()`` turns them into exceptions.
    """
    qtypes = [_ADDRESS_TYPES[family]] if family in _ADDRESS_TYPES else ["A", "AAAA"]
    if _numeric(host) is not None:
        # A numeric host is parsed, not looked up: there is nothing to ask DNS.
        return ForwardLookup(host, host, qtypes, True, [], [], [], None, None, False, 0.0, None)
    problem = _dns_name_problem(host.rstrip(".")) if host.strip(".") else "no host name to ask"
    if problem:
        return ForwardLookup(host, host, qtypes, False, [], [], [], None, None, False, 0.0,
                             Failure("EBADNAME", problem))
    servers, conf, per_try = _servers_and_conf(server)
    asker = Asker(servers, timeout, per_try, clock)
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
    answered_server, ad = _summary(asker.exchanges)
    return ForwardLookup(
        host=host,
        name=answers[0].name if found else host.rstrip("."),
        qtypes=qtypes,
        numeric=False,
        exchanges=asker.exchanges,
        chain=chain if found else [link for a in tried for link in a.chain],
        addresses=addresses,
        rcode=_overall_rcode(tried),
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
    server: str | Server,
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
    chosen = server if isinstance(server, Server) else parse_server(server)
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
    _load_dnspython()
    start = clock()
    lookup = lookup_forward(host, hints.family, chosen, timeout, clock=clock)
    error = lookup.error(stage, where, need_addresses=True)
    if error is not None:
        error.extra = {"dns": lookup.to_json(None, compare=False)}
        raise error
    numeric = _numeric(host) is not None
    found: list[tuple[int, str, int, int]]  # family, address, flowinfo, scope_id
    if numeric:
        extra["source"] = "numeric"
        sockaddr = numeric_sockaddr(host, port, stage)
        v6 = len(sockaddr) == 4
        found = [(socket.AF_INET6 if v6 else socket.AF_INET, str(sockaddr[0]),
                  cast(int, sockaddr[2]) if v6 else 0, cast(int, sockaddr[3]) if v6 else 0)]
    else:
        found = sorted(((a.family, a.address, 0, 0) for a in lookup.addresses),
                       key=lambda entry: entry[0] != socket.AF_INET6)
    canonname = ""
    if hints.flags & AI_FLAGS["canonname"][1]:
        canonname = lookup.chain[-1].target if lookup.chain else lookup.name
    candidates: list[Candidate] = []
    for index, (family, address, flowinfo, scope_id) in enumerate(found):
        candidate = Candidate(index, family, socktype, protocol, canonname if index == 0 else "",
                              address, port, flowinfo, scope_id)
        candidates.append(candidate)
        trace("candidate", {"candidate": candidate.to_json()})
    result = Resolution(host, service, hints, candidates, canonname or None, clock() - start)
    view = None if numeric else lookup.to_json(None, compare=False)
    trace("resolved", {**result.to_json(), **extra, "dns": view})
    return result


# --- reverse: PTR and forward confirmation ---------------------------------------------


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
    server: Server | None
    ad: bool
    elapsed: float
    failure: Failure | None

    @property
    def confirmed(self) -> bool:
        """FCrDNS holds: some PTR name's A/AAAA records include the address."""
        return any(p.confirmed for p in self.ptr)

    def error(self, stage: str, where: str) -> NetprobeError | None:
        """Only no answer at all is an error; NXDOMAIN for the PTR name is an answer."""
        return _error_for(None, self.failure, stage, where, self.name, self.server, "PTR")

    def unconfirmed_reason(self) -> str:
        frm = f" from {self.server.endpoint()}" if self.server else ""
        if not self.ptr:
            return f"no PTR record for {self.address} ({self.rcode or 'no answer'}{frm})"
        names = ", ".join(p.name for p in self.ptr)
        return f"no PTR name maps back to {self.address} (checked {names})"

    def to_json(self) -> Fields:
        return {
            **_asked_json(self),
            "ptr": [p.to_json() for p in self.ptr],
            "confirmed": self.confirmed,
        }


def lookup_reverse(address: str, server: Server | None, timeout: float | None,
                   *, clock: Clock = monotonic) -> ReverseLookup:
    """PTR records for ``address`` and, for each name, whether its A/AAAA include it.

    The PTR name's CNAME chain is followed (RFC 2317 classless delegation
    is built on CNAMEs).  Only the address's own family is asked forward:
    FCrDNS asks whether the name maps back to *this* address.
    """
    import dns.reversename

    ip = _numeric(address)
    if ip is None:
        raise InvalidInput("reverse", address, "not a numeric IPv4 or IPv6 address")
    name = dns.reversename.from_address(str(ip)).to_text(omit_final_dot=True)
    qtype = "AAAA" if ip.version == 6 else "A"
    servers, _, per_try = _servers_and_conf(server)
    asker = Asker(servers, timeout, per_try, clock)
    start = clock()
    answer = asker.follow(name, "PTR")
    ptr: list[PtrName] = []
    for record in answer.records:
        if asker.timed_out:
            break
        forward = asker.follow(record.data, qtype)
        found = [r.data for r in forward.records]
        confirmed = _address_key(str(ip)) in {_address_key(a) for a in found}
        ptr.append(PtrName(record.data, record.ttl, forward.rcode, found, confirmed))
    answered_server, ad = _summary(asker.exchanges)
    return ReverseLookup(address, name, asker.exchanges, answer.chain, answer.rcode, ptr,
                         answered_server, ad, clock() - start, asker.failure())



# --- how resolve and reverse finish ------------------------------------------------------


def emit_or_raise(trace: Trace, event: str, fields: Fields, error: NetprobeError | None,
                  *, json: bool, keep: Sequence[str]) -> None:
    """Emit the command's one result event, or raise ``error`` carrying it.

    The SPEC gives ``resolve`` and ``reverse`` exactly one JSON line, so on
    failure under ``--json`` the ``error`` event carries the result's
    ``keep`` fields (the DNS view, getaddrinfo's candidates) instead of a
    second line; people see the result and then the one-line error.
    """
    if error is None:
        trace(event, fields)
        return
    if not json:
        trace(event, fields)
    error.extra = {key: fields[key] for key in keep if key in fields}
    raise error
