"""--explain against the oracle that matters: the OS's own getaddrinfo, in the same namespace.

Each case writes /etc/hosts, nsswitch.conf, host.conf, gai.conf and
resolv.conf of a private namespace (lo only, plus documentation addresses
so that non-loopback destinations have sources: 192.0.2.1/24,
2001:db8::1/64, ULA fd00::1/64, 6to4 2002:c000:201::1/64, site-local
fec0::1/64), then runs ``tests.explain_oracle`` inside: socket.getaddrinfo's
order must equal netprobe's prediction, and the explanation must say
``explained: true``.  Each case also pins the expected order (or failure),
so a prediction that merely echoed the OS could not pass.

One namespace per address profile serves every case (files are rewritten
in place between cases): a namespace costs more than a case.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dnsmasq import RECORDS, DnsNamespace
from tests.helpers import Namespace, child_env

ROOT = Path(__file__).resolve().parents[1]
UNSPEC, INET, INET6 = socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6
ADDRCONFIG, V4MAPPED, ALL = socket.AI_ADDRCONFIG, socket.AI_V4MAPPED, socket.AI_ALL
CANON, PASSIVE = socket.AI_CANONNAME, socket.AI_PASSIVE

FULL = ("192.0.2.1/24", "2001:db8::1/64", "fd00::1/64", "2002:c000:201::1/64", "fec0::1/64")
PROFILES: dict[str, tuple[str, ...]] = {"full": FULL, "v4only": ("192.0.2.1/24",),
                                        "v6only": ("2001:db8::1/64",), "bare": ()}

HOSTS = """\
127.0.0.1 localhost
::1 localhost ip6-localhost
192.0.2.10 dual.test dual
2001:db8::10 dual.test dual
192.0.2.20 v4.test
2001:db8::20 v6.test
192.0.2.30 ula.test
fd00::30 ula.test
192.0.2.40 sixtofour.test
2002:c000:201::40 sixtofour.test
192.0.2.50 site.test
fec0::50 site.test
192.0.2.60 many.test
fec0::60 many.test
2002:c000:201::60 many.test
fd00::60 many.test
2001:db8::60 many.test
198.51.100.80 unrouted.test
192.0.2.81 unrouted.test
2001:db8:1::90 far6.test
192.0.2.90 far6.test
192.0.2.200 near.test
192.0.2.3 near.test
2001:db8::ffff:1 near6.test
2001:db8::2 near6.test
192.0.2.91 twice.test
192.0.2.92 twice.test
192.0.2.93 Canon.Test alias.test  # a comment after the names
not-an-address broken.test
192.0.2.94 broken.test
192.0.2.99 a.test
::ffff:192.0.2.70 mapped.test
"""
NSSWITCH = "passwd: files\nhosts: files dns\n"
RESOLV = "nameserver 127.0.0.1\n"
EXTRA_RECORDS = (
    "--host-record=db.corp.test,192.0.2.51,2001:db8::51",
    "--host-record=api.test,192.0.2.61",
    "--host-record=api.test.corp.test,192.0.2.62",
)


class Case(NamedTuple):
    id: str
    host: str
    expect: list[str] | str  # the OS's order, or the EAI_* failure
    family: int = UNSPEC
    flags: int = 0
    hosts: str = HOSTS
    nsswitch: str = NSSWITCH
    gai: str = ""
    host_conf: str = "multi on\n"
    resolv: str = RESOLV
    env: tuple[tuple[str, str], ...] = ()
    profile: str = "full"
    #: 0: one entry per socket type (the OS order is then compared address by address).
    socktype: int = socket.SOCK_STREAM
    #: A rule that must appear among the decisions (checks the *why*, not only the order).
    rule: int | None = None


RFC6724 = """\
precedence ::1/128 50
precedence ::/0 40
precedence ::ffff:0:0/96 35
precedence 2002::/16 30
precedence 2001::/32 5
precedence fc00::/7 3
precedence ::/96 1
precedence fec0::/10 1
precedence 3ffe::/16 1
"""

CASES = [
    Case("dual default: IPv6 first by precedence", "dual.test",
         ["2001:db8::10", "192.0.2.10"], rule=6),
    Case("alias name, every socket type", "dual", ["2001:db8::10", "192.0.2.10"], socktype=0),
    Case("names match without regard to case", "DUAL.TEST", ["2001:db8::10", "192.0.2.10"]),
    Case("canonical name in mixed case, alias after a comment", "alias.test", ["192.0.2.93"]),
    Case("localhost: ::1 precedence 50", "localhost", ["::1", "127.0.0.1"], rule=6),
    Case("localhost AF_INET: ::1 line read as 127.0.0.1", "localhost",
         ["127.0.0.1", "127.0.0.1"], family=INET),
    Case("localhost AF_INET6", "localhost", ["::1"], family=INET6),
    Case("gai.conf precedence puts IPv4 first", "dual.test", ["192.0.2.10", "2001:db8::10"],
         gai="precedence ::ffff:0:0/96 100\n", rule=6),
    Case("gai.conf catch-all lower than IPv4", "dual.test", ["192.0.2.10", "2001:db8::10"],
         gai="precedence ::/0 5\nprecedence ::ffff:0:0/96 10\n"),
    Case("gai.conf label breaks rule 5 for IPv6", "dual.test", ["192.0.2.10", "2001:db8::10"],
         gai="label 2001:db8::10/128 9\n", rule=5),
    Case("gai.conf scopev4 mismatch: rule 2", "dual.test", ["2001:db8::10", "192.0.2.10"],
         gai="scopev4 192.0.2.10/32 2\nprecedence ::ffff:0:0/96 40\n", rule=2),
    Case("gai.conf scopev4 smaller scope: rule 8", "dual.test", ["192.0.2.10", "2001:db8::10"],
         gai="scopev4 192.0.2.0/24 5\nprecedence ::/0 40\nprecedence ::ffff:0:0/96 40\n",
         rule=8),
    Case("scopev4 in mapped form", "dual.test", ["192.0.2.10", "2001:db8::10"],
         gai="scopev4 ::ffff:192.0.2.0/120 5\nprecedence ::/0 40\n"
             "precedence ::ffff:0:0/96 40\n", rule=8),
    Case("bad gai.conf lines skipped, good one applies", "dual.test",
         ["192.0.2.10", "2001:db8::10"],
         gai="precedence bogus 10\nprecedence ::ffff:0:0/96 100\nlabel ::1/200 3\nfrobnicate\n"),
    Case("ULA before IPv4 (glibc's table, not RFC 6724's)", "ula.test",
         ["fd00::30", "192.0.2.30"], rule=6),
    Case("ULA after IPv4 with RFC 6724 precedences", "ula.test", ["192.0.2.30", "fd00::30"],
         gai=RFC6724, rule=6),
    Case("6to4 before IPv4", "sixtofour.test", ["2002:c000:201::40", "192.0.2.40"], rule=6),
    Case("6to4 after IPv4 when its precedence drops", "sixtofour.test",
         ["192.0.2.40", "2002:c000:201::40"], gai="precedence 2002::/16 1\n"),
    Case("site-local before IPv4", "site.test", ["fec0::50", "192.0.2.50"]),
    Case("site-local after IPv4 with RFC 6724 precedences", "site.test",
         ["192.0.2.50", "fec0::50"], gai=RFC6724),
    Case("five kinds at once, every socket type", "many.test",
         ["fec0::60", "fd00::60", "2001:db8::60", "2002:c000:201::60", "192.0.2.60"],
         socktype=0),
    Case("five kinds, RFC 6724 table", "many.test",
         ["2001:db8::60", "192.0.2.60", "2002:c000:201::60", "fd00::60", "fec0::60"],
         gai=RFC6724),
    Case("five kinds, labels all alike", "many.test",
         ["fec0::60", "fd00::60", "2001:db8::60", "2002:c000:201::60", "192.0.2.60"],
         gai="label ::/0 1\n", rule=8),
    Case("no route to one IPv4 address: rule 1", "unrouted.test",
         ["192.0.2.81", "198.51.100.80"], rule=1),
    Case("no route to the IPv6 address: rule 1", "far6.test",
         ["192.0.2.90", "2001:db8:1::90"], rule=1),
    Case("IPv4 longest matching prefix: rule 9", "near.test", ["192.0.2.3", "192.0.2.200"],
         rule=9),
    Case("IPv6 longest matching prefix: rule 9", "near6.test",
         ["2001:db8::2", "2001:db8::ffff:1"], rule=9),
    Case("a comparison that is not transitive: glibc's merge sort decides", "nt.test",
         ["2001:db8::ffff:1", "192.0.2.10", "2001:db8::2"], gai="precedence ::/0 40\n",
         hosts=HOSTS + "2001:db8::ffff:1 nt.test\n192.0.2.10 nt.test\n2001:db8::2 nt.test\n"),
    Case("multi on: every line", "twice.test", ["192.0.2.91", "192.0.2.92"], rule=10),
    Case("multi off: the first line only", "twice.test", ["192.0.2.91"],
         host_conf="multi off\n"),
    Case("multi off: dual gets its first line only", "dual.test", ["192.0.2.10"],
         host_conf="multi off\n"),
    Case("RESOLV_MULTI=off overrides host.conf", "twice.test", ["192.0.2.91"],
         env=(("RESOLV_MULTI", "off"),)),
    Case("no host.conf multi line: off", "twice.test", ["192.0.2.91"], host_conf="\n"),
    Case("unparsable hosts line skipped", "broken.test", ["192.0.2.94"]),
    Case("AF_INET", "dual.test", ["192.0.2.10"], family=INET),
    Case("AF_INET6", "dual.test", ["2001:db8::10"], family=INET6),
    Case("AF_INET6 + V4MAPPED: IPv4 only name mapped", "v4.test", ["::ffff:192.0.2.20"],
         family=INET6, flags=V4MAPPED),
    Case("AF_INET6 + V4MAPPED: real IPv6 wins", "dual.test", ["2001:db8::10"],
         family=INET6, flags=V4MAPPED),
    Case("AF_INET6 + V4MAPPED|ALL: both, sorted", "dual.test",
         ["2001:db8::10", "::ffff:192.0.2.10"], family=INET6, flags=V4MAPPED | ALL, rule=6),
    Case("mapped address line under AF_INET", "mapped.test", ["192.0.2.70"], family=INET),
    Case("AI_CANONNAME changes nothing in the order", "dual.test",
         ["2001:db8::10", "192.0.2.10"], flags=CANON),
    Case("AI_ADDRCONFIG with both families", "dual.test", ["2001:db8::10", "192.0.2.10"],
         flags=ADDRCONFIG),
    Case("AI_ADDRCONFIG, IPv4 only: IPv6 removed", "dual.test", ["192.0.2.10"],
         flags=ADDRCONFIG, profile="v4only"),
    Case("AI_ADDRCONFIG, IPv6 only: IPv4 removed", "dual.test", ["2001:db8::10"],
         flags=ADDRCONFIG, profile="v6only"),
    Case("AI_ADDRCONFIG, loopback only: nothing removed", "dual.test",
         ["2001:db8::10", "192.0.2.10"], flags=ADDRCONFIG, profile="bare"),
    Case("AI_ADDRCONFIG AF_INET6 with loopback only: fails", "dual.test", "EAI_NONAME",
         family=INET6, flags=ADDRCONFIG, profile="bare"),
    Case("loopback only: neither reachable, precedence still decides", "dual.test",
         ["2001:db8::10", "192.0.2.10"], profile="bare", rule=6),
    Case("dns answers after files missed", "multi.test",
         ["2001:db8::31", "192.0.2.31", "192.0.2.32"]),
    Case("dns first: DNS's a.test, not the hosts line", "a.test",
         ["2001:db8::1", "192.0.2.1"], nsswitch="hosts: dns files\n"),
    Case("files first: the hosts line wins", "a.test", ["192.0.2.99"]),
    Case("[NOTFOUND=return]: dns never asked", "multi.test", "EAI_NONAME",
         nsswitch="hosts: files [NOTFOUND=return] dns\n"),
    Case("[SUCCESS=continue]: files' answer discarded", "a.test", ["2001:db8::1", "192.0.2.1"],
         nsswitch="hosts: files [SUCCESS=continue] dns\n"),
    Case("[!UNAVAIL=return]: NOTFOUND stops", "multi.test", "EAI_NONAME",
         nsswitch="hosts: files [!UNAVAIL=return] dns\n"),
    Case("no hosts line: glibc's default files dns", "multi.test",
         ["2001:db8::31", "192.0.2.31", "192.0.2.32"], nsswitch="passwd: files\n"),
    Case("a missing module is skipped", "dual.test", ["2001:db8::10", "192.0.2.10"],
         nsswitch="hosts: nosuchmodule files\n"),
    Case("syntax error in nsswitch.conf: glibc refuses the file, nothing is asked",
         "dual.test", "EAI_NONAME", nsswitch="hosts: files [NOTFOUND=bogus] dns\n"),
    Case("syntax error in another database's line voids hosts too", "dual.test", "EAI_NONAME",
         nsswitch="passwd: files [SUCCESS\nhosts: files dns\n"),
    Case("unknown database lines are ignored", "dual.test", ["2001:db8::10", "192.0.2.10"],
         nsswitch="sudoers: files [bogus\nhosts: files\n"),
    Case("dns only: hosts never read", "dual.test", "EAI_NONAME", nsswitch="hosts: dns\n"),
    Case("search list", "db", ["2001:db8::51", "192.0.2.51"],
         resolv="search corp.test\nnameserver 127.0.0.1\n"),
    Case("ndots 1: as it is first", "api.test", ["192.0.2.61"],
         resolv="search corp.test\nnameserver 127.0.0.1\n"),
    Case("ndots 2: the search list first", "api.test", ["192.0.2.62"],
         resolv="search corp.test\noptions ndots:2\nnameserver 127.0.0.1\n"),
    Case("trailing dot: only as it is", "api.test.", ["192.0.2.61"],
         resolv="search corp.test\noptions ndots:2\nnameserver 127.0.0.1\n"),
    Case("RES_OPTIONS ndots:2", "api.test", ["192.0.2.62"],
         resolv="search corp.test\nnameserver 127.0.0.1\n", env=(("RES_OPTIONS", "ndots:2"),)),
    Case("LOCALDOMAIN replaces the search list", "db", ["2001:db8::51", "192.0.2.51"],
         resolv="search example.com\nnameserver 127.0.0.1\n", env=(("LOCALDOMAIN", "corp.test"),)),
    Case("dns AF_INET6 + V4MAPPED", "v4only.test", ["::ffff:192.0.2.4"], family=INET6,
         flags=V4MAPPED),
    Case("options no-aaaa", "multi.test", ["192.0.2.31", "192.0.2.32"],
         resolv="options no-aaaa\nnameserver 127.0.0.1\n"),
    Case("numeric IPv4 mapped for AF_INET6", "192.0.2.10", ["::ffff:192.0.2.10"],
         family=INET6, flags=V4MAPPED),
    Case("numeric IPv6 under AF_INET fails", "2001:db8::10", "EAI_ADDRFAMILY", family=INET),
]


def _profile_namespace(profile: str) -> Namespace:
    etc = {"nsswitch.conf": NSSWITCH, "host.conf": "multi on\n", "gai.conf": ""}
    if profile == "full":
        return DnsNamespace(hosts=HOSTS, records=(*RECORDS, *EXTRA_RECORDS), etc=etc,
                            addresses=PROFILES[profile])
    return Namespace(hosts=HOSTS, etc=etc, addresses=PROFILES[profile])


@pytest.fixture(scope="module")
def namespaces() -> Iterator[dict[str, Namespace]]:
    made: dict[str, Namespace] = {}
    yield made
    for ns in made.values():
        ns.close()


def oracle(ns: Namespace, host: str, family: int, flags: int,
           env: dict[str, str] | None = None, service: str | None = None,
           socktype: int = socket.SOCK_STREAM) -> dict[str, Any]:
    args = [sys.executable, "-m", "tests.explain_oracle", host, str(family), str(flags),
            str(socktype)]
    if service is not None:
        args.append(service)
    # child_env points PYTHONPATH at this checkout: nsenter starts the oracle in /.
    proc = subprocess.run([*ns.prefix, *args], capture_output=True, timeout=60,
                          env=child_env(env))
    assert proc.returncode == 0, proc.stderr.decode()
    assert not proc.stderr, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def setup(ns: Namespace, case: Case) -> None:
    ns.write_etc("hosts", case.hosts)
    ns.write_etc("nsswitch.conf", case.nsswitch)
    ns.write_etc("gai.conf", case.gai)
    ns.write_etc("host.conf", case.host_conf)
    ns.write_etc("resolv.conf", case.resolv)


def get_namespace(namespaces: dict[str, Namespace], profile: str) -> Namespace:
    if profile not in namespaces:
        namespaces[profile] = _profile_namespace(profile)
    return namespaces[profile]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_prediction_is_the_os_order(namespaces: dict[str, Namespace], case: Case) -> None:
    ns = get_namespace(namespaces, case.profile)
    setup(ns, case)
    result = oracle(ns, case.host, case.family, case.flags, dict(case.env),
                    socktype=case.socktype)
    explain = result["explain"]
    os_order = result["os"]
    if case.socktype == 0 and isinstance(os_order, list):
        assert len(os_order) == 3 * len(explain["predicted"])
        os_order = _unique(os_order)
    assert os_order == case.expect, result["os"]
    if isinstance(case.expect, str):
        assert explain["predicted"] == [] and explain["predicted_error"] is not None
    else:
        assert explain["predicted"] == _unique(case.expect)
    assert explain["explained"] is True, explain["differences"]
    assert explain["differences"] == []
    if case.rule is not None:
        assert case.rule in [d["rule"] for d in explain["decisions"]], explain["decisions"]


def _unique(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


def test_the_case_list_is_large_enough() -> None:
    assert len(CASES) >= 40


# --- random address sets and random policy tables ----------------------------------------

#: Destinations of every kind the sort tells apart: routed and unrouted IPv4,
#: loopback, global, ULA, 6to4, site-local, Teredo-labelled, unrouted IPv6,
#: and IPv4-mapped lines (IPv6 destinations under AF_UNSPEC).
ADDRESS_POOL = (
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


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(addresses=st.lists(st.sampled_from(ADDRESS_POOL), min_size=2, max_size=7, unique=True),
       lines=st.lists(gai_lines, max_size=5), query=queries)
def test_random_addresses_and_policies(namespaces: dict[str, Namespace], addresses: list[str],
                                       lines: list[tuple[str, str, int]],
                                       query: tuple[int, int]) -> None:
    ns = get_namespace(namespaces, "full")
    hosts = "".join(f"{a} r.test\n" for a in addresses)
    gai = "".join(f"{kind} {prefix} {value}\n" for kind, prefix, value in lines)
    setup(ns, Case("random", "r.test", [], hosts=hosts, gai=gai, nsswitch="hosts: files\n"))
    result = oracle(ns, "r.test", query[0], query[1])
    explain = result["explain"]
    assert explain["explained"] is True, (hosts, gai, result["os"], explain["differences"],
                                          explain["decisions"])
    if isinstance(result["os"], list):
        assert explain["predicted"] == _unique(result["os"])
    else:
        assert explain["predicted"] == []


# --- a source netprobe does not model ---------------------------------------------------------


@pytest.fixture(scope="module")
def nss_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/nss_netprobetest.c built as libnss_netprobetest.so.2; its directory."""
    directory = tmp_path_factory.mktemp("nss")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o",
                    str(directory / "libnss_netprobetest.so.2"),
                    str(ROOT / "tests" / "nss_netprobetest.c")], check=True, timeout=120)
    return directory


