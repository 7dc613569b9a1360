"""Unit tests of the explain package's parsers and of the sort, without a namespace.

The namespace tests (test_explain_oracle.py) check the model against the
OS; these pin the rules one by one, including glibc's quirks, so that a
change that breaks one says which.
"""

from __future__ import annotations

import socket
from pathlib import Path

from netprobe.addrinfo import Hints
from netprobe.explain import Paths, explain_resolution
from netprobe.explain.addrconfig import InterfaceAddress, Interfaces
from netprobe.explain.gaiconf import DEFAULT_LABELS, Policy, read_gai_conf
from netprobe.explain.hosts import lookup_address, lookup_name, read_host_conf, read_hosts
from netprobe.explain.nsswitch import parse_sources, read_nsswitch
from netprobe.explain.problems import Problem
from netprobe.explain.resolvconf import read_stub_conf, search_plan
from netprobe.explain.reverse import explain_reverse
from netprobe.explain.sort import (
    Address,
    Destination,
    compare,
    decisions,
    merge_sort,
    sort_destinations,
)

V4, V6 = socket.AF_INET, socket.AF_INET6


def addr(text: str) -> Address:
    return Address.parse(text)


def dest(position: int, target: str, source: str | None, **extra: object) -> Destination:
    return Destination(position, addr(target), addr(source) if source else None,
                       rank=position, **extra)  # type: ignore[arg-type]


# --- gai.conf -----------------------------------------------------------------------------


def test_gai_conf_absent_means_glibc_defaults(tmp_path: Path) -> None:
    policy = read_gai_conf(str(tmp_path / "none"))
    assert policy == Policy()
    assert policy.precedence_of(addr("::1").as_v6) == 50
    assert policy.precedence_of(addr("192.0.2.1").as_v6) == 10
    assert policy.precedence_of(addr("fd00::1").as_v6) == 40  # not RFC 6724's 3
    assert policy.label(addr("fec0::1").as_v6) == 5 and policy.label(addr("2001::1").as_v6) == 7
    assert policy.scope_v4(addr("192.168.1.1").value) == 14  # private IPv4 is global here
    assert policy.scope_v4(addr("169.254.1.1").value) == 2


def test_gai_conf_replaces_a_table_and_adds_the_catch_all(tmp_path: Path) -> None:
    path = tmp_path / "gai.conf"
    path.write_text("# comment\nprecedence ::ffff:0:0/96 100  # trailing comment\n"
                    "label 2001:db8::/32 9\n")
    policy = read_gai_conf(str(path))
    assert policy.from_file == ("label", "precedence")
    assert policy.precedence_of(addr("192.0.2.1").as_v6) == 100
    assert policy.precedence_of(addr("::1").as_v6) == 40  # the defaults are gone entirely
    assert policy.label(addr("2001:db8::1").as_v6) == 9
    assert policy.label(addr("::1").as_v6) == 1
    assert policy.scopes == Policy().scopes


def test_gai_conf_most_specific_first_file_order_among_equals(tmp_path: Path) -> None:
    path = tmp_path / "gai.conf"
    path.write_text("label ::/0 3\nlabel 2001:db8::/32 4\nlabel 2001:db8::/32 5\n")
    policy = read_gai_conf(str(path))
    assert [(e.bits, e.value) for e in policy.labels] == [(32, 4), (32, 5), (0, 3)]
    assert policy.label(addr("2001:db8::1").as_v6) == 4


def test_gai_conf_strtoul_quirks_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "gai.conf"
    path.write_text("precedence ::1/128\n"        # no value: strtoul("") is 0
                    "precedence ::2/128 -1\n"     # wraps around: out of range, skipped
                    "precedence nonsense 5\n"     # not an address
                    "precedence ::3/129 5\n"      # too many bits
                    "label ::4/ 6\n"              # empty bits: 0
                    "scopev4 10.0.0.0/8 5\n"
                    "scopev4 ::ffff:172.16.0.0/108 6\n"
                    "scopev4 ::1/128 7\n"         # not IPv4-mapped
                    "whatever 1 2\n")
    problems: list[Problem] = []
    policy = read_gai_conf(str(path), problems)
    assert policy.precedence_of(1) == 0
    assert [p.line for p in problems] == [2, 3, 4, 8, 9]
    assert all(p.path == str(path) for p in problems)
    assert policy.label(addr("2001:db8::9").as_v6) == 6  # ::4/0 matches everything
    assert policy.scope_v4(addr("10.1.2.3").value) == 5
    assert policy.scope_v4(addr("172.16.9.9").value) == 6
    assert policy.scope_v4(addr("192.0.2.1").value) == 14  # the catch-all glibc adds
    assert policy.scope_v4(addr("127.0.0.1").value) == 14  # defaults replaced


