"""Bad input never gives a traceback: a one-line error and exit 2 (usage) or 3 (resolution).

Hosts are looked up inside a private namespace whose resolv.conf points at
127.0.0.1 where nothing answers, so random names fail fast and never leave
the machine.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netprobe.durations import parse_duration
from netprobe.errors import InvalidInput
from netprobe.inputs import check_host, check_service, parse_port
from tests.helpers import Namespace, Result


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespace]:
    namespace = Namespace()
    yield namespace
    namespace.close()


def assert_clean_failure(result: Result, allowed: tuple[int, ...] = (2, 3)) -> None:
    assert result.status in allowed, result
    assert "Traceback" not in result.err, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netprobe: "), result.err
    assert result.out == ""


NAMED: list[tuple[list[str], int]] = [
    (["resolve", "localhost", "99999"], 2),
    (["resolve", "localhost", "65536"], 2),
    (["resolve", "localhost", "-1"], 2),
    (["resolve", "localhost", "abc", "--numeric-serv"], 3),
    (["resolve", "localhost", "nosuchservice"], 3),
    (["resolve", ""], 3),
    (["resolve", "", ""], 3),
    (["resolve", "a" * 300], 2),
    (["resolve", "x" * 64 + ".example"], 2),
    (["resolve", "bad\x01host.test", "--numeric-host"], 3),
    (["resolve", "bücher.test", "--numeric-host"], 3),
    (["resolve", "\udcff.test"], 2),
    (["resolve", "..", "80"], 2),
    (["resolve", "localhost", "--family", "bogus"], 2),
    (["resolve", "localhost", "--socktype", "bogus"], 2),
    (["resolve", "localhost", "--protocol", "999"], 2),
    (["resolve", "localhost", "-4", "-6"], 2),
    (["resolve", "localhost", "--timeout", "soon"], 2),
    (["resolve"], 2),
    (["resolve", "localhost", "--no-such-flag"], 2),
    (["frobnicate"], 2),
    (["reverse", "1.2.3.4.5"], 2),
    (["reverse", "256.1.1.1"], 2),
    (["reverse", "127.0.0.1", "99999"], 2),
    (["reverse", "127.0.0.1", "-1"], 2),
    (["reverse", "127.0.0.1", "http"], 2),
    (["reverse", "::1::2"], 2),
    (["reverse", "fe80::1%nosuchif0"], 2),
    (["reverse", "gggg::1"], 2),
    (["reverse", ""], 2),
    (["reverse", "localhost"], 2),
    (["reverse", "127.0.0.9", "--namereqd"], 3),
]


@pytest.mark.parametrize(("args", "status"), NAMED, ids=[" ".join(a)[:40] for a, _ in NAMED])
def test_named_bad_input(ns: Namespace, args: list[str], status: int) -> None:
    assert_clean_failure(ns.run(*args), (status,))


def test_nul_byte_in_host() -> None:
    # A NUL cannot cross exec(); the core rejects it for callers that pass one.
    with pytest.raises(InvalidInput):
        check_host("local\x00host")
    with pytest.raises(InvalidInput):
        check_service("8\x000")


def test_bytes_that_are_not_utf8_are_named(ns: Namespace) -> None:
    # A byte that is not UTF-8 reaches Python as a surrogate, which it cannot hand
    # to the C library: the error had been the codec's ("'utf-8' codec can't encode
    # character '\\udcff' ... surrogates not allowed").
    cases = [
        (("resolve", "127.0.0.1", "h\udcfft"), "resolve 127.0.0.1 h\\xfft: the service is "
         "not UTF-8 text: byte 0xff is not"),
        (("resolve", "x\udcff.test"), "resolve x\\xff.test: the host name is not UTF-8 "
         "text: byte 0xff is not"),
    ]
    for args, message in cases:
        result = ns.run(*args)
        assert result.status == 2 and result.err == f"netprobe: {message}\n", result.err


def test_bad_input_under_json_is_an_error_event(ns: Namespace) -> None:
    result = ns.run("resolve", "localhost", "99999", "--json")
    [event] = result.events()
    assert event["event"] == "error" and event["exit"] == 2 and result.status == 2


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(host=st.text(min_size=0, max_size=80), service=st.one_of(st.none(), st.text(max_size=12)))
def test_any_resolve_input_is_clean(ns: Namespace, host: str, service: str | None) -> None:
    host = host.replace("\x00", "")
    args = ["resolve", "--", host] + ([service.replace("\x00", "")] if service is not None else [])
    result = ns.run(*args, timeout=30)
    if result.status != 0:
        assert_clean_failure(result)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(address=st.one_of(
    st.text(max_size=45),
    st.tuples(*[st.integers(-5, 300)] * 4).map(lambda t: ".".join(map(str, t))),
    st.lists(st.text("0123456789abcdefg", max_size=5), max_size=10).map(":".join),
), port=st.one_of(st.none(), st.integers(-10, 70000).map(str)))
def test_any_reverse_input_is_clean(ns: Namespace, address: str, port: str | None) -> None:
    args = ["reverse", "--numeric-host", "--", address.replace("\x00", "")]
    result = ns.run(*args + ([port] if port is not None else []), timeout=30)
    if result.status != 0:
        assert_clean_failure(result)


@given(st.integers())
def test_service_numbers_outside_range_are_usage_errors(port: int) -> None:
    if 0 <= port <= 65535:
        check_service(str(port))
        assert parse_port(str(port), "reverse") == port
    else:
        with pytest.raises(InvalidInput):
            check_service(str(port))
        with pytest.raises(InvalidInput):
            parse_port(str(port), "reverse")


@given(st.text(alphabet="+-0123456789 \t\u0663x", max_size=8) | st.text())
def test_a_service_is_a_number_as_the_regex_says(service: str) -> None:
    # check_service reads a number as [+-]?[0-9]+ around whitespace (ASCII digits
    # only: U+0663 is a digit to str.isdigit, not to the regex).
    number = re.fullmatch(r"[+-]?[0-9]+", service.strip()) is not None
    out_of_range = number and not 0 <= int(service) <= 65535
    if out_of_range or "\x00" in service:
        with pytest.raises(InvalidInput):
            check_service(service)
    else:
        check_service(service)


@given(st.text())
def test_check_host_raises_only_invalid_input(host: str) -> None:
    with contextlib.suppress(InvalidInput):
        check_host(host)


@given(st.text())
def test_durations_parse_or_raise_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_duration(text) >= 0


def test_duration_units() -> None:
    assert parse_duration("2.5") == 2.5
    assert parse_duration("250ms") == 0.25
    assert parse_duration("2m") == 120
    assert parse_duration("1h") == 3600
    assert parse_duration("3s") == 3
    for bad in ("", "ms", "-1", "nan", "inf", "1x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
