"""--explain against the oracle that matters: the OS's own getaddrinfo, in the same namespace.

Each case writes /etc/hosts, nsswitch.conf, host.conf, gai.conf and
resolv.conf of a private namespace (lo only, plus documentation addresses
so that non-loopback destinations have sources: 192.0.2.1/24,
2001:db8::1/64, ULA fd00::1/64, 6to4 2002:c000:201::1/64, site-local
fec0::1/64), then runs ``tests.explain_oracle`` inside: socket.getaddrinfo's
answer, one address per entry in its order (an address once per socket
type, glibc's duplicates kept), must equal netprobe's prediction, and the
explanation must say ``explained: true``.  Each case also pins the
expected answer (or failure), so a prediction that merely echoed the OS
could not pass.  The random examples are in test_explain_property.py.

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

from tests.dnsmasq import RECORDS, DnsNamespace
from tests.helpers import Namespace, child_env

ROOT = Path(__file__).resolve().parents[1]
UNSPEC, INET, INET6 = socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6
ADDRCONFIG, V4MAPPED, ALL = socket.AI_ADDRCONFIG, socket.AI_V4MAPPED, socket.AI_ALL
CANON, PASSIVE = socket.AI_CANONNAME, socket.AI_PASSIVE
NUMERICHOST = socket.AI_NUMERICHOST
STREAM, DGRAM, RAW = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW
UDP, SCTP, GRE = socket.IPPROTO_UDP, 132, 47

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
    #: 0: one entry per socket type (``each_socktype`` writes such an expectation).
    socktype: int = socket.SOCK_STREAM
    protocol: int = 0
    service: str | None = None
    #: A rule that must appear among the decisions (checks the *why*, not only the order).
    rule: int | None = None


def each_socktype(addresses: list[str], kinds: int = 3) -> list[str]:
    """getaddrinfo's entries when socktype and protocol are 0: an address once per kind."""
    return [address for address in addresses for _ in range(kinds)]


#: A name on four lines, one of them twice (issue 17's first case).
DUPLICATES = "2001:db8::2 dup.test\n192.0.2.2 dup.test\n192.0.2.2 dup.test\n192.0.2.3 dup.test\n"

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
    Case("alias name, every socket type", "dual", each_socktype(["2001:db8::10", "192.0.2.10"]),
         socktype=0),
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
         each_socktype(["fec0::60", "fd00::60", "2001:db8::60", "2002:c000:201::60",
                        "192.0.2.60"]), socktype=0),
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
    # One address per entry, in getaddrinfo's order, glibc's duplicates kept (issue 17).
    Case("a name on several hosts lines: the repeated address is kept", "dup.test",
         ["2001:db8::2", "192.0.2.2", "192.0.2.2", "192.0.2.3"], hosts=HOSTS + DUPLICATES),
    Case("::1 and 127.0.0.1 lines under AF_INET: 127.0.0.1 twice", "s.test",
         ["127.0.0.1", "127.0.0.1"], family=INET, hosts=HOSTS + "::1 s.test\n127.0.0.1 s.test\n"),
    Case("localhost, no socket type: one entry per socket type", "localhost",
         each_socktype(["127.0.0.1"]), socktype=0, hosts="127.0.0.1 localhost\n"),
    Case("localhost on two lines, no socket type", "localhost",
         each_socktype(["::1", "127.0.0.1"]), socktype=0),
    Case("a repeated line, every socket type", "dup.test",
         each_socktype(["2001:db8::2", "192.0.2.2", "192.0.2.2", "192.0.2.3"]), socktype=0,
         hosts=HOSTS + DUPLICATES),
    # glibc's socket-type table: what --socktype and --protocol narrow it to.
    Case("--protocol udp: the datagram entries only", "dual.test",
         ["2001:db8::10", "192.0.2.10"], socktype=0, protocol=UDP),
    Case("--socktype dgram", "dual.test", ["2001:db8::10", "192.0.2.10"], socktype=DGRAM),
    Case("--socktype raw", "dual.test", ["2001:db8::10", "192.0.2.10"], socktype=RAW),
    Case("--protocol 132: SCTP's stream entry", "dual.test", ["2001:db8::10", "192.0.2.10"],
         socktype=0, protocol=SCTP),
    Case("--protocol 47: a raw entry of that protocol", "dual.test",
         ["2001:db8::10", "192.0.2.10"], socktype=0, protocol=GRE),
    Case("--socktype stream --protocol udp: EAI_SOCKTYPE", "dual.test", "EAI_SOCKTYPE",
         protocol=UDP),
    Case("a numeric service: every socket type, raw too", "dual.test",
         each_socktype(["2001:db8::10", "192.0.2.10"]), socktype=0, service="7"),
    Case("a named service: the protocols /etc/services lists (echo: tcp, udp)", "dual.test",
         each_socktype(["2001:db8::10", "192.0.2.10"], 2), socktype=0, service="echo"),
    Case("http: tcp only", "dual.test", ["2001:db8::10", "192.0.2.10"], socktype=0,
         service="http"),
    Case("--socktype raw with a service: EAI_SERVICE", "dual.test", "EAI_SERVICE",
         socktype=RAW, service="7"),
    Case("a service no protocol lists: EAI_SERVICE", "dual.test", "EAI_SERVICE", socktype=0,
         service="nosuchservice"),
    Case("'*' is NULL: the loopback addresses", "*", each_socktype(["::1", "127.0.0.1"]),
         socktype=0, service="7"),
    Case("AI_NUMERICHOST with a name: EAI_NONAME, no source asked", "dual.test", "EAI_NONAME",
         flags=NUMERICHOST),
    Case("AF_INET6 + V4MAPPED, a mapped line only: dropped beside IPv6, EAI_NONAME",
         "mapped.test", "EAI_NONAME", family=INET6, flags=V4MAPPED),
    Case("'*' with AI_CANONNAME: EAI_BADFLAGS", "*", "EAI_BADFLAGS", flags=CANON, service="7"),
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
           socktype: int = socket.SOCK_STREAM, protocol: int = 0) -> dict[str, Any]:
    """One call in a process of its own (host.conf and the environment are read once)."""
    request = {"host": host, "service": service, "family": family, "socktype": socktype,
               "protocol": protocol, "flags": flags}
    # child_env points PYTHONPATH at this checkout: nsenter starts the oracle in /.
    proc = subprocess.run([*ns.prefix, sys.executable, "-m", "tests.explain_oracle"],
                          input=json.dumps(request).encode() + b"\n", capture_output=True,
                          timeout=60, env=child_env(env))
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
    result = oracle(ns, case.host, case.family, case.flags, dict(case.env), case.service,
                    case.socktype, case.protocol)
    explain = result["explain"]
    assert result["os"] == case.expect, result["os"]
    if isinstance(case.expect, str):
        assert explain["predicted"] == [] and explain["predicted_error"] == case.expect
    else:
        # Entry by entry: an address once per entry, duplicates and all.
        assert explain["predicted"] == case.expect
    assert explain["explained"] is True, explain["differences"]
    assert explain["differences"] == []
    if case.rule is not None:
        assert case.rule in [d["rule"] for d in explain["decisions"]], explain["decisions"]


def test_the_case_list_is_large_enough() -> None:
    assert len(CASES) >= 40


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