def test_an_unmodelled_source_is_named_never_guessed(namespaces: dict[str, Namespace],
                                                     nss_module: Path) -> None:
    ns = get_namespace(namespaces, "full")
    setup(ns, Case("unmodelled", "", [], nsswitch="hosts: netprobetest files\n"))
    env = {"LD_LIBRARY_PATH": str(nss_module)}
    result = oracle(ns, "only-nss.test", UNSPEC, 0, env)
    assert result["os"] == ["192.0.2.77"]  # the module did answer
    explain = result["explain"]
    first = explain["sources"][0]
    assert first["name"] == "netprobetest"
    assert first["modelled"] is False and first["reached"] is True
    assert first["status"] is None and first["addresses"] == []
    assert explain["not_modelled_reached"] == ["netprobetest"]
    assert explain["explained"] is False
    assert explain["actual"] == ["192.0.2.77"] and explain["predicted"] == []
    assert any("192.0.2.77: returned by getaddrinfo, not predicted" in d
               for d in explain["differences"])
    assert any("netprobetest" in d for d in explain["differences"])

    # The same module, asked for a name it does not know: files answers and
    # the prediction (which went on past the module) holds.
    result = oracle(ns, "dual.test", UNSPEC, 0, env)
    assert result["os"] == ["2001:db8::10", "192.0.2.10"]
    assert result["explain"]["explained"] is True
    assert result["explain"]["sources"][0]["modelled"] is False
