"""``resolve --dns``, ``reverse --dns`` and ``--server`` as users run them.

Names other than ``localhost`` are only ever resolved by getaddrinfo inside a
private namespace (``DnsNamespace``: its own /etc/hosts, resolv.conf saying
127.0.0.1, dnsmasq on port 53 there).  Outside it, tests use ``localhost``,
numeric addresses (``reverse --numeric-host``) and ``--server`` pointing at
a DNS server on loopback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from tests.dnsmasq import Dnsmasq, DnsNamespace, DnsStub
from tests.helpers import Result, run

HOSTS = (
    "127.0.0.1 localhost\n"
    "::1 localhost\n"
    "192.0.2.50 hostsonly.test\n"
    # a.test is in DNS too (192.0.2.1 and 2001:db8::1): one address in both,
    # one only here, one only in DNS.
    "192.0.2.1 a.test\n"
    "192.0.2.99 a.test\n"
)


@pytest.fixture(scope="module")
def ns() -> Iterator[DnsNamespace]:
    """One namespace for the read-only tests of this module."""
    made = DnsNamespace(hosts=HOSTS)
    yield made
    made.close()


def one_event(result: Result) -> dict[str, object]:
    """resolve/reverse print exactly one JSON line."""
    events = result.events()
    assert len(events) == 1, result
    return events[0]


def dns_of(result: Result) -> dict[str, object]:
    event = one_event(result)
    view = event["dns"]
    assert isinstance(view, dict)
    return view


def sources(view: dict[str, object]) -> dict[str, str]:
    addresses = view["addresses"]
    assert isinstance(addresses, list)
    return {a["address"]: a["source"] for a in addresses}


# --- through the system resolver, in the namespace ---------------------------------------


def test_design_card_command_returns_the_configured_aaaa(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "example.com", "http", "--family", "inet6")
    assert result.status == 0, result
    assert "2001:db8::80" in result.out and "AF_INET6" in result.out
    assert "192.0.2.80" not in result.out
    event = one_event(ns.run("resolve", "example.com", "http", "--family", "inet6", "--json"))
    assert {(c["address"], c["port"]) for c in event["candidates"]} == {  # type: ignore[attr-defined]
        ("2001:db8::80", 80)}


def test_name_only_in_hosts_file_is_getaddrinfo_only_and_nxdomain(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "hostsonly.test", "--dns", "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["rcode"] == "NXDOMAIN" and view["server"] == "127.0.0.1:53"
    assert sources(view) == {"192.0.2.50": "getaddrinfo only"}
    assert result.err == ""


def test_unknown_name_exits_3_and_the_view_names_nxdomain(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "nosuch.test", "--dns", "--json")
    assert result.status == 3, result
    event = one_event(result)
    assert event["event"] == "error" and event["code"] == "EAI_NONAME" and event["exit"] == 3
    assert event["dns"]["rcode"] == "NXDOMAIN"  # type: ignore[index]
    assert result.err.strip() == "netprobe: resolve nosuch.test: EAI_NONAME: " \
                                 "Name or service not known"
    human = ns.run("resolve", "nosuch.test", "--dns")
    assert human.status == 3 and "NXDOMAIN" in human.out
    assert human.err.strip().splitlines()[-1].startswith("netprobe: resolve nosuch.test: EAI_")


def test_addresses_marked_both_getaddrinfo_only_dns_only(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "a.test", "--dns", "--json")
    assert result.status == 0, result
    assert sources(dns_of(result)) == {"192.0.2.1": "both", "192.0.2.99": "getaddrinfo only",
                                       "2001:db8::1": "dns only"}


def test_cname_chain_through_the_system_resolver(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "c1.test", "http", "--dns", "--json")
    assert result.status == 0, result
    event = one_event(result)
    view = event["dns"]
    assert isinstance(view, dict)
    assert view["cname_chain"] == [
        {"name": "c1.test", "target": "c2.test", "ttl": 60},
        {"name": "c2.test", "target": "c3.test", "ttl": 70},
        {"name": "c3.test", "target": "a.test", "ttl": 80},
    ]
    assert {(a["address"], a["ttl"], a["source"]) for a in view["addresses"]} == {
        ("192.0.2.1", 300, "both"), ("2001:db8::1", 300, "both")}
    assert [(q["qtype"], q["rcode"], q["ad"]) for q in view["queries"]] == [
        ("A", "NOERROR", False), ("AAAA", "NOERROR", False)]
    assert view["ad"] is False and view["error"] is None
    assert {c["port"] for c in event["candidates"]} == {80}  # type: ignore[attr-defined]


def test_human_output_shows_the_dns_tables(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "c1.test", "--dns")
    assert result.status == 0, result
    out = result.out
    for text in ("DNS queries", "DNS records", "NOERROR", "127.0.0.1:53", "CNAME", "c2.test",
                 "both", "AD no"):
        assert text in out, (text, out)
    # The getaddrinfo table comes first, the DNS view after it.
    assert out.index("AF_INET") < out.index("DNS queries") < out.index("DNS records")
    # The trace (hints, timing) stays on stderr; -q keeps the view.
    assert "hints" in result.err
    quiet = ns.run("resolve", "a.test", "--dns", "-q")
    assert quiet.err == "" and "getaddrinfo only" in quiet.out and "dns only" in quiet.out


def test_search_list_is_applied_as_getaddrinfo_does(dns_namespace: Callable[...,
                                                                             DnsNamespace]) -> None:
    ns = dns_namespace(resolv="nameserver 127.0.0.1\nsearch nothing.test test\n")
    result = ns.run("resolve", "multi", "--dns", "-4", "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["name"] == "multi.test"
    assert sources(view) == {"192.0.2.31": "both", "192.0.2.32": "both"}
    assert [(q["name"], q["rcode"]) for q in view["queries"]] == [  # type: ignore[attr-defined]
        ("multi.nothing.test", "NXDOMAIN"), ("multi.test", "NOERROR")]


def test_server_option_over_ipv6_inside_namespace(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "multi.test", "--server", "[::1]:53", "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["server"] == "[::1]:53"
    assert sources(view) == {"192.0.2.31": "both", "192.0.2.32": "both", "2001:db8::31": "both"}


def test_resolve_dns_asks_an_idn_as_getaddrinfo_is_given_it(ns: DnsNamespace) -> None:
    # CPython hands getaddrinfo bücher.test as xn--bcher-kva.test; the view asked the
    # same, but matched the answer's owner against the Unicode text, so DNS's A record
    # was dropped and the address marked "getaddrinfo only", the A query NODATA.
    result = ns.run("resolve", "bücher.test", "--dns", "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["name"] == "xn--bcher-kva.test" and view["rcode"] == "NOERROR"
    assert sources(view) == {"192.0.2.77": "both"}


def test_resolve_dns_v4mapped_asks_a_as_getaddrinfo_does(ns: DnsNamespace) -> None:
    # AF_INET6 + AI_V4MAPPED: getaddrinfo answers the A record as ::ffff:192.0.2.4.
    # The view had asked AAAA only, and shown that address as an AAAA record that
    # came from "getaddrinfo only".
    result = ns.run("resolve", "v4only.test", "--family", "inet6", "--v4mapped",
                    "--socktype", "stream", "--dns", "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert [q["qtype"] for q in view["queries"]] == ["AAAA", "A"]  # type: ignore[attr-defined]
    assert view["addresses"] == [{"address": "::ffff:192.0.2.4", "family": "AF_INET6",
                                  "type": "A", "ttl": 600, "name": "v4only.test",
                                  "source": "both"}]
    human = ns.run("resolve", "v4only.test", "--family", "inet6", "--v4mapped",
                   "--socktype", "stream", "--dns")
    assert re.search(r"v4only\.test\s+A\s+600\s+::ffff:192\.0\.2\.4\s+both", human.out)


def test_reverse_dns_fcrdns_confirmed_beside_getnameinfo(ns: DnsNamespace) -> None:
    result = ns.run("reverse", "192.0.2.1", "--fcrdns", "--json")
    assert result.status == 0, result
    event = one_event(result)
    assert event["event"] == "reversed" and event["host"] == "a.test"
    view = event["dns"]
    assert isinstance(view, dict)
    assert view["confirmed"] is True and view["name"] == "1.2.0.192.in-addr.arpa"
    assert view["ptr"] == [{"name": "a.test", "ttl": 300, "rcode": "NOERROR",
                            "addresses": ["192.0.2.1"], "confirmed": True}]
    human = ns.run("reverse", "192.0.2.1", "--dns")
    assert human.status == 0 and "a.test" in human.out and "FCrDNS confirmed" in human.out


def test_reverse_fcrdns_not_confirmed_exits_6(ns: DnsNamespace) -> None:
    result = ns.run("reverse", "192.0.2.20", "--fcrdns", "--json")
    assert result.status == 6, result
    event = one_event(result)
    assert event["event"] == "error" and event["code"] == "FCRDNS" and event["exit"] == 6
    assert event["host"] == "liar.test" and event["dns"]["confirmed"] is False  # type: ignore[index]
    human = ns.run("reverse", "192.0.2.20", "--fcrdns")
    assert human.status == 6 and "FCrDNS not confirmed" in human.out
    assert human.err.strip().splitlines()[-1] == (
        "netprobe: fcrdns 192.0.2.20: FCRDNS: no PTR name maps back to 192.0.2.20 "
        "(checked liar.test)")
    # Without --fcrdns the same answer is shown and is not an error.
    assert ns.run("reverse", "192.0.2.20", "--dns").status == 0


# --- --server on loopback, outside any namespace ------------------------------------------------


def test_server_option_ipv6_loopback(dnsmasq_server: Dnsmasq) -> None:
    server = dnsmasq_server.server("::1")
    result = run("resolve", "localhost", "--server", server, "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["server"] == server and view["rcode"] == "NOERROR" and view["ad"] is False
    marks = sources(view)
    assert marks["127.0.0.1"] == "both" and set(marks.values()) <= {"both", "dns only"}
    assert all(q["server"] == server for q in view["queries"])  # type: ignore[attr-defined]


def test_silent_server_times_out_within_timeout_exit_5(dns_stub: Callable[..., DnsStub]) -> None:
    stub = dns_stub(None)
    start = time.monotonic()
    result = run("resolve", "localhost", "--server", stub.server, "--timeout", "1", "--json")
    elapsed = time.monotonic() - start
    assert result.status == 5, result
    assert elapsed < 4
    event = one_event(result)
    assert event["event"] == "error" and event["code"] == "ETIMEDOUT" and event["exit"] == 5
    assert event["dns"]["error"]["code"] == "ETIMEDOUT"  # type: ignore[index]
    assert event["candidates"]  # getaddrinfo's answer is not lost
    assert result.err == f"netprobe: dns localhost: ETIMEDOUT: no answer from {stub.server} " \
                         "within 1 s\n"
    human = run("resolve", "localhost", "--server", stub.server, "--timeout", "500ms")
    assert human.status == 5 and "127.0.0.1" in human.out and "ETIMEDOUT" in human.out
    # The summary: no double space where no rcode came, no AD flag of an answer never had.
    summary = human.out.strip().splitlines()[-1]
    assert summary.startswith(f"DNS localhost: ETIMEDOUT: no answer from {stub.server} "
                              "within 0.5 s in "), summary
    assert summary.endswith(" ms"), summary
    assert human.err.strip().splitlines()[-1].startswith("netprobe: dns localhost: ETIMEDOUT")


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED"])
def test_server_failures_are_answers_shown_in_the_view(dns_stub: Callable[..., DnsStub],
                                                       rcode: str) -> None:
    stub = dns_stub(rcode)
    result = run("resolve", "localhost", "--server", stub.server, "--json")
    assert result.status == 0, result
    view = dns_of(result)
    assert view["rcode"] == rcode and sources(view) == {"127.0.0.1": "getaddrinfo only"}
    human = run("resolve", "localhost", "--server", stub.server)
    assert human.status == 0 and f"{rcode} from {stub.server}" in human.out


@pytest.mark.parametrize("server", ["1.2.3", "dns.example", "[::1", "127.0.0.1:99999",
                                    "[127.0.0.1]:53", ""])
def test_malformed_server_is_a_usage_error(server: str) -> None:
    for command in (["resolve", "localhost"], ["reverse", "127.0.0.1"]):
        result = run(*command, "--server", server)
        assert result.status == 2, result
        assert result.out == ""
        lines = result.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("netprobe: dns ")
        assert "IPv4[:PORT] or [IPv6][:PORT]" in lines[0] or "1-65535" in lines[0]
    event = one_event(run("resolve", "localhost", "--server", server, "--json"))
    assert event["event"] == "error" and event["exit"] == 2


def test_dns_needs_a_host_name() -> None:
    result = run("resolve", "", "http", "--dns")
    assert result.status == 2 and result.err.startswith("netprobe: dns http: ")


@pytest.mark.parametrize(("address", "status", "why"), [
    ("192.0.2.1", 0, None),
    ("2001:db8::1", 0, None),
    # IPv4-mapped: the PTR under in-addr.arpa, confirmed by the name's A records
    # (it had asked AAAA, so FCrDNS failed with exit 6).
    ("::ffff:192.0.2.1", 0, None),
    ("192.0.2.20", 6, "no PTR name maps back to 192.0.2.20 (checked liar.test)"),
    ("192.0.2.99", 6, "no PTR record for 192.0.2.99 (NXDOMAIN from "),
])
def test_reverse_fcrdns_with_server(dnsmasq_server: Dnsmasq, address: str, status: int,
                                    why: str | None) -> None:
    # --numeric-host: getnameinfo must not ask the host's own resolver about these.
    result = run("reverse", address, "--numeric-host", "--fcrdns",
                 "--server", dnsmasq_server.server())
    assert result.status == status, result
    assert address in result.out  # getnameinfo's (numeric) answer, beside the DNS view
    last = result.err.strip().splitlines()[-1]  # after the trace (flags, time)
    if why is None:
        assert "netprobe:" not in result.err and "FCrDNS confirmed" in result.out
    else:
        assert last.startswith(f"netprobe: fcrdns {address}: FCRDNS: {why}")


def test_reverse_dns_reads_inet_aton_forms_as_getnameinfo_does(dnsmasq_server: Dnsmasq) -> None:
    # getnameinfo is given 192.0.2.1 for 192.0.513 (getaddrinfo AI_NUMERICHOST, which
    # reads inet_aton's forms); the DNS view had refused it as not numeric (exit 2).
    result = run("reverse", "192.0.513", "--numeric-host", "--fcrdns", "--json",
                 "--server", dnsmasq_server.server())
    assert result.status == 0, result
    (event,) = result.events()
    assert event["host"] == "192.0.2.1" and event["dns"]["name"] == "1.2.0.192.in-addr.arpa"
    assert event["dns"]["confirmed"] is True


def test_reverse_timeout_exit_5(dns_stub: Callable[..., DnsStub]) -> None:
    stub = dns_stub(None)
    result = run("reverse", "192.0.2.1", "--numeric-host", "--server", stub.server,
                 "--timeout", "500ms", "--json")
    assert result.status == 5, result
    event = one_event(result)
    assert event["event"] == "error" and event["code"] == "ETIMEDOUT"
