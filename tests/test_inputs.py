"""netprobe.inputs: the two "is this host numeric" questions, told apart by what they mean."""

from __future__ import annotations

import pytest

from netprobe.inputs import host_argument, is_ip_literal, numeric_address


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "::", "fe80::1%eth0",
                                  "::ffff:192.0.2.1", "2001:db8::1", "1:2:3:4:5:6:7:8"])
def test_ip_literals(host: str) -> None:
    assert is_ip_literal(host)


@pytest.mark.parametrize("host", ["localhost", "example.com", "127.1", "0x7f.0.0.1",
                                  "2130706433", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", "",
                                  "[::1]", "1::2::3", "::1\x00", "١.٢.٣.٤"])
def test_not_ip_literals(host: str) -> None:
    # inet_aton's forms (127.1, 0x7f..., a bare number) are numeric to
    # getaddrinfo but not address literals: no SNI decision, no shortcut.
    assert not is_ip_literal(host)


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"), ("::1", "::1"), ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
])
def test_numeric_address_is_what_getaddrinfo_parses(host: str, address: str) -> None:
    assert numeric_address(host) == address


@pytest.mark.parametrize("host", ["localhost", "example.invalid", "", "::1\x00", "ex\u00e4mple",
                                  "1::2::3"])
def test_names_have_no_numeric_address(host: str) -> None:
    # AI_NUMERICHOST: no resolver is asked, a name is simply not numeric.
    assert numeric_address(host) is None


def test_ascii_host_goes_to_the_library_as_bytes() -> None:
    assert host_argument("localhost") == b"localhost"
    assert host_argument("ex\u00e4mple") == "ex\u00e4mple"
    assert host_argument(None) is None
