"""netprobe against the OS: the same arguments give the same answers, in the same order.

Both sides run inside one private namespace with a known /etc/hosts (so no
name ever leaves the machine and ::1 has a name): the reference is a small
Python program calling socket.getaddrinfo / socket.getnameinfo directly,
netprobe runs as users run it, with ``--json``.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import Namespace

HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.2 two.test\n"

AI = {
    "--passive": socket.AI_PASSIVE, "--canonname": socket.AI_CANONNAME,
    "--numeric-host": socket.AI_NUMERICHOST, "--numeric-serv": socket.AI_NUMERICSERV,
    "--addrconfig": socket.AI_ADDRCONFIG, "--v4mapped": socket.AI_V4MAPPED,
    "--all": socket.AI_ALL,
}
FAMILY = {"unspec": socket.AF_UNSPEC, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
SOCKTYPE = {"any": 0, "stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM,
            "raw": socket.SOCK_RAW}
PROTOCOL = {"any": 0, "tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}

REFERENCE = r"""
import json, socket, sys
eai = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
out = []
for kind, args in json.load(sys.stdin):
    try:
        if kind == "gai":
            host, service, family, socktype, proto, flags = args
            res = socket.getaddrinfo(host, service, family, socktype, proto, flags)
            out.append({"ok": [[f, t, p, c, list(sa)] for f, t, p, c, sa in res]})
        else:
            sockaddr, flags = args
            out.append({"ok": list(socket.getnameinfo(tuple(sockaddr), flags))})
    except socket.gaierror as e:
        out.append({"error": eai.get(e.errno, str(e.errno))})
print(json.dumps(out))
"""


def gai_cases() -> Iterator[tuple[str, str | None, str, str, str, tuple[str, ...]]]:
    """(host, service, family, socktype, protocol, flags): well over 60 combinations."""
    hosts = ["localhost", "127.0.0.1", "::1"]
    services: list[str | None] = [None, "http", "80", "0", "domain"]
    for host, service in itertools.product(hosts, services):
        yield host, service, "unspec", "any", "any", ()
    for host, family in itertools.product(hosts, FAMILY):
        yield host, "80", family, "any", "any", ()
    for host, socktype in itertools.product(["localhost", "::1"], SOCKTYPE):
        yield host, "domain", "unspec", socktype, "any", ()
    for host, protocol in itertools.product(["localhost", "127.0.0.1"], PROTOCOL):
        yield host, "http", "unspec", "any", protocol, ()
    for flag in AI:
        yield "localhost", "http", "unspec", "stream", "any", (flag,)
        yield "::1", "80", "inet6", "any", "any", (flag,)
    yield "", "80", "unspec", "stream", "any", ("--passive",)
    yield "", "http", "inet6", "any", "any", ("--passive",)
    yield "", None, "unspec", "any", "any", ("--passive",)  # EAI_NONAME: both NULL
    yield "two.test", "80", "unspec", "any", "any", ("--numeric-host",)  # EAI_NONAME
    yield "localhost", "http", "unspec", "any", "any", ("--numeric-serv",)  # EAI_NONAME
    yield "localhost", "80", "unspec", "stream", "udp", ()  # EAI_SERVICE / SOCKTYPE
    yield "127.0.0.1", "80", "inet6", "any", "any", ()  # EAI_ADDRFAMILY / NONAME
    yield "::1", "80", "inet", "dgram", "any", ("--v4mapped",)
    yield "127.0.0.1", "80", "inet6", "any", "any", ("--v4mapped",)
    yield "two.test", "80", "inet6", "stream", "any", ("--v4mapped", "--all")
    yield "localhost", "0", "unspec", "dgram", "udp", ("--canonname", "--addrconfig")
    yield "two.test", "http", "inet", "stream", "tcp", ("--canonname", "--numeric-serv")
    yield "::1", "domain", "unspec", "any", "any", ("--numeric-host", "--passive")


CASES = list(gai_cases())
NI = {"--numeric-host": socket.NI_NUMERICHOST, "--numeric-serv": socket.NI_NUMERICSERV,
      "--namereqd": socket.NI_NAMEREQD, "--dgram": socket.NI_DGRAM, "--nofqdn": socket.NI_NOFQDN}
NI_NAMES = {"--numeric-host": "NI_NUMERICHOST", "--numeric-serv": "NI_NUMERICSERV",
            "--namereqd": "NI_NAMEREQD", "--dgram": "NI_DGRAM", "--nofqdn": "NI_NOFQDN"}
NI_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    (address, port, flags)
    for address in ("127.0.0.1", "127.0.0.2", "::1", "127.0.0.9")
    for port in ("80", "53", "0")
    for flags in [(), *[(f,) for f in NI], ("--numeric-host", "--numeric-serv"),
                  ("--namereqd", "--nofqdn")]
]


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespace]:
    namespace = Namespace(hosts=HOSTS)
    yield namespace
    namespace.close()


def reference(ns: Namespace, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    proc = ns.popen([sys.executable, "-c", REFERENCE], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE)
    out, _ = proc.communicate(json.dumps(calls).encode(), timeout=60)
    result: list[dict[str, Any]] = json.loads(out)
    return result


def test_enough_combinations() -> None:
    assert len(CASES) >= 60
    assert len(NI_CASES) >= 60


def test_resolve_matches_getaddrinfo(ns: Namespace) -> None:
    calls = [
        ("gai", [host or None, service, FAMILY[family], SOCKTYPE[socktype], PROTOCOL[protocol],
                 sum(AI[f] for f in flags)])
        for host, service, family, socktype, protocol, flags in CASES
    ]
    expected = reference(ns, calls)
    for case, want in zip(CASES, expected, strict=True):
        host, service, family, socktype, protocol, flags = case
        args = ["resolve", host, *([service] if service is not None else []), "--family", family,
                "--socktype", socktype, "--protocol", protocol, *flags, "--json"]
        result = ns.run(*args)
        [event] = result.events()
        if "error" in want:
            assert result.status == 3, (case, result)
            assert event["event"] == "error" and event["code"] == want["error"], (case, event)
            assert event["exit"] == 3
            continue
        assert result.status == 0, (case, result)
        got = [[c["family"], c["socktype"], c["protocol"], c["canonname"] or "",
                [c["address"], c["port"], c["flowinfo"], c["scope_id"]]]
               for c in event["candidates"]]
        names = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
        socks = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW"}
        protos = {6: "IPPROTO_TCP", 17: "IPPROTO_UDP"}
        wanted = [[names[f], socks[t], protos.get(p, p), c, ([*sa, 0, 0])[:4]]
                  for f, t, p, c, sa in want["ok"]]
        assert got == wanted, case
        assert [c["index"] for c in event["candidates"]] == list(range(len(wanted)))


def test_reverse_matches_getnameinfo(ns: Namespace) -> None:
    calls = []
    for address, port, flags in NI_CASES:
        sockaddr = [address, int(port), 0, 0] if ":" in address else [address, int(port)]
        calls.append(("gni", [sockaddr, sum(NI[f] for f in flags)]))
    expected = reference(ns, calls)
    for case, want in zip(NI_CASES, expected, strict=True):
        address, port, flags = case
        result = ns.run("reverse", address, port, *flags, "--json")
        [event] = result.events()
        if "error" in want:
            assert result.status == 3, (case, result)
            assert event["code"] == want["error"], (case, event)
            continue
        assert result.status == 0, (case, result)
        assert [event["host"], event["service"]] == want["ok"], case
        assert sorted(event["flags"]) == sorted(NI_NAMES[f] for f in flags)
