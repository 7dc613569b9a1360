"""--explain's prediction against the OS over random inputs (hypothesis properties).

First, random hosts files, entry by entry:

Each example writes a hosts file with repeated lines, names in mixed case,
both families, ``::1`` and IPv4-mapped lines, then asks the OS's
getaddrinfo and netprobe's prediction the same question with random hints
(family, AI_V4MAPPED / AI_ALL / AI_ADDRCONFIG, socket type, protocol,
service): the prediction must be getaddrinfo's answer, the same length, the
same addresses in the same order, and ``explained`` true; a failure must be
predicted with its EAI_* name.

Design decision: one namespace and one oracle process for the whole test
(``tests.explain_oracle`` answers a JSON line per request), so that an
example costs a getaddrinfo call and an explanation, not a namespace and a
Python start-up; a thousand examples then fit in a few seconds.  Only the
hosts file changes between examples: glibc reads it on every call, while
host.conf's ``multi`` (or RESOLV_MULTI) it reads once per process, so one
oracle runs with ``multi on`` and one with ``RESOLV_MULTI=off``.

Second, random address sets under random gai.conf policies (the sort):
glibc reads gai.conf once per process (unless it says ``reload yes``), so
each of those examples starts an oracle of its own, in a namespace of
its own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Namespace, child_env

UNSPEC, INET, INET6 = socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6
V4MAPPED, ALL, ADDRCONFIG = socket.AI_V4MAPPED, socket.AI_ALL, socket.AI_ADDRCONFIG
STREAM, DGRAM, RAW = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW

#: Source addresses for the sort: global IPv4 and IPv6, ULA, 6to4, site-local.
ADDRESSES = ("192.0.2.1/24", "2001:db8::1/64", "fd00::1/64", "2002:c000:201::1/64",
             "fec0::1/64")
ETC = {"nsswitch.conf": "hosts: files\n", "host.conf": "multi on\n", "gai.conf": ""}

#: Both families, loopback (``::1`` reads as 127.0.0.1 under AF_INET), IPv4-mapped
#: lines, an unrouted address of each family, and addresses that repeat across forms.
ADDRESS_POOL = ("192.0.2.2", "192.0.2.3", "198.51.100.7", "127.0.0.1", "127.0.0.5",
                "2001:db8::2", "2001:db8::3", "fd00::2", "2002:c000:201::2", "fec0::2",
                "2001:db8:1::5", "::1", "::ffff:192.0.2.2", "::ffff:192.0.2.77")
NAME_POOL = ("r.test", "R.Test", "other.test", "alias.test")

hosts_lines = st.tuples(st.sampled_from(ADDRESS_POOL),
                        st.lists(st.sampled_from(NAME_POOL), min_size=1, max_size=3))
families = st.sampled_from(((UNSPEC, 0), (UNSPEC, 0), (INET, 0), (INET6, 0),
                            (INET6, V4MAPPED), (INET6, V4MAPPED | ALL), (UNSPEC, ADDRCONFIG),
                            (UNSPEC, V4MAPPED)))
#: Flags that change little or nothing of the order, or fail a call early.
more_flags = st.sampled_from((0, 0, 0, socket.AI_CANONNAME, socket.AI_PASSIVE,
                              socket.AI_NUMERICHOST, socket.AI_NUMERICSERV))
#: (socktype, protocol): open, narrowed either way, and one combination glibc refuses.
kinds = st.sampled_from(((0, 0), (0, 0), (STREAM, 0), (DGRAM, 0), (RAW, 0),
                         (0, socket.IPPROTO_UDP), (0, 132), (STREAM, socket.IPPROTO_UDP)))
#: No service, numeric ones (with strtoul's leading blank), names with one or two
#: protocols, and one no protocol has.  (``-1``, a name to glibc, is a usage error
#: to netprobe: the unit tests have it.)
services = st.sampled_from((None, None, "7", " 7", "+7", "echo", "http", "nosuch"))
#: Names (in other cases), numeric hosts, ``*`` (no host) and a name no line has.
hosts_asked = st.sampled_from(("r.test", "R.TEST", "alias.test", "r.test", "192.0.2.2",
                               "::ffff:192.0.2.2", "::1", "*", "nosuch.test"))


@st.composite
def hosts_files(draw: st.DrawFn) -> str:
    """A hosts file in which some lines come back verbatim, anywhere."""
    lines = draw(st.lists(hosts_lines, min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 4))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
    return "".join(f"{address} {' '.join(names)}\n" for address, names in lines)


class Oracle:
    """tests.explain_oracle running in the namespace, one request a line."""

    def __init__(self, ns: Namespace, env: dict[str, str] | None = None) -> None:
        self.ns = ns
        self.proc = ns.popen([sys.executable, "-m", "tests.explain_oracle"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env(env))
        #: Examples asked and examples whose prediction matched (for the record).
        self.asked = self.matched = 0

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the oracle died"
        self.asked += 1
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Oracles(NamedTuple):
    """One oracle per ``multi`` setting, which glibc reads once per process."""

    ns: Namespace
    multi_on: Oracle
    multi_off: Oracle


@pytest.fixture(scope="module")
def oracles() -> Iterator[Oracles]:
    ns = Namespace(hosts="", etc=ETC, addresses=ADDRESSES)
    both = Oracles(ns, Oracle(ns), Oracle(ns, {"RESOLV_MULTI": "off"}))
    yield both
    for oracle in (both.multi_on, both.multi_off):
        oracle.close()
        print(f"\nexplain property, multi {'on' if oracle is both.multi_on else 'off'}: "
              f"{oracle.matched} of {oracle.asked} random cases matched")
    ns.close()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts=hosts_files(), family=families, flags=more_flags, kind=kinds, service=services,
       host=hosts_asked, multi=st.booleans())
def test_prediction_is_getaddrinfos_answer_entry_by_entry(
        oracles: Oracles, hosts: str, family: tuple[int, int], flags: int,
        kind: tuple[int, int], service: str | None, host: str, multi: bool) -> None:
    oracles.ns.write_etc("hosts", hosts)
    oracle = oracles.multi_on if multi else oracles.multi_off
    result = oracle.ask({"host": host, "service": service, "family": family[0],
                         "flags": family[1] | flags, "socktype": kind[0], "protocol": kind[1]})
    explain = result["explain"]
    if isinstance(result["os"], list):
        assert explain["predicted"] == result["os"], (hosts, explain["differences"])
        assert explain["predicted_error"] is None
    else:
        assert explain["predicted"] == [], hosts
        assert explain["predicted_error"] == result["os"], hosts
    assert explain["explained"] is True, (hosts, explain["differences"])
    assert explain["differences"] == []
    oracle.matched += 1


# --- random address sets and random policy tables ----------------------------------------

#: Destinations of every kind the sort tells apart: routed and unrouted IPv4,
#: loopback, global, ULA, 6to4, site-local, Teredo-labelled, unrouted IPv6,
#: and IPv4-mapped lines (IPv6 destinations under AF_UNSPEC).
DESTINATION_POOL = (
    *(f"192.0.2.{n}" for n in (2, 3, 9, 100, 129, 254)),
    "198.51.100.7", "203.0.113.9", "127.0.0.1", "127.0.0.5",
    "2001:db8::2", "2001:db8::8000:0:0:9", "2001:db8::ffff:0:1", "fd00::2", "fd00::1:2",
    "fd12::5", "2002:c000:201::2", "2002:c000:202::7", "fec0::2", "fec0::1:0:0:2",
    "2001::5", "2001:db8:1::5", "3ffe::9", "::1", "::ffff:192.0.2.77",
)
PREFIX_POOL = (
    "::/0", "::1/128", "::ffff:0:0/96", "2001:db8::/32", "2001:db8::/64", "2001:db8::/33",
    "fc00::/7", "fd00::/8", "2002::/16", "fec0::/10", "2001::/32", "::/96", "3ffe::/16",
    "::ffff:192.0.2.0/120", "::ffff:127.0.0.0/104", "2001:db8::8000:0:0:0/65",
)
SCOPE_POOL = ("192.0.2.0/24", "192.0.2.0/25", "127.0.0.0/8", "198.51.100.0/24", "0.0.0.0/0",
              "192.0.2.3/32", "::ffff:192.0.2.128/121")

gai_lines = st.one_of(
    st.tuples(st.sampled_from(("precedence", "label")), st.sampled_from(PREFIX_POOL),
              st.integers(0, 100)),
    st.tuples(st.just("scopev4"), st.sampled_from(SCOPE_POOL), st.integers(0, 15)),
)
queries = st.sampled_from(((UNSPEC, 0), (UNSPEC, 0), (UNSPEC, 0), (INET, 0), (INET6, 0),
                           (INET6, V4MAPPED | ALL)))


@pytest.fixture(scope="module")
def policy_ns() -> Iterator[Namespace]:
    ns = Namespace(hosts="", etc=ETC, addresses=ADDRESSES)
    yield ns
    ns.close()


def ask_once(ns: Namespace, request: dict[str, Any]) -> dict[str, Any]:
    """One request to an oracle of its own: glibc reads gai.conf once per process."""
    proc = subprocess.run([*ns.prefix, sys.executable, "-m", "tests.explain_oracle"],
                          input=json.dumps(request).encode() + b"\n", capture_output=True,
                          timeout=60, env=child_env())
    assert proc.returncode == 0 and not proc.stderr, proc.stderr.decode()
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(addresses=st.lists(st.sampled_from(DESTINATION_POOL), min_size=2, max_size=7, unique=True),
       lines=st.lists(gai_lines, max_size=5), query=queries)
def test_random_addresses_and_policies(policy_ns: Namespace, addresses: list[str],
                                       lines: list[tuple[str, str, int]],
                                       query: tuple[int, int]) -> None:
    hosts = "".join(f"{a} r.test\n" for a in addresses)
    gai = "".join(f"{kind} {prefix} {value}\n" for kind, prefix, value in lines)
    policy_ns.write_etc("hosts", hosts)
    policy_ns.write_etc("gai.conf", gai)
    result = ask_once(policy_ns, {"host": "r.test", "family": query[0], "flags": query[1],
                                  "socktype": socket.SOCK_STREAM})
    explain = result["explain"]
    assert explain["explained"] is True, (hosts, gai, result["os"], explain["differences"],
                                          explain["decisions"])
    if isinstance(result["os"], list):
        assert explain["predicted"] == result["os"]
    else:
        assert explain["predicted"] == []
