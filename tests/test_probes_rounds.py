"""A probe reads its attempts off the core's round; the core builds no attempt event unread.

The watcher of ``connect --count`` (``Watcher(rounds=True)``) takes which
candidate a probe ended on, when its attempt started and ended, and a
failure's errno, message and ``why`` from the round ``connect_round``
returns; the attempt events are built only when something reads them
(-v: ``attempt_started`` and ``connected``, for TCP_INFO; -vv: all).
Real loopback sockets throughout.
"""

from __future__ import annotations

import io
import math
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.connect import Plan, connect_sequential
from netprobe.connect.attempts import Attempt, Outcome
from netprobe.connect.rounds import Exchange, Method, connect_round
from netprobe.events import Event
from netprobe.probes.loop import ProbePlan, run_probes
from netprobe.probes.outcome import ProbeResult
from netprobe.probes.probe import Watcher, finish_order, last_decided, latest_why, make_probe
from netprobe.render.jsonl import JsonLines
from netprobe.render.jsontext import ProbeLines, seconds_text
from netprobe.resolver import getaddrinfo
from tests.helpers import Recorder

ATTEMPT_EVENTS = {"attempt_started", "attempt", "connected"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Spy:
    """Between the core and the watcher: keeps the name of every event the core sends,
    and wants what the watcher wants."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.names: list[str] = []

    def wants(self, event: str) -> bool:
        return self.watcher.wants(event)

    def __call__(self, event: str, fields: Event) -> None:
        self.names.append(event)
        self.watcher(event, fields)


def probe_once(port: int, *, verbose: int = 0) -> tuple[ProbeResult, Spy]:
    """One probe of 127.0.0.1 ``port`` as ``connect --count`` makes it (-z: connect, close)."""
    resolution = getaddrinfo("127.0.0.1", str(port), Hints(socktype=socket.SOCK_STREAM))
    out = JsonLines(stream=io.StringIO())
    watcher = Watcher(out, verbose=verbose, rounds=True)
    spy = Spy(watcher)

    def resolve(bound: float | None) -> Resolution:
        return resolution

    def once(trace: Any) -> Any:
        return connect_round(resolve, Method(Plan(timeout=5.0)), "x",
                             exchange=Exchange(check=True, stdin=False), trace=spy)

    return make_probe(once, watcher)(1), spy


def test_a_probe_builds_no_attempt_event_and_still_ends_on_its_candidate(
        accepting_listener: socket.socket) -> None:
    port = accepting_listener.getsockname()[1]
    result, spy = probe_once(port)
    assert ATTEMPT_EVENTS.isdisjoint(spy.names), spy.names
    assert result.ok and result.errno is None and result.message == ""
    assert result.candidate is not None
    assert (result.candidate["address"], result.candidate["port"]) == ("127.0.0.1", port)
    assert 0 < result.elapsed < 5 and result.tcp_info is None


def test_a_refused_probe_keeps_its_errno_message_and_why_from_the_round() -> None:
    port = closed_port()
    result, spy = probe_once(port)
    assert ATTEMPT_EVENTS.isdisjoint(spy.names), spy.names
    assert (result.outcome, result.errno, result.message) == (
        "refused", "ECONNREFUSED", "Connection refused")
    assert result.candidate is not None and result.candidate["port"] == port
    assert result.why is not None and result.why["kind"] == "no-listener"
    assert 0 < result.elapsed < 5 and result.error is not None


def test_with_v_only_what_tcp_info_needs_is_built(accepting_listener: socket.socket) -> None:
    result, spy = probe_once(accepting_listener.getsockname()[1], verbose=1)
    assert {"attempt_started", "connected", "syscall"} <= set(spy.names)
    assert "attempt" not in spy.names
    assert result.ok and result.tcp_info is not None


def test_with_vv_every_attempt_event_is_built(accepting_listener: socket.socket) -> None:
    _, spy = probe_once(accepting_listener.getsockname()[1], verbose=2)
    assert ATTEMPT_EVENTS | {"step"} <= set(spy.names)


class Choosy(Recorder):
    """A recorder that says it reads none of the attempt events."""

    def wants(self, event: str) -> bool:
        return event not in ATTEMPT_EVENTS


def test_the_reporter_builds_the_attempt_events_only_when_wanted(
        accepting_listener: socket.socket) -> None:
    where = Candidate(0, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                      "127.0.0.1", accepting_listener.getsockname()[1])
    choosy, plain = Choosy(), Recorder()
    for trace in (choosy, plain):
        connected = connect_sequential([where], Plan(timeout=5.0), "x", trace=trace)
        connected.sock.close()
        # What the attempt records is the same either way.
        made = connected.attempt
        assert made.outcome is Outcome.CONNECTED and made.ended is not None
        assert made.started <= made.ended
    assert not {name for name, _ in choosy.events} & ATTEMPT_EVENTS
    assert {name for name, _ in plain.events} >= ATTEMPT_EVENTS  # a plain callable: all


# --- which attempt a probe ended on ------------------------------------------------------


def made(index: int, outcome: Outcome | None, ended: float | None,
         why: dict[str, Any] | None = None) -> Attempt:
    attempt = Attempt(Candidate(index, socket.AF_INET, socket.SOCK_STREAM,
                                socket.IPPROTO_TCP, "", f"127.0.0.{index + 1}", 9),
                      0.0, 10.0, 0.0)
    attempt.outcome, attempt.ended, attempt.why = outcome, ended, why
    return attempt


def test_a_races_attempts_in_the_order_they_ended() -> None:
    # Started 0, 1, 2; 1 was refused first, 0 timed out last, 2 was cancelled between.
    first, second, third = (made(0, Outcome.TIMEOUT, 3.0, {"kind": "a"}),
                            made(1, Outcome.REFUSED, 1.0, {"kind": "b"}),
                            made(2, Outcome.CANCELLED, 2.0))
    ordered = finish_order([first, second, third])
    assert ordered == [second, third, first]
    assert last_decided(ordered) is first and latest_why(ordered) == {"kind": "a"}
    # The last to end was cancelled: the one decided before it counts.
    late = made(3, Outcome.CANCELLED, 4.0)
    assert last_decided(finish_order([first, second, late])) is first
    # Decided in one wait (the same clock value): in the list's order.
    tie = [made(0, Outcome.REFUSED, 1.0), made(1, Outcome.REFUSED, 1.0)]
    assert last_decided(finish_order(tie)) is tie[1]
    # Never ended (interrupted), or no why: not counted.
    assert last_decided(finish_order([made(0, None, None)])) is None
    assert latest_why(finish_order([second, made(4, Outcome.REFUSED, 5.0)])) == {"kind": "b"}


# --- the run loop --------------------------------------------------------------------------


def test_back_to_back_probes_read_the_clock_once_each() -> None:
    reads = [0]

    def clock() -> float:
        reads[0] += 1
        return float(reads[0])

    def probe(seq: int) -> ProbeResult:
        return ProbeResult(seq, None, "ok", 0.001)

    run_probes(probe, ProbePlan(5, 0.0), trace=Recorder(), clock=clock,
               sleep=lambda seconds: None)
    assert reads[0] == 1 + 5  # the start, then each probe's end (its successor's start)


# --- a probe line's times as json writes them ------------------------------------------------


@given(st.floats(allow_nan=True, allow_infinity=True)
       | st.floats(0, 2e9) | st.floats(0, 1e-3) | st.integers(0, 10**9).map(lambda k: k / 1e6))
def test_seconds_text_is_the_repr_of_round_6(seconds: float) -> None:
    assert seconds_text(seconds) == float.__repr__(round(seconds, 6))


@pytest.mark.parametrize("seconds", [0.0, -0.0, 1e-4, 0.0001, 9.9999e-5, 0.00005, 1.0, 10.0,
                                     100.0000004, 0.1234565, 0.1234575, 2.5e-7, 999999999.9999,
                                     1e9, 4294967296.5, -1.5])
def test_seconds_text_at_the_edges(seconds: float) -> None:
    assert seconds_text(seconds) == float.__repr__(round(seconds, 6))


def test_the_kept_elapsed_texts_tell_zero_from_minus_zero() -> None:
    lines = ProbeLines()

    def elapsed_member(value: float) -> str:
        fields = {"seq": 1, "candidate": None, "outcome": "ok", "errno": None, "message": "",
                  "elapsed_ms": value, "tcp_info": None}
        text = lines.members(fields)
        assert text is not None
        return text.split('"elapsed_ms":')[1].split(",")[0]

    assert [elapsed_member(v) for v in (0.0, -0.0, 0.0, 0.123, 0.123, 1e-05, 1e-05)] == [
        "0.0", "-0.0", "0.0", "0.123", "0.123", "1e-05", "1e-05"]
    assert lines.members({"seq": 1, "candidate": None, "outcome": "ok", "errno": None,
                          "message": "", "elapsed_ms": math.nan, "tcp_info": None}) is None
