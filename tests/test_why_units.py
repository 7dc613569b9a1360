"""The pure rules of ``why`` on their own: who takes a destination, what a bind overlaps,
how a binding reads; and the snapshot's sharing."""

from __future__ import annotations

import socket

import pytest

from netprobe.kernel import match, snapshot
from netprobe.kernel.why import listen_overflows, who
from netprobe.netlink.diag import InetSocket

V4, V6 = socket.AF_INET, socket.AF_INET6


def sock(family: int, address: str, v6only: bool | None = None, state: int = 10) -> InetSocket:
    return InetSocket(6, family, state, address, 80, "::" if family == V6 else "0.0.0.0", 0,
                      0, 0, 128, 0, 1, v6only)


@pytest.mark.parametrize(("listener", "destination", "taken"), [
    (sock(V4, "127.0.0.1"), (V4, "127.0.0.1"), True),
    (sock(V4, "127.0.0.1"), (V6, "::1"), False),
    (sock(V4, "0.0.0.0"), (V4, "127.0.0.2"), True),
    (sock(V4, "127.0.0.1"), (V6, "::ffff:127.0.0.1"), True),  # mapped: IPv4 on the wire
    (sock(V6, "::", v6only=True), (V4, "127.0.0.1"), False),
    (sock(V6, "::", v6only=False), (V4, "127.0.0.1"), True),
    (sock(V6, "::1"), (V4, "127.0.0.1"), False),
    (sock(V6, "::"), (V6, "::1"), True),
    (sock(V6, "::ffff:127.0.0.1"), (V4, "127.0.0.1"), True),
])
def test_which_listener_takes_a_destination(listener: InetSocket, destination: tuple[int, str],
                                            taken: bool) -> None:
    assert match.takes(listener, match.wire(*destination)) is taken


@pytest.mark.parametrize(("holder", "wanted", "v6only", "overlap"), [
    (sock(V4, "127.0.0.1"), (V4, "127.0.0.1"), False, True),
    (sock(V4, "127.0.0.1"), (V4, "0.0.0.0"), False, True),  # the wildcard overlap
    (sock(V4, "0.0.0.0"), (V4, "127.0.0.1"), False, True),
    (sock(V4, "127.0.0.1"), (V4, "127.0.0.2"), False, False),
    (sock(V6, "::", v6only=False), (V4, "0.0.0.0"), False, True),  # dual-stack holder
    (sock(V6, "::", v6only=True), (V4, "0.0.0.0"), False, False),
    (sock(V4, "127.0.0.1"), (V6, "::"), False, True),  # a dual-stack bind needs IPv4 too
    (sock(V4, "127.0.0.1"), (V6, "::"), True, False),
    (sock(V6, "::1"), (V6, "::"), True, True),
])
def test_what_a_bind_overlaps(holder: InetSocket, wanted: tuple[int, str], v6only: bool,
                              overlap: bool) -> None:
    assert match.overlaps(holder, match.wire(*wanted), v6only) is overlap


@pytest.mark.parametrize(("listener", "words"), [
    (sock(V4, "127.0.0.1"), "bound to IPv4 loopback only"),
    (sock(V4, "127.3.4.5"), "bound to IPv4 loopback only"),
    (sock(V6, "::1"), "bound to IPv6 loopback only"),
    (sock(V4, "0.0.0.0"), "bound to every IPv4 address, IPv4 only"),
    (sock(V6, "::", v6only=True), "every IPv6 address, IPV6_V6ONLY: no IPv4"),
    (sock(V6, "::", v6only=False),
     "every IPv6 address and, without IPV6_V6ONLY, every IPv4 one"),
    (sock(V4, "10.1.2.3"), "bound to 10.1.2.3 only"),
])
def test_how_a_binding_reads(listener: InetSocket, words: str) -> None:
    assert match.binding(listener) == words


def test_who_names_processes_or_says_why_not() -> None:
    one = {"inode": 5, "processes": [{"pid": 7, "command": "nginx: master", "name": "nginx"}]}
    two = {"inode": 5, "processes": [{"pid": 7, "command": "a", "name": "nginx"},
                                     {"pid": 8, "command": "b", "name": "nginx"}]}
    assert who(one) == "pid 7 nginx" and who(two) == "pids 7, 8 nginx"
    assert who({"inode": 5, "processes": None}).endswith("(not permitted)")
    assert who({"inode": 0, "processes": []}) == "no process (a remnant of a connection)"


def test_listen_overflows_is_read_from_this_namespaces_netstat() -> None:
    with open("/proc/net/netstat") as source:
        lines = source.read().splitlines()
    names, values = next((n, v) for n, v in zip(lines[::2], lines[1::2], strict=False)
                         if n.startswith("TcpExt:"))
    expected = dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"]
    assert listen_overflows() is not None and listen_overflows() >= int(expected)


def test_failures_close_together_share_a_snapshot_and_a_timeout_reads_afresh() -> None:
    first = snapshot.snapshot()
    assert snapshot.snapshot() is first
    fresh = snapshot.snapshot(fresh=True)
    assert fresh is not first and snapshot.snapshot() is fresh
    fresh.taken -= snapshot.FRESH_FOR + 0.01
    assert snapshot.snapshot() is not fresh


def test_a_snapshot_reads_what_serves_a_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        found = snapshot.snapshot(fresh=True).serving("tcp", port)
    assert [(s.local_address, s.local_port) for s in found] == [("127.0.0.1", port)]
