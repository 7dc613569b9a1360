"""Unit tests of getaddrinfo's entries (glibc's socket-type table) and of the comparison.

The namespace tests check both against the OS; these pin the rules one by
one, glibc's quirks included, with a services database given as a table.
"""

from __future__ import annotations

import socket
from pathlib import Path

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.explain import Paths, explain_resolution
from netprobe.explain.addrconfig import InterfaceAddress, Interfaces
from netprobe.explain.compare import differences
from netprobe.explain.entries import (
    IPPROTO_MPTCP,
    IPPROTO_SCTP,
    SOCK_SEQPACKET,
    Entry,
    Kind,
    entry_kinds,
    expand,
    service_number,
    type_table,
)
from netprobe.explain.sort import Address

STREAM, DGRAM, RAW = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW
TCP, UDP = socket.IPPROTO_TCP, socket.IPPROTO_UDP
ROWS = type_table((2, 36))
#: A services database: which protocols know each service.
SERVICES = {"echo": {"tcp", "udp"}, "http": {"tcp"}, "discard": {"tcp", "udp", "sctp"}}


def known(service: str, protocol: str) -> bool:
    return protocol in SERVICES.get(service, set())


def kinds(socktype: int, protocol: int, service: str | None = None) -> list[tuple[int, int]]:
    found = entry_kinds(socktype, protocol, service, ROWS, known)
    assert found.error is None, found
    return [tuple(kind) for kind in found.kinds]  # type: ignore[misc]


def error(socktype: int, protocol: int, service: str | None = None) -> str | None:
    found = entry_kinds(socktype, protocol, service, ROWS, known)
    assert found.kinds == [] and found.why
    return found.error


def test_nothing_given_means_the_three_default_rows() -> None:
    assert kinds(0, 0) == [(STREAM, TCP), (DGRAM, UDP), (RAW, 0)]
    assert kinds(0, 0, "7") == [(STREAM, TCP), (DGRAM, UDP), (RAW, 0)]  # numeric: the same


def test_a_socket_type_or_protocol_picks_the_first_row_that_matches() -> None:
    assert kinds(STREAM, 0) == [(STREAM, TCP)]
    assert kinds(DGRAM, 0) == [(DGRAM, UDP)]
    assert kinds(RAW, 0) == [(RAW, 0)]
    assert kinds(0, UDP) == [(DGRAM, UDP)]
    assert kinds(0, IPPROTO_SCTP) == [(STREAM, IPPROTO_SCTP)]  # not the SEQPACKET row too
    assert kinds(SOCK_SEQPACKET, 0) == [(SOCK_SEQPACKET, IPPROTO_SCTP)]
    assert kinds(0, 47) == [(RAW, 47)]  # the raw row takes any protocol, and keeps it
    assert kinds(RAW, 47) == [(RAW, 47)]
    assert kinds(STREAM, 0, "80") == [(STREAM, TCP)]


def test_rows_that_match_nothing_and_services_that_do_not_fit() -> None:
    assert error(STREAM, UDP) == "EAI_SOCKTYPE"
    assert error(socket.SOCK_RDM, 0) == "EAI_SOCKTYPE"
    assert error(RAW, 0, "7") == "EAI_SERVICE"  # raw takes no service, not even a port
    assert error(0, 0, "nosuch") == "EAI_SERVICE"
    assert error(DGRAM, 0, "http") == "EAI_SERVICE"  # http is tcp only
    assert error(0, 0, "-1") == "EAI_SERVICE"  # a name to glibc, which no protocol knows


def test_a_service_name_asks_every_row_but_raw() -> None:
    assert kinds(0, 0, "echo") == [(STREAM, TCP), (DGRAM, UDP)]
    assert kinds(0, 0, "http") == [(STREAM, TCP)]
    # Both SCTP rows ask for "sctp": the service gives an entry for each.
    assert kinds(0, 0, "discard") == [(STREAM, TCP), (DGRAM, UDP), (STREAM, IPPROTO_SCTP),
                                      (SOCK_SEQPACKET, IPPROTO_SCTP)]
    assert kinds(0, UDP, "echo") == [(DGRAM, UDP)]


def test_the_table_by_glibc_release() -> None:
    assert [row.name for row in type_table((2, 36))] == [
        "tcp", "udp", "dccp", "udplite", "sctp", "sctp", "raw"]
    newer = type_table((2, 42))
    assert [row.name for row in newer][-2:] == ["mptcp", "raw"]
    assert newer[-2].kind == Kind(STREAM, IPPROTO_MPTCP) and not newer[-2].default
    assert type_table(None) == type_table((2, 36))


