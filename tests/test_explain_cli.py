"""``--explain`` as users run it: resolve, connect and reverse, human and JSON, in a namespace."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.dnsmasq import DnsNamespace
from tests.helpers import imported_by, run

HOSTS = """\
127.0.0.1 localhost
::1 localhost
192.0.2.10 dual.test
2001:db8::10 dual.test
192.0.2.1 he.test
2001:db8::1 he.test
fd00::1 he.test
192.0.2.93 named.test alias.test
"""
ADDRESSES = ("192.0.2.1/24", "2001:db8::1/64", "fd00::1/64")
ETC = {"nsswitch.conf": "hosts: files dns\n", "host.conf": "multi on\n", "gai.conf": ""}


@pytest.fixture(scope="module")
def ns() -> Iterator[DnsNamespace]:
    namespace = DnsNamespace(hosts=HOSTS, etc=ETC, addresses=ADDRESSES)
    yield namespace
    namespace.close()


@pytest.fixture
def etc(ns: DnsNamespace) -> Iterator[Callable[[str, str], None]]:
    """Rewrite an /etc file for one test; the defaults come back after it."""
    touched: list[str] = []

    def write(name: str, text: str) -> None:
        touched.append(name)
        ns.write_etc(name, text)

    yield write
    for name in touched:
        ns.write_etc(name, HOSTS if name == "hosts" else ETC.get(name, ""))


def test_resolve_explain_human(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "dual.test", "--socktype", "stream", "--explain")
    assert result.status == 0, result.err
    assert "2001:db8::10" in result.out and "why" not in result.out  # the why is on stderr
    err = result.err
    assert "why hosts: files dns  (/etc/nsswitch.conf:1)" in err
    assert "source files SUCCESS -> return: 192.0.2.10, 2001:db8::10" in err
    assert "/etc/hosts:3  192.0.2.10  dual.test" in err
    assert "/etc/hosts:4  2001:db8::10  dual.test" in err
    assert "source dns not reached" in err
    assert ("order 2001:db8::10 before 192.0.2.10: rule 6, prefer higher precedence "
            "(precedence 40 > 10)") in err
    assert "explained yes" in err
    assert "policy in force" not in err and "Traceback" not in err


def test_resolve_explain_verbose_adds_the_policy_table(ns: DnsNamespace,
                                                       etc: Callable[[str, str], None]) -> None:
    etc("gai.conf", "precedence ::ffff:0:0/96 100\n")
    result = ns.run("resolve", "dual.test", "--socktype", "stream", "--explain", "-v")
    assert result.status == 0, result.err
    assert "policy in force (from gai.conf: precedence)" in result.err
    assert re.search(r"::ffff:0:0/96\s+100\s+4\n", result.err)
    assert "source address for 192.0.2.10: 192.0.2.1" in result.err
    assert "order 192.0.2.10 before 2001:db8::10: rule 6" in result.err


def test_resolve_explain_json(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "dual.test", "--socktype", "stream", "--explain", "--json")
    assert result.status == 0 and result.err == ""
    (event,) = result.events()
    assert event["event"] == "resolved"
    explain = event["explain"]
    assert {"sources", "addrconfig", "policy", "sources_addresses", "decisions", "predicted",
            "explained", "differences"} <= set(explain)
    files, dns = explain["sources"]
    assert files == {"name": "files", "actions": [], "status": "SUCCESS", "reached": True,
                     "modelled": True, "action": "return",
                     "hosts_lines": [
                         {"path": "/etc/hosts", "line": 3, "address": "192.0.2.10",
                          "names": ["dual.test"]},
                         {"path": "/etc/hosts", "line": 4, "address": "2001:db8::10",
                          "names": ["dual.test"]}],
                     "addresses": ["192.0.2.10", "2001:db8::10"]}
    assert dns["reached"] is False and dns["status"] is None
    assert set(explain["addrconfig"]) >= {"AF_INET", "AF_INET6", "removed"}
    assert explain["sources_addresses"] == {"192.0.2.10": "192.0.2.1",
                                            "2001:db8::10": "2001:db8::1"}
    assert explain["decisions"] == [{"first": "2001:db8::10", "second": "192.0.2.10",
                                     "rule": 6, "why": "precedence 40 > 10"}]
    assert {"prefix": "::ffff:0:0/96", "precedence": 10, "label": 4} in explain["policy"]
    assert explain["predicted"] == ["2001:db8::10", "192.0.2.10"]
    assert explain["explained"] is True and explain["differences"] == []


def test_resolve_explain_names_asked_of_dns(ns: DnsNamespace,
                                            etc: Callable[[str, str], None]) -> None:
    etc("resolv.conf", "search corp.test test\nnameserver 127.0.0.1\n")
    result = ns.run("resolve", "a", "--explain", "--json")
    assert result.status == 0, result.err
    explain = result.events()[0]["explain"]
    dns = explain["sources"][1]
    assert dns["status"] == "SUCCESS"
    asked = [(a["name"], a["qtype"], a["rcode"]) for a in dns["names_asked"]]
    # dnsmasq is authoritative for test: a.corp.test does not exist.
    assert asked == [("a.corp.test", "A", "NXDOMAIN"), ("a.corp.test", "AAAA", "NXDOMAIN"),
                     ("a.test", "A", "NOERROR"), ("a.test", "AAAA", "NOERROR")]
    assert explain["explained"] is True
    human = ns.run("resolve", "a", "--explain", "--socktype", "stream")
    assert "asked a.test A (search test): 192.0.2.1" in human.err


def test_resolve_explain_failure_is_explained_too(ns: DnsNamespace) -> None:
    result = ns.run("resolve", "nosuch.test", "--explain", "--json")
    assert result.status == 3
    (event,) = result.events()
    assert event["event"] == "error"
    explain = event["explain"]
    assert explain["predicted"] == [] and explain["predicted_error"] == "EAI_NONAME"
    assert explain["explained"] is True
    assert [s["status"] for s in explain["sources"]] == ["NOTFOUND", "NOTFOUND"]
    human = ns.run("resolve", "nosuch.test", "--explain")
    assert human.status == 3
    assert "source dns NOTFOUND" in human.err and "explained yes" in human.err
    assert human.err.rstrip().splitlines()[-1].startswith("netprobe: resolve nosuch.test:")


@pytest.mark.parametrize("args, code", [
    (("localhost", "nosuchservice"), "EAI_SERVICE"),   # the service is not in /etc/services
    (("localhost", "7", "--socktype", "raw"), "EAI_SERVICE"),  # raw sockets take no service
])
def test_a_failure_that_depends_on_the_service_is_explained(args: tuple[str, ...],
                                                             code: str) -> None:
    # A failed lookup has no answer to carry the service: the explanation
    # takes it from the call itself, or it would predict an answer.
    result = run("resolve", *args, "--explain", "--json")
    assert result.status == 3
    (event,) = result.events()
    explain = event["explain"]
    assert explain["actual_error"] == code and explain["predicted_error"] == code
    assert explain["explained"] is True and explain["differences"] == []


def test_resolve_explain_reports_bad_files(ns: DnsNamespace,
                                           etc: Callable[[str, str], None]) -> None:
    etc("gai.conf", "precedence nonsense 7\n")
    etc("hosts", HOSTS + "999.1.2.3 broken.test\n")
    result = ns.run("resolve", "dual.test", "--explain")
    assert result.status == 0 and "Traceback" not in result.err
    assert ("/etc/gai.conf:1: precedence: 'nonsense' is not an IPv6 address; line skipped"
            in result.err)
    assert "/etc/hosts:9: '999.1.2.3' is not an IPv4 or IPv6 address; line skipped" in result.err
    etc("nsswitch.conf", "hosts: files [NOTFOUND=sometimes] dns\n")
    refused = ns.run("resolve", "dual.test", "--explain", "--json")
    assert refused.status == 3 and "Traceback" not in refused.err
    explain = refused.events()[0]["explain"]
    assert explain["nsswitch"]["refused"] is True and explain["explained"] is True
    assert explain["problems"][0]["path"] == "/etc/nsswitch.conf"
    assert explain["problems"][0]["line"] == 1


def test_connect_explain_shows_the_attempt_order(ns: DnsNamespace) -> None:
    # Port 9 is closed everywhere in the namespace: every attempt is refused.
    result = ns.run("connect", "he.test", "9", "--explain", "--happy-eyeballs", "--json")
    assert result.status == 4
    resolved = next(e for e in result.events() if e["event"] == "resolved")
    explain = resolved["explain"]
    assert explain["predicted"] == ["2001:db8::1", "fd00::1", "192.0.2.1"]
    assert explain["attempts"] == "happy_eyeballs"
    assert explain["attempt_order"] == ["[2001:db8::1]:9", "192.0.2.1:9", "[fd00::1]:9"]
    assert explain["explained"] is True
    human = ns.run("connect", "he.test", "9", "--explain")
    assert human.status == 4
    assert ("attempts [2001:db8::1]:9 -> [fd00::1]:9 -> 192.0.2.1:9  (getaddrinfo's order)"
            in human.err)
    assert "AI_ADDRCONFIG: configured AF_INET, AF_INET6" in human.err


def test_connect_explain_refuses_server() -> None:
    result = run("connect", "localhost", "9", "--explain", "--server", "127.0.0.1")
    assert result.status == 2 and result.out == ""
    assert result.err == ("netprobe: connect localhost 9: --explain explains getaddrinfo's "
                          "answer; --server bypasses getaddrinfo\n")


def test_reverse_explain_names_the_source(ns: DnsNamespace) -> None:
    result = ns.run("reverse", "192.0.2.93", "--explain", "--json")
    assert result.status == 0
    (event,) = result.events()
    assert event["host"] == "named.test"
    explain = event["explain"]
    assert explain["named_by"] == "files" and explain["explained"] is True
    assert explain["sources"][0]["hosts_lines"] == [
        {"path": "/etc/hosts", "line": 8, "address": "192.0.2.93",
         "names": ["named.test", "alias.test"]}]
    # 192.0.2.4 is in no hosts line: dnsmasq's PTR (v4only.test) names it.
    by_dns = ns.run("reverse", "192.0.2.4", "--explain")
    assert by_dns.status == 0 and "v4only.test" in by_dns.out
    assert "asked 4.2.0.192.in-addr.arpa PTR (as is): v4only.test" in by_dns.err
    assert "named by: dns" in by_dns.err and "explained yes" in by_dns.err


def test_reverse_explain_nothing_found(ns: DnsNamespace) -> None:
    result = ns.run("reverse", "192.0.2.250", "--explain", "--namereqd", "--json")
    assert result.status == 3
    explain = result.events()[0]["explain"]
    assert explain["predicted_error"] == "EAI_NONAME" and explain["explained"] is True


def test_explain_json_imports_no_dnspython_when_files_answer() -> None:
    imported = imported_by("resolve", "localhost", "--explain", "--json")
    assert "netprobe.explain.sort" in imported
    assert not {name for name in imported if name.split(".")[0] in ("rich", "dns")}


def test_explain_is_one_option_on_three_commands() -> None:
    for command in ("resolve", "connect", "reverse"):
        result = run(command, "--help")
        assert result.status == 0 and "--explain" in result.out


def test_reverse_explain_reads_the_address_as_getnameinfo_is_given_it(ns: DnsNamespace) -> None:
    # reverse builds its socket address with getaddrinfo(AI_NUMERICHOST), which reads
    # inet_aton's forms: --explain had died on them with an internal error (exit 1).
    for form in ("127.1", "0x7f.1"):
        result = ns.run("reverse", form, "--explain", "--json")
        assert result.status == 0, result.err
        explain = result.events()[0]["explain"]
        assert explain["named_by"] == "files" and explain["explained"] is True


def test_reverse_explain_unmaps_like_nss_dns(ns: DnsNamespace) -> None:
    # nss_dns asks an IPv4-mapped or -compatible address's PTR under in-addr.arpa.
    for address in ("::ffff:192.0.2.4", "::192.0.2.4"):
        result = ns.run("reverse", address, "--explain")
        assert result.status == 0 and result.out.startswith("v4only.test"), result.err
        assert "asked 4.2.0.192.in-addr.arpa PTR (as is): v4only.test" in result.err
        assert "explained yes" in result.err


def test_reverse_explain_of_the_unspecified_address_asks_no_source(ns: DnsNamespace) -> None:
    result = ns.run("reverse", "::", "--explain", "--json")
    assert result.status == 0
    explain = result.events()[0]["explain"]
    assert explain["sources"] == [] and "without asking any source" in explain["why"]
    assert explain["predicted"] == ["::"] and explain["explained"] is True


def test_reverse_explain_predicts_the_scope_getnameinfo_appends(ns: DnsNamespace) -> None:
    # Link-local: the interface's name when the index has one, else the number;
    # any other address with a scope id: the number.  (--numeric-host: the test's
    # dnsmasq has no answer for these PTR names; the scope is appended all the same.)
    for given, shown in (("fe80::1%1", "fe80::1%lo"), ("fe80::1%99", "fe80::1%99"),
                         ("2001:db8::5%1", "2001:db8::5%1")):
        result = ns.run("reverse", given, "--explain", "--json", "--numeric-host")
        assert result.status == 0, result.err
        (event,) = result.events()
        assert event["host"] == shown
        assert event["explain"]["predicted"] == [shown]
        assert event["explain"]["explained"] is True, event["explain"]["differences"]


def test_resolve_explain_predicts_for_the_idna_name_glibc_is_given(
        ns: DnsNamespace, etc: Callable[[str, str], None]) -> None:
    # CPython hands getaddrinfo a non-ASCII host in its IDNA form: that is the name
    # /etc/hosts is searched for and DNS asked, not the UTF-8 text.
    by_dns = ns.run("resolve", "bücher.test", "--socktype", "stream", "--explain")
    assert by_dns.status == 0, by_dns.err
    assert "asked xn--bcher-kva.test A (as is): 192.0.2.77" in by_dns.err
    assert "explained yes" in by_dns.err
    etc("hosts", HOSTS + "192.0.2.78 bücher.test\n192.0.2.79 xn--bcher-kva.test\n")
    result = ns.run("resolve", "bücher.test", "--socktype", "stream", "--explain", "--json")
    assert result.status == 0, result.err
    (event,) = result.events()
    assert [c["address"] for c in event["candidates"]] == ["192.0.2.79"]
    explain = event["explain"]
    assert [hit["line"] for hit in explain["sources"][0]["hosts_lines"]] == [10]
    assert explain["explained"] is True, explain["differences"]


def test_resolve_explain_predicts_eai_nodata_and_eai_again(ns: DnsNamespace) -> None:
    # getaddrinfo's error is the h_errno the last source left: NO_DATA (the name
    # exists, without AAAA) is EAI_NODATA, no answer from DNS is EAI_AGAIN.  The
    # prediction had been EAI_NONAME for every failure, so both were "explained no".
    nodata = ns.run("resolve", "v4only.test", "--family", "inet6", "--explain", "--json")
    assert nodata.status == 3
    (event,) = nodata.events()
    assert event["code"] == "EAI_NODATA"
    assert event["explain"]["predicted_error"] == "EAI_NODATA"
    assert event["explain"]["explained"] is True, event["explain"]["differences"]
    ns.write_etc("resolv.conf", "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n")
    try:
        again = ns.run("resolve", "v4only.test", "--explain", "--timeout", "2")
    finally:
        ns.write_etc("resolv.conf", "nameserver 127.0.0.1\n")
    assert again.status == 3
    assert again.err.endswith("netprobe: resolve v4only.test: EAI_AGAIN: Temporary failure "
                              "in name resolution\n")
    assert "source dns TRYAGAIN" in again.err and "explained yes" in again.err


def test_reverse_explain_predicts_eai_again_when_dns_does_not_answer(ns: DnsNamespace) -> None:
    # getnameinfo fails with EAI_AGAIN when the last source left TRY_AGAIN, even
    # without --namereqd; the prediction had been the numeric address.
    ns.write_etc("resolv.conf", "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n")
    try:
        result = ns.run("reverse", "192.0.2.4", "--explain", "--json", "--timeout", "2")
    finally:
        ns.write_etc("resolv.conf", "nameserver 127.0.0.1\n")
    assert result.status == 3
    (event,) = result.events()
    assert event["code"] == "EAI_AGAIN"
    explain = event["explain"]
    assert explain["predicted_error"] == "EAI_AGAIN" and explain["predicted"] == []
    assert explain["explained"] is True, explain["differences"]