def test_policy_rows_show_each_table_for_each_prefix() -> None:
    rows = {row["prefix"]: row for row in Policy().to_json()}
    assert rows["::1/128"] == {"prefix": "::1/128", "precedence": 50, "label": 0}
    assert rows["fc00::/7"] == {"prefix": "fc00::/7", "precedence": 40, "label": 6}
    assert rows["::/0"] == {"prefix": "::/0", "precedence": 40, "label": 1}
    assert len(DEFAULT_LABELS) == 8


# --- nsswitch.conf --------------------------------------------------------------------------


def test_nsswitch_actions_parse_as_glibc() -> None:
    sources = parse_sources("files [NOTFOUND=return] dns [!UNAVAIL=Return success=CONTINUE] "
                            "myhostname")
    assert not isinstance(sources, str)
    files, dns, other = sources
    assert files.actions["NOTFOUND"] == "return" and files.actions["SUCCESS"] == "return"
    assert dns.actions == {"SUCCESS": "continue", "NOTFOUND": "return", "UNAVAIL": "continue",
                           "TRYAGAIN": "return"}
    assert other.non_default() == []
    assert files.non_default() == ["NOTFOUND=return"]


def test_nsswitch_syntax_errors() -> None:
    assert isinstance(parse_sources("files [NOTFOUND=bogus] dns"), str)
    assert isinstance(parse_sources("files [BOGUS=return]"), str)
    assert isinstance(parse_sources("files [NOTFOUND=return"), str)
    assert isinstance(parse_sources("files [NOTFOUND return]"), str)
    # A "[" where a source name should be ends the list (glibc stops there).
    assert [s.name for s in parse_sources("files [NOTFOUND=return] [x]")  # type: ignore[union-attr]
            ] == ["files"]


def test_nsswitch_default_and_refusal(tmp_path: Path) -> None:
    missing = read_nsswitch(str(tmp_path / "none"))
    assert [s.name for s in missing.sources] == ["files", "dns"] and missing.line is None
    path = tmp_path / "nsswitch.conf"
    path.write_text("# hosts: dns\npasswd: files\n")
    assert read_nsswitch(str(path)).to_json()["default"] is True
    path.write_text("hosts: dns\nhosts:files # later line wins\n")
    later = read_nsswitch(str(path))
    assert [s.name for s in later.sources] == ["files", "#", "later", "line", "wins"]
    assert later.line == 2
    path.write_text("hosts: files dns\ngroup: files [NOTFOUND=maybe]\n")
    problems: list[Problem] = []
    refused = read_nsswitch(str(path), problems)
    assert refused.refused and refused.sources == []
    assert problems[0].line == 2 and "refuses the whole file" in problems[0].message
    path.write_text("automount: files [bad\nhosts: files\n")
    assert [s.name for s in read_nsswitch(str(path)).sources] == ["files"]


# --- hosts and host.conf ---------------------------------------------------------------------


def test_hosts_lines_as_nss_files_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n::1 localhost\n  # comment\n"
                    "192.0.2.1 One.Test one # alias after comment ignored: two\n"
                    "bogus two.test\n2001:db8::1 one.test\n::ffff:192.0.2.9 nine.test\n")
    problems: list[Problem] = []
    hosts = read_hosts(str(path), problems)
    assert [p.line for p in problems] == [5]
    assert [m.address for m in lookup_name(hosts, "ONE.test", socket.AF_UNSPEC, True)] == [
        "192.0.2.1", "2001:db8::1"]
    assert [m.address for m in lookup_name(hosts, "one.test", socket.AF_UNSPEC, False)] == [
        "192.0.2.1"]
    assert lookup_name(hosts, "two", socket.AF_UNSPEC, True) == []
    # AF_INET reads ::1 as 127.0.0.1 and a mapped address as IPv4.
    assert [m.address for m in lookup_name(hosts, "localhost", socket.AF_INET, True)] == [
        "127.0.0.1", "127.0.0.1"]
    assert [m.address for m in lookup_name(hosts, "nine.test", socket.AF_INET, True)] == [
        "192.0.2.9"]
    assert [m.address for m in lookup_name(hosts, "one.test", socket.AF_INET6, True)] == [
        "2001:db8::1"]
    line = lookup_address(hosts, socket.AF_INET, socket.inet_aton("192.0.2.1"))
    assert line is not None and line.line == 4 and line.names[0] == "One.Test"


