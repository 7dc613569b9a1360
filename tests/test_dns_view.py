"""The DNS view's core (netprobe.dnsview), in-process, against real DNS servers on loopback.

dnsmasq (``dnsmasq_server``) serves the records of ``tests.dnsmasq.RECORDS``;
``dns_stub`` gives SERVFAIL, REFUSED, partial answers or silence.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.dnsview import (
    Asker,
    DnsServer,
    dns_resolution,
    lookup_forward,
    lookup_reverse,
    names_to_ask,
    parse_server,
    read_resolv_conf,
)
from netprobe.errors import InvalidInput, ResolutionFailed, TimedOut
from netprobe.events import Fields
from tests.dnsmasq import LOCAL_TTL, Dnsmasq, DnsStub

Stub = Callable[..., DnsStub]


def here(dnsmasq: Dnsmasq, address: str = "127.0.0.1") -> DnsServer:
    return DnsServer(address, dnsmasq.port)


# --- the server option ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "server"), [
    ("127.0.0.1", DnsServer("127.0.0.1", 53)),
    ("127.0.0.1:5353", DnsServer("127.0.0.1", 5353)),
    (" 127.0.0.1:53 ", DnsServer("127.0.0.1", 53)),
    ("[::1]:5353", DnsServer("::1", 5353)),
    ("[::1]", DnsServer("::1", 53)),
    ("::1", DnsServer("::1", 53)),
    ("[0:0::1]:53", DnsServer("::1", 53)),
    ("[fe80::1%lo]:53", DnsServer("fe80::1%lo", 53)),
])
def test_server_addresses_are_parsed(text: str, server: DnsServer) -> None:
    assert parse_server(text) == server


@pytest.mark.parametrize("text", [
    "", "1.2.3", "dns.example", "[::1", "[::1]5353", "[::1]:", "127.0.0.1:",
    "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:domain", "[127.0.0.1]:53", "127.0.0.1:53:53",
    "[fe80::1%no-such-interface]:53",
])
def test_malformed_server_addresses_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_server(text)
    assert "\n" not in caught.value.line() and caught.value.stage == "dns"


def test_endpoint_is_what_server_accepts() -> None:
    for server in (DnsServer("::1", 5353), DnsServer("127.0.0.1", 53)):
        assert parse_server(server.endpoint()) == server
    assert DnsServer("::1", 5353).endpoint() == "[::1]:5353"


# --- resolv.conf, as glibc reads it ---------------------------------------------------------


def test_resolv_conf_is_read_with_glibc_rules(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\n; other comment\nnameserver 127.0.0.2\nnameserver not-an-address\n"
        "nameserver ::1\nnameserver 127.0.0.3\nnameserver 127.0.0.4\n"
        "search one.test two.test\ndomain three.test\noptions ndots:3 timeout:2 rotate\n"
    )
    read = read_resolv_conf(str(conf))
    # At most three servers; the unparsable one skipped; the last of domain/search wins.
    assert read.servers == [DnsServer("127.0.0.2"), DnsServer("::1"), DnsServer("127.0.0.3")]
    assert read.search == ["three.test"] and read.ndots == 3 and read.timeout == 2.0


def test_no_resolv_conf_means_the_local_server(tmp_path: Path) -> None:
    read = read_resolv_conf(str(tmp_path / "missing"))
    assert read.servers == [DnsServer("127.0.0.1")] and read.search == [] and read.ndots == 1


def test_search_list_order_follows_ndots(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\nsearch a.test b.test\noptions ndots:2\n")
    read = read_resolv_conf(str(conf))
    assert names_to_ask("web", read) == ["web.a.test", "web.b.test", "web"]
    assert names_to_ask("x.y.z", read) == ["x.y.z", "x.y.z.a.test", "x.y.z.b.test"]
    assert names_to_ask("web.", read) == ["web"]  # absolute: only itself
    assert names_to_ask("web", None) == ["web"]  # --server: as given


# --- forward lookups ---------------------------------------------------------------------------


def test_cname_chain_of_three_is_followed_with_ttls(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("c1.test", socket.AF_UNSPEC, here(dnsmasq_server), 5)
    assert lookup.failure is None and lookup.rcode == "NOERROR"
    assert [(link.name, link.target, link.ttl) for link in lookup.chain] == [
        ("c1.test", "c2.test", 60), ("c2.test", "c3.test", 70), ("c3.test", "a.test", 80)]
    assert {(a.address, a.ttl, a.name) for a in lookup.addresses} == {
        ("192.0.2.1", 300, "a.test"), ("2001:db8::1", 300, "a.test")}
    assert [(e.qtype, e.rcode) for e in lookup.exchanges] == [("A", "NOERROR"),
                                                              ("AAAA", "NOERROR")]
    assert lookup.server == here(dnsmasq_server)


def test_family_decides_which_records_are_asked(dnsmasq_server: Dnsmasq) -> None:
    four = lookup_forward("multi.test", socket.AF_INET, here(dnsmasq_server), 5)
    six = lookup_forward("multi.test", socket.AF_INET6, here(dnsmasq_server), 5)
    assert [e.qtype for e in four.exchanges] == ["A"]
    assert sorted(a.address for a in four.addresses) == ["192.0.2.31", "192.0.2.32"]
    assert [a.address for a in six.addresses] == ["2001:db8::31"]
    assert all(a.ttl == LOCAL_TTL for a in four.addresses)


def test_ad_flag_is_false_from_dnsmasq(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("a.test", socket.AF_UNSPEC, here(dnsmasq_server), 5)
    assert lookup.exchanges and not any(e.ad for e in lookup.exchanges)
    assert lookup.ad is False and lookup.to_json(None)["ad"] is False


@pytest.mark.parametrize(("host", "family", "rcode", "code_words"), [
    ("nosuch.test", socket.AF_UNSPEC, "NXDOMAIN", "does not exist"),
    ("v4only.test", socket.AF_INET6, "NODATA", "has no AAAA record"),
    ("outside.invalid", socket.AF_INET, "REFUSED", "refused"),
])
def test_answers_without_addresses(dnsmasq_server: Dnsmasq, host: str, family: int,
                                   rcode: str, code_words: str) -> None:
    lookup = lookup_forward(host, family, here(dnsmasq_server), 5)
    assert lookup.rcode == rcode and lookup.addresses == [] and lookup.failure is None
    # resolve --dns: an answer is not an error ...
    assert lookup.error("dns", host, need_addresses=False) is None
    # ... connect --server: no address is (exit 3), with the rcode as code.
    error = lookup.error("connect", host, need_addresses=True)
    assert isinstance(error, ResolutionFailed) and error.code == rcode
    assert code_words in error.message and dnsmasq_server.server() in error.message


def test_servfail(dns_stub: Stub) -> None:
    stub = dns_stub("SERVFAIL")
    lookup = lookup_forward("any.test", socket.AF_INET, DnsServer("127.0.0.1", stub.port), 5)
    assert lookup.rcode == "SERVFAIL" and lookup.failure is None
    error = lookup.error("connect", "any.test", need_addresses=True)
    assert isinstance(error, ResolutionFailed) and error.code == "SERVFAIL"


def test_silent_server_times_out_within_the_timeout(dns_stub: Stub) -> None:
    stub = dns_stub(None)
    start = time.monotonic()
    lookup = lookup_forward("any.test", socket.AF_UNSPEC, DnsServer("127.0.0.1", stub.port), 0.5)
    elapsed = time.monotonic() - start
    # One deadline for all questions: AAAA is not asked once A used it up.
    assert 0.45 < elapsed < 2.0 and stub.questions == 1
    assert lookup.failure is not None and lookup.failure.code == "ETIMEDOUT"
    assert lookup.rcode is None and lookup.to_json(None)["error"]["code"] == "ETIMEDOUT"
    error = lookup.error("dns", "any.test", need_addresses=False)
    assert isinstance(error, TimedOut) and "within 0.5 s" in error.message


def test_truncated_answer_is_asked_again_over_tcp(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("big.test", socket.AF_INET, here(dnsmasq_server), 5)
    assert len(lookup.addresses) == 120
    assert [e.tcp for e in lookup.exchanges] == [True]


def test_chain_is_followed_when_the_server_stops_at_the_cname(dns_stub: Stub) -> None:
    stub = dns_stub("NOERROR", {
        ("alias.test", "A"): ["alias.test. 30 IN CNAME far.test."],
        ("far.test", "A"): ["far.test. 40 IN A 192.0.2.7"],
    })
    lookup = lookup_forward("alias.test", socket.AF_INET, DnsServer("127.0.0.1", stub.port), 5)
    assert [(link.name, link.target, link.ttl) for link in lookup.chain] == [
        ("alias.test", "far.test", 30)]
    assert [(a.address, a.ttl) for a in lookup.addresses] == [("192.0.2.7", 40)]
    assert [e.name for e in lookup.exchanges] == ["alias.test", "far.test"]


def test_cname_loop_ends(dns_stub: Stub) -> None:
    stub = dns_stub("NOERROR", {
        ("ping.test", "A"): ["ping.test. 30 IN CNAME pong.test."],
        ("pong.test", "A"): ["pong.test. 30 IN CNAME ping.test."],
    })
    lookup = lookup_forward("ping.test", socket.AF_INET, DnsServer("127.0.0.1", stub.port), 5)
    assert lookup.rcode == "NODATA" and len(lookup.exchanges) <= 3


def test_next_server_is_asked_when_one_is_silent_or_fails(dnsmasq_server: Dnsmasq,
                                                          dns_stub: Stub) -> None:
    silent, failing = dns_stub(None), dns_stub("SERVFAIL")
    servers = [DnsServer("127.0.0.1", silent.port), DnsServer("127.0.0.1", failing.port),
               here(dnsmasq_server)]
    asker = Asker(servers, timeout=10, per_try=0.3)
    answer = asker.follow("a.test", "A")
    assert [r.data for r in answer.records] == ["192.0.2.1"]
    assert [(e.server.port, e.rcode) for e in asker.exchanges] == [
        (silent.port, None), (failing.port, "SERVFAIL"), (dnsmasq_server.port, "NOERROR")]
    assert asker.exchanges[0].failure is not None and asker.failure() is None


def test_numeric_host_is_not_asked(dns_stub: Stub) -> None:
    stub = dns_stub(None)
    lookup = lookup_forward("192.0.2.9", socket.AF_UNSPEC, DnsServer("127.0.0.1", stub.port), 5)
    assert lookup.numeric and lookup.exchanges == [] and stub.questions == 0


def test_name_dns_cannot_carry_is_a_failure_not_a_crash(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("a..test", socket.AF_UNSPEC, here(dnsmasq_server), 5)
    assert lookup.failure is not None and lookup.failure.code == "EBADNAME"
    assert isinstance(lookup.error("dns", "a..test", need_addresses=False), InvalidInput)


# --- marking: both / getaddrinfo only / dns only ------------------------------------------------


def _resolution(*addresses: str) -> Resolution:
    candidates = [
        Candidate(i, socket.AF_INET6 if ":" in a else socket.AF_INET, kind, 0, "", a, 0)
        for i, a in enumerate(addresses) for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM)
    ]
    return Resolution("a.test", None, Hints(), candidates, None, 0.001)


def test_every_address_is_marked_once(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("a.test", socket.AF_UNSPEC, here(dnsmasq_server), 5)
    marked = lookup.marked(_resolution("192.0.2.1", "192.0.2.99"))
    assert [(e["address"], e["source"], e["ttl"]) for e in marked] == [
        ("192.0.2.1", "both", 300),
        ("192.0.2.99", "getaddrinfo only", None),
        ("2001:db8::1", "dns only", 300),
    ]


def test_v4_mapped_address_counts_as_its_ipv4(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_forward("a.test", socket.AF_UNSPEC, here(dnsmasq_server), 5)
    marked = lookup.marked(_resolution("::ffff:192.0.2.1", "2001:DB8:0::1"))
    assert [e["source"] for e in marked] == ["both", "both"]


def test_dns_object_fields(dnsmasq_server: Dnsmasq) -> None:
    view: Fields = lookup_forward("c1.test", socket.AF_UNSPEC, here(dnsmasq_server),
                                  5).to_json(_resolution("192.0.2.1"))
    assert set(view) == {"name", "numeric", "server", "rcode", "ad", "elapsed_ms", "queries",
                         "cname_chain", "addresses", "error"}
    assert set(view["queries"][0]) == {"name", "qtype", "server", "rcode", "flags", "ad", "tcp",
                                       "elapsed_ms", "records", "error"}
    assert set(view["queries"][0]["records"][0]) == {"name", "type", "ttl", "data"}
    assert set(view["cname_chain"][0]) == {"name", "target", "ttl"}
    assert set(view["addresses"][0]) == {"address", "family", "type", "ttl", "name", "source"}


# --- reverse and FCrDNS ---------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
def test_fcrdns_confirmed(dnsmasq_server: Dnsmasq, address: str) -> None:
    lookup = lookup_reverse(address, here(dnsmasq_server, "::1"), 5)
    assert lookup.confirmed and lookup.rcode == "NOERROR"
    assert [(p.name, p.confirmed) for p in lookup.ptr] == [("a.test", True)]
    assert lookup.to_json()["server"] == f"[::1]:{dnsmasq_server.port}"


def test_fcrdns_not_confirmed(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_reverse("192.0.2.20", here(dnsmasq_server), 5)
    assert not lookup.confirmed
    assert [(p.name, p.addresses) for p in lookup.ptr] == [("liar.test", ["192.0.2.21"])]
    assert "no PTR name maps back" in lookup.unconfirmed_reason()


def test_no_ptr_record(dnsmasq_server: Dnsmasq) -> None:
    lookup = lookup_reverse("192.0.2.99", here(dnsmasq_server), 5)
    assert lookup.rcode == "NXDOMAIN" and lookup.ptr == [] and not lookup.confirmed
    assert lookup.unconfirmed_reason().startswith("no PTR record for 192.0.2.99 (NXDOMAIN")


# --- connect --server: candidates from DNS ------------------------------------------------------


def test_dns_resolution_builds_candidates_and_events(dnsmasq_server: Dnsmasq) -> None:
    events: list[tuple[str, Fields]] = []
    resolution = dns_resolution("a.test", "http", Hints(flags=socket.AI_CANONNAME),
                                dnsmasq_server.server(), timeout=5,
                                trace=lambda e, f: events.append((e, f)))
    assert [(c.family, c.address, c.port, c.socktype, c.protocol)
            for c in resolution.candidates] == [
        (socket.AF_INET6, "2001:db8::1", 80, socket.SOCK_STREAM, socket.IPPROTO_TCP),
        (socket.AF_INET, "192.0.2.1", 80, socket.SOCK_STREAM, socket.IPPROTO_TCP),
    ]
    assert resolution.canonname == "a.test"
    assert [e for e, _ in events if e != "syscall"] == [
        "resolving", "candidate", "candidate", "resolved"]
    # The view's sockets are reported too (--syscalls): one UDP socket per question.
    assert [f["call"] for e, f in events if e == "syscall"] == [
        "socket", "ioctl", "close"] * 2
    resolved = events[-1][1]
    assert resolved["source"] == "dns" and resolved["server"] == dnsmasq_server.server()
    assert resolved["candidates"][0]["address"] == "2001:db8::1"
    assert resolved["dns"]["rcode"] == "NOERROR"


def test_dns_resolution_datagram_and_numeric_service(dnsmasq_server: Dnsmasq) -> None:
    resolution = dns_resolution("c1.test", "5353", Hints(family=socket.AF_INET,
                                                         socktype=socket.SOCK_DGRAM),
                                dnsmasq_server.server(), timeout=5)
    assert [(c.address, c.port, c.protocol) for c in resolution.candidates] == [
        ("192.0.2.1", 5353, socket.IPPROTO_UDP)]


def test_dns_resolution_numeric_host_needs_no_question(dns_stub: Stub) -> None:
    stub = dns_stub(None)
    events: list[tuple[str, Fields]] = []
    resolution = dns_resolution("::1", "80", Hints(), stub.server, timeout=5,
                                trace=lambda e, f: events.append((e, f)))
    assert [(c.address, c.port) for c in resolution.candidates] == [("::1", 80)]
    assert stub.questions == 0 and events[-1][1]["source"] == "numeric"


@pytest.mark.parametrize(("host", "server", "kind", "code"), [
    ("nosuch.test", "dnsmasq", ResolutionFailed, "NXDOMAIN"),
    ("v4only.test", "dnsmasq", ResolutionFailed, "NODATA"),
    ("outside.invalid", "dnsmasq", ResolutionFailed, "REFUSED"),
    ("a.test", "SERVFAIL", ResolutionFailed, "SERVFAIL"),
    ("a.test", "silent", TimedOut, "ETIMEDOUT"),
    ("a.test", "127.0.0.1:99999", InvalidInput, None),
])
def test_dns_resolution_errors(dnsmasq_server: Dnsmasq, dns_stub: Stub, host: str, server: str,
                               kind: type[Exception], code: str | None) -> None:
    if server == "dnsmasq":
        server = dnsmasq_server.server()
    elif server in ("SERVFAIL", "silent"):
        server = dns_stub(None if server == "silent" else server).server
    family = socket.AF_INET6 if host == "v4only.test" else socket.AF_UNSPEC
    with pytest.raises(kind) as caught:
        dns_resolution(host, "80", Hints(family=family), server, timeout=0.5)
    error = caught.value
    assert isinstance(error, (ResolutionFailed, TimedOut, InvalidInput))
    assert error.code == code and error.stage == ("dns" if kind is InvalidInput else "connect")
    if code is not None and code != "ETIMEDOUT":
        assert error.extra["dns"]["rcode"] == code


def test_dns_resolution_unknown_service_is_eai_service(dnsmasq_server: Dnsmasq) -> None:
    with pytest.raises(ResolutionFailed) as caught:
        dns_resolution("a.test", "no-such-service", Hints(), dnsmasq_server.server(), timeout=5)
    assert caught.value.code == "EAI_SERVICE"
