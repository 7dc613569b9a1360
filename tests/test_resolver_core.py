"""The resolution core used directly: events, order, errors, the bounded call."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from netprobe.addrinfo import Candidate, Hints
from netprobe.errors import GaiError, InvalidInput, TimedOut
from netprobe.resolver import call_bounded, getaddrinfo, getnameinfo
from tests.helpers import Recorder


def test_events_in_order_and_candidates_as_the_library_gives_them() -> None:
    trace = Recorder()
    hints = Hints(socktype=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    result = getaddrinfo("::1", "8080", hints, trace=trace)
    names = [name for name, _ in trace.events]
    assert names == ["resolving", *["candidate"] * len(result.candidates), "resolved"]
    want = socket.getaddrinfo("::1", "8080", 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    assert [c.sockaddr for c in result.candidates] == [tuple(w[4]) for w in want]
    assert result.candidates[0] == Candidate(0, socket.AF_INET6, socket.SOCK_STREAM,
                                             socket.IPPROTO_TCP, "", "::1", 8080, 0, 0)
    assert result.candidates[0].endpoint() == "[::1]:8080"
    assert trace.events[-1][1]["hints"]["flags"] == ["AI_NUMERICHOST"]


def test_empty_strings_are_null() -> None:
    result = getaddrinfo("", "80", Hints(socktype=socket.SOCK_STREAM, flags=socket.AI_PASSIVE))
    assert result.host is None
    assert {c.address for c in result.candidates} <= {"0.0.0.0", "::"}


def test_gai_error_carries_name_number_and_text() -> None:
    with pytest.raises(GaiError) as info:
        getaddrinfo("not-numeric.test", None, Hints(flags=socket.AI_NUMERICHOST))
    error = info.value
    assert error.eai_name == "EAI_NONAME" and error.eai_number == socket.EAI_NONAME
    assert error.message == "Name or service not known"
    assert error.line() == "resolve not-numeric.test: EAI_NONAME: Name or service not known"


def test_scope_id_and_flowinfo_are_kept() -> None:
    result = getaddrinfo("fe80::1%1", "80", Hints(socktype=socket.SOCK_STREAM,
                                                   flags=socket.AI_NUMERICHOST))
    assert result.candidates[0].scope_id == 1
    assert result.candidates[0].to_json()["scope_id"] == 1


def test_getnameinfo_numeric() -> None:
    trace = Recorder()
    info = getnameinfo("::1", "443", socket.NI_NUMERICHOST | socket.NI_NUMERICSERV, trace=trace)
    assert (info.host, info.service) == ("::1", "443")
    assert trace.events[-1][0] == "reversed"
    assert trace.events[-1][1]["flags"] == ["NI_NUMERICHOST", "NI_NUMERICSERV"]
    with pytest.raises(InvalidInput):
        getnameinfo("not an address", None, 0)


def test_call_bounded_gives_up_at_the_timeout() -> None:
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(TimedOut) as info:
        call_bounded(lambda: release.wait(10), 0.2, "resolve", "slow.test")
    release.set()
    assert time.monotonic() - start < 2
    assert info.value.code == "ETIMEDOUT" and info.value.stage == "resolve"


def test_call_bounded_passes_results_and_errors_through() -> None:
    assert call_bounded(lambda: 42, 1.0, "resolve", "x") == 42
    assert call_bounded(lambda: 43, None, "resolve", "x") == 43

    def fail() -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(socket.gaierror):
        call_bounded(fail, 1.0, "resolve", "x")