def test_host_conf_multi(tmp_path: Path) -> None:
    path = tmp_path / "host.conf"
    path.write_text("order hosts,bind\nmulti on\n")
    assert read_host_conf(str(path), environ={}) is True
    assert read_host_conf(str(path), environ={"RESOLV_MULTI": "off"}) is False
    assert read_host_conf(str(tmp_path / "none"), environ={}) is False
    path.write_text("multi maybe\n")
    problems: list[Problem] = []
    assert read_host_conf(str(path), problems, environ={}) is False
    assert problems and problems[0].line == 1


# --- resolv.conf and the names asked --------------------------------------------------------


def test_resolv_conf_rules(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("search a.test b.test\ndomain c.test\nnameserver 192.0.2.53\n"
                    "nameserver not-an-address\noptions ndots:3 no-aaaa\n")
    problems: list[Problem] = []
    conf = read_stub_conf(str(path), problems, environ={}, hostname="box")
    assert conf.search == ["c.test"] and conf.ndots == 3 and conf.no_aaaa
    assert conf.servers == ["192.0.2.53"] and problems[0].line == 4
    conf = read_stub_conf(str(path), environ={"LOCALDOMAIN": "x.test y.test",
                                              "RES_OPTIONS": "ndots:20"}, hostname="box")
    assert conf.search == ["x.test", "y.test"] and conf.ndots == 15
    empty = read_stub_conf(str(tmp_path / "none"), environ={}, hostname="box.corp.test")
    assert empty.search == ["corp.test"] and empty.servers == ["127.0.0.1"]


def test_search_order() -> None:
    conf = read_stub_conf("/nonexistent", environ={"LOCALDOMAIN": "corp.test"}, hostname="h")
    assert [s.name for s in search_plan("db", conf)[0]] == ["db.corp.test", "db"]
    assert [s.name for s in search_plan("db.x", conf)[0]] == ["db.x", "db.x.corp.test"]
    assert [s.name for s in search_plan("db.x.", conf)[0]] == ["db.x"]
    deeper = conf._replace(ndots=2)
    assert [s.name for s in search_plan("db.x", deeper)[0]] == ["db.x.corp.test", "db.x"]
    no_tld = conf._replace(no_tld_query=True)
    assert [s.name for s in search_plan("db", no_tld)[0]] == ["db.corp.test"]


# --- the sort --------------------------------------------------------------------------------


def test_rules_one_by_one() -> None:
    policy = Policy()
    v6 = dest(0, "2001:db8::10", "2001:db8::1")
    v4 = dest(1, "192.0.2.10", "192.0.2.1")
    assert compare(v6, v4, policy)[:2] == (-1, 6)
    assert compare(v4, v6, policy).why == "precedence 10 < 40"
    unroutable = dest(0, "198.51.100.1", None)
    assert compare(unroutable, v4, policy)[:2] == (1, 1)
    link_local_src = dest(0, "2001:db8::10", "fe80::1")
    assert compare(link_local_src, v4, policy)[:2] == (1, 2)
    deprecated = dest(0, "2001:db8::10", "2001:db8::1", deprecated=True)
    assert compare(deprecated, dest(1, "2001:db8::11", "2001:db8::1"), policy)[:2] == (1, 3)
    label_mismatch = dest(0, "2002:c000:201::1", "2001:db8::1")
    assert compare(label_mismatch, v4, policy)[:2] == (1, 5)
    site = dest(0, "fec0::10", "fec0::1")
    glob = dest(1, "2001:db8::10", "2001:db8::1")
    assert compare(glob, site, policy)[:2] == (1, 8)
    near = dest(1, "192.0.2.3", "192.0.2.1", prefixlen=24)
    far = dest(0, "192.0.2.200", "192.0.2.1", prefixlen=24)
    assert compare(far, near, policy)[:2] == (1, 9)
    assert compare(far, near, policy).why == "common prefix with the source 24 < 30 bits"
    same = dest(2, "192.0.2.200", "192.0.2.1", prefixlen=24)
    assert compare(far, same, policy)[:2] == (-1, 10)


def test_ipv4_rule_9_needs_the_prefix_length() -> None:
    # No rtnetlink data (prefix length 0): glibc's mask is /32, nothing matches.
    near = dest(1, "192.0.2.3", "192.0.2.1")
    far = dest(0, "192.0.2.200", "192.0.2.1")
    assert compare(far, near, Policy())[:2] == (-1, 10)


def test_merge_sort_is_glibcs_even_for_a_non_transitive_comparison() -> None:
    # Rule 9 orders only one family; rule 10 everything else: not transitive.
    items = [dest(0, "2001:db8::ffff:1", "2001:db8::1"), dest(1, "192.0.2.10", "192.0.2.1"),
             dest(2, "2001:db8::2", "2001:db8::1")]
    policy = Policy(precedence=((Policy().precedence[-1]),))  # one precedence for all
    ordered = sort_destinations(items, policy)
    # glibc's merge sort: [A] + sort([B, C]) = [A] + [B, C] (rule 10), then A
    # before B (rule 10): rule 9 between A and C is never consulted.
    assert [d.address.text() for d in ordered] == ["2001:db8::ffff:1", "192.0.2.10",
                                                   "2001:db8::2"]
    assert compare(items[2], items[0], policy).rule == 9
    assert merge_sort([3, 1, 2], lambda a, b: a <= b) == [1, 2, 3]
    assert [s["rule"] for s in decisions(ordered, policy)] == [10, 10]


def test_mapped_text_is_the_c_librarys() -> None:
    assert addr("::ffff:192.0.2.1").text() == "::ffff:192.0.2.1"


# --- the whole explanation, offline -------------------------------------------------------------


def _paths(tmp_path: Path, **files: str) -> Paths:
    names = {"nsswitch": "nsswitch.conf", "hosts": "hosts", "host_conf": "host.conf",
             "resolv": "resolv.conf", "gai": "gai.conf"}
    for key, name in names.items():
        if key in files:
            (tmp_path / name).write_text(files[key])
    return Paths(**{key: str(tmp_path / name) for key, name in names.items()})


NO_INTERFACES = Interfaces([])
LOOPBACK_ONLY = Interfaces([InterfaceAddress(V4, 0x7F000001, 8, 0, 1),
                            InterfaceAddress(V6, 1, 128, 0, 1)])


def test_bad_files_are_reported_never_raised(tmp_path: Path) -> None:
    paths = _paths(tmp_path, nsswitch="hosts: files [SUCCESS=oops]\n",
                   hosts="not-an-address x\n", gai="precedence what 1\n")
    (tmp_path / "host.conf").mkdir()  # unreadable: a directory
    explain = explain_resolution("x.test", Hints(), None, "EAI_NONAME", paths=paths,
                                 environ={}, interfaces=NO_INTERFACES)
    assert explain["explained"] is True  # glibc fails too: the file is refused
    assert explain["nsswitch"]["refused"] is True
    places = {(p["path"].rsplit("/", 1)[-1], p["line"]) for p in explain["problems"]}
    assert {("nsswitch.conf", 1), ("gai.conf", 1), ("host.conf", None)} <= places


def test_addrconfig_with_loopback_only_filters_nothing_and_fails_families(tmp_path: Path) -> None:
    paths = _paths(tmp_path, nsswitch="hosts: files\n",
                   hosts="192.0.2.1 d.test\n2001:db8::1 d.test\n", host_conf="multi on\n")
    hints = Hints(socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    explain = explain_resolution("d.test", hints, None, "EAI_NONAME", paths=paths, environ={},
                                 interfaces=LOOPBACK_ONLY)
    assert explain["addrconfig"]["AF_INET"] is False and explain["addrconfig"]["AF_INET6"] is False
    assert explain["predicted_error"] is None and explain["explained"] is False
    v6 = explain_resolution("d.test", hints._replace(family=socket.AF_INET6), None,
                            "EAI_NONAME", paths=paths, environ={}, interfaces=LOOPBACK_ONLY)
    assert v6["predicted_error"] == "EAI_NONAME" and v6["explained"] is True


def test_reverse_failures_compare_by_name(tmp_path: Path) -> None:
    paths = _paths(tmp_path, nsswitch="hosts: files\n", hosts="127.0.0.1 localhost\n")
    flags = socket.NI_NAMEREQD
    same = explain_reverse("127.0.0.9", flags, None, "EAI_NONAME", paths=paths, environ={})
    assert same["predicted_error"] == "EAI_NONAME" and same["explained"] is True
    other = explain_reverse("127.0.0.9", flags, None, "EAI_AGAIN", paths=paths, environ={})
    assert other["explained"] is False
    assert other["differences"] == ["predicted EAI_NONAME, getnameinfo gave EAI_AGAIN"]
