"""``connect HOST PORT --server ADDR[:PORT]``: candidates from one DNS server, not getaddrinfo.

The DNS server is dnsmasq on loopback (``svc.test`` -> 127.0.0.1); the peer
is a real listening socket on 127.0.0.1.  getaddrinfo is never asked about
these names: that is the point of ``--server``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.dnsmasq import Dnsmasq, DnsStub
from tests.helpers import run


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP socket listening on 127.0.0.1; its port."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_connect_check_through_dns_server(dnsmasq_server: Dnsmasq, listener: int,
                                          address: str) -> None:
    server = dnsmasq_server.server(address)
    result = run("connect", "svc.test", str(listener), "--server", server, "--check", "--json")
    assert result.status == 0, result
    events = result.events()
    resolved = next(e for e in events if e["event"] == "resolved")
    assert resolved["source"] == "dns" and resolved["server"] == server
    assert [(c["address"], c["port"], c["socktype"]) for c in resolved["candidates"]] == [
        ("127.0.0.1", listener, "SOCK_STREAM")]
    assert resolved["dns"]["addresses"][0]["ttl"] == 600
    connected = next(e for e in events if e["event"] == "connected")
    assert connected["peer"] == {"address": "127.0.0.1", "port": listener}


def test_connect_check_human(dnsmasq_server: Dnsmasq, listener: int) -> None:
    result = run("connect", "svc.test", str(listener), "--server", dnsmasq_server.server(),
                 "--check")
    assert result.status == 0, result
    assert f"127.0.0.1:{listener}" in result.err and "connected" in result.err


@pytest.mark.parametrize(("host", "extra", "code"), [
    ("nosuch.test", [], "NXDOMAIN"),
    ("v4only.test", ["-6"], "NODATA"),
    ("outside.invalid", [], "REFUSED"),
])
def test_connect_dns_answer_without_address_exits_3(dnsmasq_server: Dnsmasq, listener: int,
                                                    host: str, extra: list[str],
                                                    code: str) -> None:
    result = run("connect", host, str(listener), "--server", dnsmasq_server.server(), "--check",
                 *extra)
    assert result.status == 3, result
    [line] = result.err.splitlines()
    assert line.startswith(f"netprobe: connect {host} {listener}: {code}: ")
    assert f"from {dnsmasq_server.server()}" in line


def test_connect_servfail_exits_3(dns_stub: Callable[..., DnsStub], listener: int) -> None:
    stub = dns_stub("SERVFAIL")
    result = run("connect", "svc.test", str(listener), "--server", stub.server, "--check",
                 "--json")
    assert result.status == 3, result
    [event] = result.events()
    assert event["event"] == "error" and event["code"] == "SERVFAIL" and event["exit"] == 3


def test_connect_silent_server_times_out_exit_5(dns_stub: Callable[..., DnsStub],
                                                listener: int) -> None:
    stub = dns_stub(None)
    start = time.monotonic()
    result = run("connect", "svc.test", str(listener), "--server", stub.server, "--check",
                 "--timeout", "1")
    assert result.status == 5, result
    assert time.monotonic() - start < 4
    assert result.err.strip().splitlines()[-1].startswith(
        f"netprobe: connect svc.test {listener}: ETIMEDOUT: no answer from {stub.server}")


def test_connect_malformed_server_exits_2(listener: int) -> None:
    result = run("connect", "svc.test", str(listener), "--server", "[::1]:dns", "--check")
    assert result.status == 2, result
    [line] = result.err.splitlines()
    assert line.startswith("netprobe: dns [::1]:dns: ")
