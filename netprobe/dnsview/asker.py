"""The query layer: one question to one server (``send``), and ``Asker``, which asks
a list of servers against one deadline and keeps every exchange.

What came back is kept as it came (``Exchange``, ``Record``, ``Link``,
``Answer``, ``Failure``); ``error_for`` is the one place a DNS outcome
becomes an exception, and so an exit status.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from netprobe.dnsview.servers import DnsServer
from netprobe.errors import InvalidInput, NetprobeError, ResolutionFailed, TimedOut
from netprobe.events import Clock, Fields, Trace, monotonic, ms, no_trace

#: EDNS0 UDP payload size: the DNS Flag Day 2020 value, which avoids fragmentation.
EDNS_PAYLOAD = 1232
#: Longest CNAME chain followed.  BIND and Unbound stop at similar depths; a
#: longer chain is a misconfiguration (or a loop through names not yet seen).
MAX_CNAME_CHAIN = 16

#: rcodes after which the stub resolver asks the next server (glibc res_send
#: does so for SERVFAIL, NOTIMP and REFUSED): the server could not or would
#: not answer, which says nothing about the name.
_TRY_NEXT = frozenset({"SERVFAIL", "NOTIMP", "REFUSED", "FORMERR"})

#: Which outcome a lookup reports when no question found an address: the
#: most actionable first.  A server failure hides whether the name exists;
#: NODATA beats NXDOMAIN as glibc's res_search does (some name existed).
_RCODE_PRIORITY = ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR", "NODATA", "NXDOMAIN")


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
    server: DnsServer
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


def same_name(a: str, b: str) -> bool:
    """DNS names compare without regard to ASCII case (RFC 4343)."""
    return a.lower().rstrip(".") == b.lower().rstrip(".")


def address_key(address: str) -> str:
    """Compare addresses as addresses: ``::ffff:192.0.2.1`` is 192.0.2.1, case and zeros aside."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.compressed


def load_dnspython() -> None:
    """Import what the queries need before any clock starts: the import (tens
    of milliseconds) is not the server's time."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.reversename  # noqa: F401


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


# Design decision: netprobe opens, connects and closes the DNS view's
# sockets itself, through the wrappers of ``netprobe.syscalls``, and hands
# them to dnspython (``sock=``), so ``--syscalls`` shows them like any other
# socket of netprobe's.  The calls are the ones dnspython would have made
# (socket, ioctl(FIONBIO), for TCP a non-blocking connect + poll +
# getsockopt(SO_ERROR)), whether they are shown or not.  Two differences
# from dnspython's own sockets, both invisible on the wire: the protocol is
# named (IPPROTO_UDP/IPPROTO_TCP, where dnspython passes 0: the kernel makes
# the same socket), which tells netprobe's UDP sockets apart from the ones
# glibc opens with 0 inside getaddrinfo; and the wait for the TCP connect is
# a poll() rather than dnspython's epoll.  The data calls stay dnspython's
# (sendto/recvfrom for UDP, send/recv for TCP, each wait an epoll set of
# its own): they are not reported (README, --syscalls).
def _udp_socket(trace: Trace, server: DnsServer) -> socket.socket:
    from netprobe import syscalls

    sock = syscalls.sys_socket(trace, _family(server.address), socket.SOCK_DGRAM,
                               socket.IPPROTO_UDP)
    try:
        syscalls.sys_setblocking(trace, sock, False)
    except OSError:
        syscalls.sys_close(trace, sock)
        raise
    return sock


def _tcp_socket(trace: Trace, server: DnsServer, timeout: float | None) -> socket.socket:
    """A connected TCP socket to ``server``; dns.exception.Timeout when the connect ran out."""
    import dns.exception

    from netprobe import syscalls
    from netprobe.syscalls.connecting import connect_with_timeout

    sock = syscalls.sys_socket(trace, _family(server.address), socket.SOCK_STREAM,
                               socket.IPPROTO_TCP)
    try:
        number = connect_with_timeout(trace, sock, (server.address, server.port), timeout)
        if number == errno.ETIMEDOUT and timeout is not None:
            raise dns.exception.Timeout
        if number:
            raise OSError(number, os.strerror(number))
    except BaseException:
        syscalls.sys_close(trace, sock)
        raise
    return sock


def send(name: str, qtype: str, server: DnsServer, timeout: float | None, clock: Clock,
         trace: Trace = no_trace) -> Exchange:
    """Ask ``server`` one question (UDP, TCP when truncated); never raises for network trouble."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    from netprobe import syscalls

    start = clock()
    tcp = False
    response: dns.message.Message | None = None
    failure: Failure | None = None
    try:
        query = dns.message.make_query(name + ".", qtype, use_edns=0, payload=EDNS_PAYLOAD)
        query.flags |= dns.flags.AD
        udp = _udp_socket(trace, server)
        try:
            response = dns.query.udp(query, server.address, timeout=timeout, port=server.port,
                                     ignore_unexpected=True, sock=udp)
        finally:
            syscalls.sys_close(trace, udp)
        if response.flags & dns.flags.TC:
            tcp = True
            left = None if timeout is None else max(timeout - (clock() - start), 0.001)
            deadline = None if left is None else clock() + left
            stream = _tcp_socket(trace, server, left)
            try:
                left = None if deadline is None else max(deadline - clock(), 0.001)
                response = dns.query.tcp(query, server.address, timeout=left,
                                         port=server.port, sock=stream)
            finally:
                syscalls.sys_close(trace, stream)
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
        return Exchange(name=name, qtype=qtype, server=server, rcode=None, flags=[],
                        elapsed=elapsed, tcp=tcp, records=[], failure=failure)

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
    return Exchange(name=name, qtype=qtype, server=server, rcode=rcode, flags=flags,
                    elapsed=elapsed, tcp=tcp, records=records, failure=None)


