"""The ``dns`` source: the names glibc's stub resolver asks, and what DNS said to each.

The questions go out through the DNS view's ``Asker`` (dnspython, imported
only here and only when the ``dns`` source is actually reached, so an
answer from /etc/hosts costs no DNS import).  Answers are cached per
(name, type): predicting the AI_ADDRCONFIG-removed candidates walks the
sources a second time without asking again.

How nss_dns turns answers into a status and addresses:

* getaddrinfo with AF_UNSPEC uses gethostbyname4_r: A and AAAA are asked
  together for each name of the search order; a name where either has
  records ends the search; the A records come first, then the AAAA ones.
  With one family (or AF_INET6 + AI_V4MAPPED) each family is a search of
  its own (gethostbyname2_r), AAAA first.
* NXDOMAIN or NODATA everywhere: NOTFOUND.  No answer or a server failure:
  TRYAGAIN.  ``options no-aaaa`` never asks AAAA.
* Beside the status, the h_errno res_search leaves, which getaddrinfo
  turns into its error when this was the last source asked (``failure``):
  NO_DATA (the name exists, without such records) ends as EAI_NODATA,
  TRY_AGAIN (no answer, SERVFAIL) as EAI_AGAIN, HOST_NOT_FOUND as
  EAI_NONAME.
"""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

from netprobe.events import Fields, Trace, no_trace
from netprobe.explain.hosts import MAPPED_PREFIX
from netprobe.explain.nsswitch import combine
from netprobe.explain.resolvconf import StubConf, search_plan

_QTYPE_FAMILY = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}
#: rcodes after which res_search tries the next search domain.
_KEEP_SEARCHING = frozenset({"NXDOMAIN", "NODATA", "SERVFAIL"})


def h_errno(rcodes: list[str | None]) -> str:
    """The h_errno of one name asked (__res_context_query): with A and AAAA asked
    together, the A answer's rcode decides unless it is NOERROR."""
    rcode = rcodes[0]
    if rcode in ("NOERROR", "NODATA") and len(rcodes) > 1:
        rcode = rcodes[1]
    if rcode == "NXDOMAIN":
        return "HOST_NOT_FOUND"
    if rcode in ("NOERROR", "NODATA"):
        return "NO_DATA"
    if rcode == "FORMERR":
        return "NO_RECOVERY"
    # No answer, SERVFAIL, REFUSED, NOTIMP: res_send gave up on every server.
    return "TRY_AGAIN"


def _no_data(herrno: str) -> str | int:
    """get_nss_addresses' ``no_data`` for a call that found nothing."""
    return "EAI_AGAIN" if herrno == "TRY_AGAIN" else int(herrno == "NO_DATA")


def failure(no_inet6_data: str | int, no_data: str | int) -> str:
    """getaddrinfo's error when its last source found nothing (get_nss_addresses)."""
    if no_data and no_inet6_data:
        both_again = no_data == "EAI_AGAIN" and no_inet6_data == "EAI_AGAIN"
        return "EAI_AGAIN" if both_again else "EAI_NODATA"
    return "EAI_NONAME"


class Asked(NamedTuple):
    name: str
    qtype: str
    rcode: str | None  # None: no answer
    addresses: list[str]
    why: str

    def to_json(self) -> Fields:
        return {"name": self.name, "qtype": self.qtype, "rcode": self.rcode,
                "addresses": self.addresses, "why": self.why}