def test_service_numbers_as_strtoul_reads_them_into_an_int() -> None:
    assert [service_number(s) for s in ("7", " 7", "+7", "\t80", "-0", "0")] == [
        7, 7, 7, 80, 0, 0]
    assert [service_number(s) for s in ("7x", "x7", "http", "0x50", "٣", "+", " ")] == [
        None] * 7
    assert service_number("-1") == -1
    assert service_number("99999999999999999999999") == -1  # ULONG_MAX
    assert service_number("4294967297") == 1
    assert service_number("2147483648") == -2147483648


def entry(text: str, kind: tuple[int, int] = (STREAM, TCP)) -> Entry:
    return Entry(Address.parse(text), Kind(*kind))


def test_expand_is_address_major() -> None:
    a, b = Address.parse("::1"), Address.parse("127.0.0.1")
    udp, tcp = Kind(DGRAM, UDP), Kind(STREAM, TCP)
    assert expand([a, b, b], [tcp, udp]) == [
        Entry(a, tcp), Entry(a, udp), Entry(b, tcp), Entry(b, udp), Entry(b, tcp), Entry(b, udp)]


def test_differences_compare_sequences_never_sets() -> None:
    one, two = entry("192.0.2.2"), entry("192.0.2.3")
    assert differences([one, one, two], [one, one, two], None, None) == []
    assert differences([one, two], [one, one, two], None, None) == [
        "2 entries predicted, 3 returned", "192.0.2.2: 1 predicted, 2 returned"]
    assert differences([one, two, one], [one, one, two], None, None) == [
        "entry 1: predicted 192.0.2.3, getaddrinfo gave 192.0.2.2"]
    assert differences([entry("::1", (DGRAM, UDP))], [entry("::1", (RAW, 0))], None, None) == [
        "entry 0: predicted ::1 SOCK_DGRAM/IPPROTO_UDP, getaddrinfo gave ::1 SOCK_RAW/0"]
    assert differences([one], [two, two], None, None) == [
        "192.0.2.3: returned by getaddrinfo, not predicted",
        "192.0.2.2: predicted, not returned by getaddrinfo"]


def test_differences_name_the_failures() -> None:
    assert differences([], [], "EAI_NONAME", "EAI_NONAME") == []
    assert differences([], [], "EAI_NONAME", "EAI_AGAIN") == [
        "predicted EAI_NONAME, getaddrinfo gave EAI_AGAIN"]
    assert differences([], [entry("192.0.2.2")], "EAI_NONAME", None) == [
        "predicted EAI_NONAME, getaddrinfo gave an answer",
        "192.0.2.2: returned by getaddrinfo, not predicted"]


LOOPBACK_ONLY = Interfaces([InterfaceAddress(socket.AF_INET, 0x7F000001, 8, 0, 1),
                            InterfaceAddress(socket.AF_INET6, 1, 128, 0, 1)])


def _answer(hints: Hints, entries: list[tuple[str, int, int]]) -> Resolution:
    candidates = [Candidate(i, socket.AF_INET6 if ":" in a else socket.AF_INET, t, p, "", a, 0)
                  for i, (a, t, p) in enumerate(entries)]
    return Resolution("d.test", None, hints, candidates, None, 0.0)


def test_a_repeated_hosts_line_is_predicted_twice(tmp_path: Path) -> None:
    for name, text in (("nsswitch.conf", "hosts: files\n"), ("host.conf", "multi on\n"),
                       ("hosts", "127.0.0.1 d.test\n::1 x.test\n127.0.0.1 d.test\n"),
                       ("gai.conf", ""), ("resolv.conf", "")):
        (tmp_path / name).write_text(text)
    paths = Paths(*(str(tmp_path / n) for n in ("nsswitch.conf", "hosts", "host.conf",
                                               "resolv.conf", "gai.conf")))
    hints = Hints(socket.AF_INET, 0, 0, 0)
    every = [("127.0.0.1", STREAM, TCP), ("127.0.0.1", DGRAM, UDP), ("127.0.0.1", RAW, 0)]
    explain = explain_resolution("d.test", hints, _answer(hints, every * 2), paths=paths,
                                 environ={}, interfaces=LOOPBACK_ONLY)
    assert explain["predicted"] == ["127.0.0.1"] * 6
    assert explain["explained"] is True and explain["differences"] == []
    once = explain_resolution("d.test", hints, _answer(hints, every), paths=paths, environ={},
                              interfaces=LOOPBACK_ONLY)
    assert once["explained"] is False and once["actual"] == ["127.0.0.1"] * 3
    assert once["differences"] == ["6 entries predicted, 3 returned",
                                   "127.0.0.1: 6 predicted, 3 returned"]