class Asker:
    """Asks questions of a list of servers against one deadline, keeping every exchange.

    Like the stub resolver it tries the servers in order, moving on when one
    does not answer or answers SERVFAIL/REFUSED.  A server that is not the
    last gets at most ``per_try`` seconds, so a dead first server leaves
    time for the second; the last one gets whatever is left.
    """

    def __init__(self, servers: Sequence[DnsServer], timeout: float | None,
                 per_try: float | None, clock: Clock = monotonic,
                 trace: Trace = no_trace) -> None:
        load_dnspython()
        #: Where the sockets' calls are reported (``--syscalls``).
        self.trace = trace
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
            exchange = send(name, qtype, server, budget, self.clock, self.trace)
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
                             if r.type == "CNAME" and same_name(r.name, owner)), None)
                if link is None:
                    break
                chain.append(Link(link.name, link.data, link.ttl))
                owner = link.data
                looped = owner.lower() in seen
                seen.add(owner.lower())
            records = [r for r in exchange.records if r.type == qtype and same_name(r.name, owner)]
            rcode = exchange.rcode
            stopped_short = (rcode == "NOERROR" and not records and not same_name(owner, current)
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


def overall_rcode(answers: Sequence[Answer]) -> str | None:
    if any(a.records for a in answers):
        return "NOERROR"
    rcodes = {a.rcode for a in answers if a.rcode is not None}
    for rcode in _RCODE_PRIORITY:
        if rcode in rcodes:
            return rcode
    return next(iter(sorted(rcodes)), None)


def answered_by(exchanges: Sequence[Exchange]) -> tuple[DnsServer | None, bool]:
    """The server whose answer counts (the last that answered) and the AD flag.

    AD is true only if every answer was authenticated: one unvalidated answer
    is enough for an attacker to change what the view shows.
    """
    answered = [e for e in exchanges if e.rcode is not None]
    server = answered[-1].server if answered else None
    return server, bool(answered) and all(e.ad for e in answered)


def error_for(rcode: str | None, failure: Failure | None, stage: str, where: str,
               name: str, server: DnsServer | None, what: str) -> NetprobeError | None:
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



def numeric_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def dns_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be asked of DNS (empty label, bad IDNA, ...), or None."""
    import dns.exception
    import dns.name

    try:
        dns.name.from_text(name + ".")
    except (dns.exception.DNSException, UnicodeError) as exc:
        return f"not a valid DNS name: {exc}"
    return None


class Asked(Protocol):
    """What a forward and a reverse lookup both know about the asking."""

    @property
    def name(self) -> str: ...
    @property
    def server(self) -> DnsServer | None: ...
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


def asked_json(lookup: Asked) -> Fields:
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