class DnsModel:
    """Asks (once) what the stub resolver would ask, following its search order."""

    def __init__(self, conf: StubConf, timeout: float | None,
                 trace: Trace = no_trace) -> None:
        self.conf = conf
        self.trace = trace
        self.timeout = timeout
        self._asker: Any = None
        self._cache: dict[tuple[str, str], tuple[str | None, list[str]]] = {}

    def _ask(self, name: str, qtype: str) -> tuple[str | None, list[str]]:
        key = (name.lower(), qtype)
        if key not in self._cache:
            if self._asker is None:
                from netprobe.dnsview import Asker, DnsServer

                servers = [DnsServer(address) for address in self.conf.servers]
                per_try = self.conf.timeout if len(servers) > 1 else None
                self._asker = Asker(servers, self.timeout, per_try, trace=self.trace)
            if self._asker.timed_out:
                self._cache[key] = (None, [])
            else:
                answer = self._asker.follow(name, qtype)
                self._cache[key] = (answer.rcode, [r.data for r in answer.records])
        return self._cache[key]

    def ask_ptr(self, name: str) -> tuple[str | None, list[str]]:
        """(rcode, the PTR targets) for a reverse name, asked as it is."""
        return self._ask(name, "PTR")

    def search(self, host: str, qtypes: list[str]) -> tuple[str, list[tuple[int, bytes]],
                                                             list[Asked], str]:
        """One res_search for ``qtypes`` asked together: (status, addresses, what was
        asked, the h_errno it leaves when nothing was found)."""
        qtypes = [q for q in qtypes if not (q == "AAAA" and self.conf.no_aaaa)]
        asked: list[Asked] = []
        if not qtypes:
            return "NOTFOUND", [], asked, "NO_DATA"
        steps, trailing, _ = search_plan(host, self.conf)
        saw_failure = False
        stop_searching = False
        # res_search's h_errno: an as-is query asked before the search list keeps
        # its own; else NO_DATA from any search domain, else TRY_AGAIN for a
        # SERVFAIL there, else the last query's.
        saved: str | None = None
        searched = got_nodata = got_servfail = False
        herrno = "HOST_NOT_FOUND"
        for step in steps:
            searching = step.why.startswith("search")
            if searching and stop_searching:
                continue
            answers = [(q, *self._ask(step.name.rstrip(".") or ".", q)) for q in qtypes]
            for qtype, rcode, addresses in answers:
                asked.append(Asked(step.name, qtype, rcode, addresses, step.why))
            found: list[tuple[int, bytes]] = []
            for qtype, _, addresses in answers:
                family = _QTYPE_FAMILY[qtype]
                for text in addresses:
                    found.append((family, socket.inet_pton(family, text)))
            if found:
                return "SUCCESS", found, asked, "NETDB_SUCCESS"
            herrno = h_errno([rcode for _, rcode, _ in answers])
            if searching:
                searched = True
                got_nodata = got_nodata or herrno == "NO_DATA"
                got_servfail = got_servfail or any(r == "SERVFAIL" for _, r, _ in answers)
            elif not searched:
                saved = herrno
            rcodes = {rcode for _, rcode, _ in answers}
            if rcodes - _KEEP_SEARCHING:
                saw_failure = True
                if searching:
                    stop_searching = True
            if "SERVFAIL" in rcodes:
                saw_failure = True
            if trailing:
                break
        if saved is not None:
            herrno = saved
        elif got_nodata:
            herrno = "NO_DATA"
        elif got_servfail:
            herrno = "TRY_AGAIN"
        return ("TRYAGAIN" if saw_failure else "NOTFOUND"), [], asked, herrno

    def lookup(self, host: str, family: int, v4mapped: bool, all_flag: bool
               ) -> tuple[str, list[tuple[int, bytes]], list[Asked], bool, str]:
        """getaddrinfo's calls into nss_dns: (status, addresses, asked, got_ipv6, and the
        error getaddrinfo ends with if this source is the last and found nothing)."""
        if family == socket.AF_UNSPEC:
            status, both_found, both_asked, herrno = self.search(host, ["A", "AAAA"])
            return status, both_found, both_asked, False, failure(_no_data(herrno),
                                                                  _no_data(herrno))
        asked: list[Asked] = []
        found: list[tuple[int, bytes]] = []
        v6_status = v4_status = "UNAVAIL"
        got_ipv6 = False
        no_inet6_data: str | int = 0
        no_data: str | int = 0
        if family == socket.AF_INET6:
            v6_status, v6_found, v6_asked, herrno = self.search(host, ["AAAA"])
            asked += v6_asked
            found += v6_found
            got_ipv6 = bool(v6_found)
            no_inet6_data = no_data = 0 if v6_found else _no_data(herrno)
        if family == socket.AF_INET or (family == socket.AF_INET6 and v4mapped
                                        and (all_flag or not got_ipv6)):
            v4_status, v4_found, v4_asked, herrno = self.search(host, ["A"])
            no_data = 0 if v4_found else _no_data(herrno)
            if family == socket.AF_INET:
                no_inet6_data = no_data
            asked += v4_asked
            if family == socket.AF_INET6:
                v4_found = [(socket.AF_INET6, MAPPED_PREFIX + p)
                            for _, p in v4_found]
                if v4_found:
                    got_ipv6 = False
            found += v4_found
            if family == socket.AF_INET:
                v6_status = v4_status
        return (combine(v6_status, v4_status), found, asked, got_ipv6,
                failure(no_inet6_data, no_data))

