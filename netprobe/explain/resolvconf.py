"""What the stub resolver asks, and in which order (glibc res_init.c + res_query.c).

The DNS view has its own reader of /etc/resolv.conf; the explanation needs
the parts that decide *which names* are asked, including the ones the view
leaves out on purpose (a diagnostic of DNS asks what the user typed; an
explanation of getaddrinfo must ask what getaddrinfo asked):

* ``search`` and ``domain`` replace each other, the last line wins; without
  either, the domain part of the host name (after its first dot) is the
  search list.  LOCALDOMAIN in the environment replaces both (blank
  separated), RES_OPTIONS is applied after the file's ``options``.
* ``ndots:N`` (capped at 15), ``no-aaaa`` (no AAAA question is sent at
  all), ``no-tld-query`` (a name without dots is never asked as it is).
* res_search's order: a name with a trailing dot is asked as it is and
  nothing else; a name with at least ndots dots is asked as it is first;
  then each search domain is appended, until one answers; then the bare
  name, if not yet asked (and not with no-tld-query when it has no dot).
  NXDOMAIN, NODATA and SERVFAIL move on to the next search domain; any
  other failure (REFUSED, no answer) ends the search list.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping

from netprobe.explain.problems import Problem, read_lines
from netprobe.record import Record, field

RESOLV_CONF = "/etc/resolv.conf"
#: glibc: at most three servers (MAXNS), ndots capped at RES_MAXNDOTS.
MAXNS = 3
RES_MAXNDOTS = 15


_KEYWORDS = ("domain", "search", "nameserver", "options")


class StubConf(Record):
    __slots__ = ()
    _fields = ("servers", "search", "ndots", "no_aaaa", "no_tld_query", "timeout")
    servers: list[str] = field(0)
    search: list[str] = field(1)
    ndots: int = field(2)
    no_aaaa: bool = field(3)
    no_tld_query: bool = field(4)
    timeout: float = field(5)

    def __new__(cls, servers: list[str], search: list[str], ndots: int, no_aaaa: bool, no_tld_query:
                bool, timeout: float) -> StubConf:
        return tuple.__new__(cls, (servers, search, ndots, no_aaaa, no_tld_query, timeout))


def _apply_options(text: str, conf: StubConf) -> StubConf:
    for option in text.split():
        name, colon, value = option.partition(":")
        number = int(value) if colon and value.isdigit() else 0
        if name == "ndots" and colon:
            conf = conf._replace(ndots=min(number, RES_MAXNDOTS))
        elif name == "timeout" and colon:
            conf = conf._replace(timeout=float(min(number, 30)) or 1.0)
        elif option.startswith("no-aaaa"):
            conf = conf._replace(no_aaaa=True)
        elif option.startswith(("no_tld_query", "no-tld-query")):
            conf = conf._replace(no_tld_query=True)
    return conf


def read_stub_conf(path: str = RESOLV_CONF, problems: list[Problem] | None = None,
                   environ: Mapping[str, str] | None = None,
                   hostname: str | None = None) -> StubConf:
    problems = problems if problems is not None else []
    environ = os.environ if environ is None else environ
    conf = StubConf([], [], 1, False, False, 5.0)
    local_domain = environ.get("LOCALDOMAIN")
    search: list[str] = local_domain.split() if local_domain is not None else []
    for number, line in enumerate(read_lines(path, problems) or [], 1):
        if line.startswith(("#", ";")):
            continue
        # glibc's MATCH: the keyword at the very start, then a blank.
        key = next((k for k in _KEYWORDS if line.startswith(k)
                    and line[len(k):len(k) + 1] in (" ", "\t")), None)
        rest = line[len(key) + 1:] if key else ""
        if key in ("domain", "search") and local_domain is None:
            words = rest.split()
            if words:
                search = words[:1] if key == "domain" else words
        elif key == "nameserver":
            words = rest.split()
            if not words:
                continue
            try:
                address = str(ipaddress.ip_address(words[0].partition("%")[0]))
            except ValueError:
                problems.append(Problem(path, number, f"nameserver {words[0]!r} is not a "
                                        "numeric address; skipped"))
                continue
            if len(conf.servers) < MAXNS:
                conf.servers.append(address)
        elif key == "options":
            conf = _apply_options(rest, conf)
    if not search and local_domain is None:
        name = hostname if hostname is not None else socket.gethostname()
        if "." in name:
            search = [name.partition(".")[2]]
    conf = conf._replace(search=search)
    if "RES_OPTIONS" in environ:
        conf = _apply_options(environ["RES_OPTIONS"], conf)
    if not conf.servers:
        conf = conf._replace(servers=["127.0.0.1"])
    return conf


class Step(Record):
    """One name res_search may ask, and why it comes at this point."""

    __slots__ = ()
    _fields = ("name", "why")
    name: str = field(0)
    why: str = field(1)  # "as is", "search <domain>", "as is, last"

    def __new__(cls, name: str, why: str) -> Step:
        return tuple.__new__(cls, (name, why))


def search_plan(host: str, conf: StubConf) -> tuple[list[Step], bool, bool]:
    """(the names in order, trailing dot?, as-is-first?) before any answer is known."""
    dots = host.count(".")
    trailing = host.endswith(".")
    steps: list[Step] = []
    as_is_first = dots >= conf.ndots or trailing
    if as_is_first:
        steps.append(Step(host.rstrip(".") or ".", "as is"))
    if trailing:
        return steps, True, True
    root_on_list = False
    if conf.search:
        for domain in conf.search:
            domain = domain[1:] if domain.startswith(".") else domain
            if not domain:
                root_on_list = True
                steps.append(Step(host, "search ."))
            else:
                steps.append(Step(f"{host}.{domain}", f"search {domain}"))
    searched = bool(conf.search)
    if (dots or not searched or not conf.no_tld_query) and not (as_is_first or root_on_list):
        steps.append(Step(host, "as is, last"))
    return steps, False, as_is_first
