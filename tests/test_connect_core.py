"""The connect core on its own: outcomes, --source parsing, the RFC 8305 order, the race.

Real sockets throughout (loopback listeners and closed ports); only the
clock and the race's wait primitive are replaced, so that the race's timing
can be asserted exactly, including two attempts finishing in the same wait.
"""

from __future__ import annotations

import errno
import io
import json
import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.addrinfo import Candidate
from netprobe.connect import (
    Attempt,
    CandidatesFailed,
    CandidatesTimedOut,
    Outcome,
    Plan,
    classify,
    compile_expect,
    connect_every,
    connect_sequential,
    failure,
    happy_eyeballs,
    interleave_families,
    relay,
)
from netprobe.errors import AllCandidatesFailed, CheckFailed, InvalidInput, TimedOut
from netprobe.render.jsonl import JsonLines
from netprobe.resolver import parse_source
from tests.helpers import Recorder, free_port

V4, V6 = socket.AF_INET, socket.AF_INET6


def candidate(index: int, port: int, family: int = V4, address: str | None = None) -> Candidate:
    host = address or ("127.0.0.1" if family == V4 else "::1")
    return Candidate(index, family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", host, port)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback listener that accepts in the kernel (nobody calls accept)."""
    with socket.socket(V4, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


# --- outcomes and inputs -------------------------------------------------------------


def test_classify_errnos() -> None:
    assert classify(errno.ECONNREFUSED) is Outcome.REFUSED
    assert classify(errno.ETIMEDOUT) is Outcome.TIMEOUT
    assert classify(errno.ENETUNREACH) is Outcome.UNREACHABLE
    assert classify(errno.EHOSTUNREACH) is Outcome.UNREACHABLE
    assert classify(errno.EADDRNOTAVAIL) is Outcome.ERROR
    assert [o.value for o in Outcome] == [
        "connected", "refused", "timeout", "unreachable", "cancelled", "error"]


@pytest.mark.parametrize(("text", "family", "address", "port"), [
    ("127.0.0.2", V4, "127.0.0.2", 0),
    ("127.0.0.2:4000", V4, "127.0.0.2", 4000),
    ("::1", V6, "::1", 0),
    ("[::1]", V6, "::1", 0),
    ("[::1]:4000", V6, "::1", 4000),
])
def test_parse_source(text: str, family: int, address: str, port: int) -> None:
    source = parse_source(text)
    assert (source.family, source.sockaddr[0], source.port) == (family, address, port)


@pytest.mark.parametrize("text", ["", "127.0.0.1:", "127.0.0.1:99999", "[::1", "[::1]x",
                                  "[::1]:", "example:80", "1.2.3.4:http", ":80"])
def test_parse_source_rejects(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_source(text)


def test_bad_expect_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        compile_expect("(unclosed")
    pattern = compile_expect(r"\d+ OK")
    assert pattern is not None and pattern.search(b"200 OK")


def _attempt(outcome: Outcome, name: str | None) -> Attempt:
    a = Attempt(candidate(0, 1), 0.0, 1.0, 0.0)
    a.outcome, a.errno, a.ended = outcome, name, 0.5
    return a


def test_failure_exit_classes() -> None:
    # SPEC: every attempt timed out -> 5; otherwise -> 4.
    timed_out = failure("h 1", [_attempt(Outcome.TIMEOUT, "ETIMEDOUT")] * 2)
    assert isinstance(timed_out, TimedOut) and timed_out.code == "ETIMEDOUT"
    mixed = failure("h 1", [_attempt(Outcome.TIMEOUT, "ETIMEDOUT"),
                            _attempt(Outcome.REFUSED, "ECONNREFUSED")])
    assert isinstance(mixed, AllCandidatesFailed) and mixed.code is None
    refused = failure("h 1", [_attempt(Outcome.REFUSED, "ECONNREFUSED")])
    assert refused.code == "ECONNREFUSED" and "127.0.0.1:1 refused" in refused.message
    assert refused.extra["attempts"][0]["outcome"] == "refused"
    assert isinstance(failure("h 1", []), TimedOut)


# --- RFC 8305 section 4: the interleave helper ------------------------------------------


def test_interleave_starts_with_first_family_and_alternates() -> None:
    given_order = [candidate(0, 1, V6), candidate(1, 1, V6), candidate(2, 1, V6),
                   candidate(3, 1, V4), candidate(4, 1, V4)]
    assert [c.index for c in interleave_families(given_order)] == [0, 3, 1, 4, 2]
    v4_first = [candidate(0, 1, V4), candidate(1, 1, V6), candidate(2, 1, V6)]
    assert [c.index for c in interleave_families(v4_first)] == [0, 1, 2]
    assert [c.index for c in interleave_families(given_order, first_count=2)] == [0, 1, 3, 2, 4]
    assert interleave_families([]) == []


@given(st.lists(st.sampled_from([V4, V6]), max_size=12), st.integers(1, 3))
def test_interleave_properties(families: list[int], first_count: int) -> None:
    cands = [candidate(i, 1, f) for i, f in enumerate(families)]
    result = interleave_families(cands, first_count)
    # A permutation that keeps getaddrinfo's order within each family ...
    assert sorted(c.index for c in result) == list(range(len(cands)))
    for family in (V4, V6):
        mine = [c.index for c in result if c.family == family]
        assert mine == sorted(mine)
    if not cands:
        return
    # ... starts with getaddrinfo's first answer ...
    assert result[0] is cands[0]
    # ... and after the first family's head start, never repeats a family while
    # the other still has candidates left.
    head = min(first_count, sum(1 for c in cands if c.family == cands[0].family))
    rest = result[head:]
    for i in range(1, len(rest)):
        if rest[i].family == rest[i - 1].family:
            assert all(c.family == rest[i].family for c in rest[i:])


# --- sequential (open_clientfd) ----------------------------------------------------------


def test_sequential_reports_every_failure_then_connects(listener: socket.socket) -> None:
    closed = free_port()
    trace = Recorder()
    conn = connect_sequential([candidate(0, closed), candidate(1, port_of(listener))],
                              Plan(timeout=5), "x", trace=trace)
    with conn.sock:
        assert [a.outcome for a in conn.attempts] == [Outcome.REFUSED, Outcome.CONNECTED]
        assert conn.attempts[0].errno == "ECONNREFUSED" and conn.attempts[0].sock is None
        assert conn.sock.getpeername()[1] == port_of(listener)
    names = [e for e, _ in trace.events if e in ("attempt_started", "attempt", "connected")]
    assert names == ["attempt_started", "attempt", "attempt_started", "attempt", "connected"]
    steps = [(f["index"], f["step"], f["outcome"]) for f in trace.named("step")]
    assert steps == [(0, "socket", "ok"), (0, "connect", "error"),
                     (1, "socket", "ok"), (1, "connect", "ok")]


def test_sequential_all_refused_is_exit_4() -> None:
    with pytest.raises(CandidatesFailed) as info:
        connect_sequential([candidate(0, free_port()), candidate(1, free_port())],
                           Plan(timeout=5), "x")
    assert info.value.code == "ECONNREFUSED" and len(info.value.attempts) == 2


def test_every_fails_if_any_fails(listener: socket.socket) -> None:
    good = candidate(0, port_of(listener))
    assert len(connect_every([good, good._replace(index=1)], Plan(timeout=5), "x")) == 2
    with pytest.raises(CandidatesFailed):
        connect_every([good, candidate(1, free_port())], Plan(timeout=5), "x")


def test_source_bind_is_traced(listener: socket.socket) -> None:
    trace = Recorder()
    conn = connect_sequential([candidate(0, port_of(listener))],
                              Plan(timeout=5, source=parse_source("127.0.0.3")), "x", trace=trace)
    with conn.sock:
        assert conn.sock.getsockname()[0] == "127.0.0.3"
    assert [f["step"] for f in trace.named("step")] == ["socket", "setsockopt", "bind", "connect"]
    assert trace.named("connected")[0]["local"]["address"] == "127.0.0.3"


def test_source_of_other_family_is_an_error_not_a_crash(listener: socket.socket) -> None:
    with pytest.raises(CandidatesFailed) as info:
        connect_sequential([candidate(0, port_of(listener))],
                           Plan(timeout=5, source=parse_source("::1")), "x")
    attempt = info.value.attempts[0]
    assert (attempt.outcome, attempt.errno, attempt.step) == (Outcome.ERROR, "EAFNOSUPPORT", "bind")


# --- the race on a fake clock ---------------------------------------------------------------


class ScriptedWait:
    """The race's wait primitive over a real selector, with time faked.

    ``script`` says, call by call, whether to report nothing (advancing the
    fake clock by the requested timeout: "nothing happened until then") or
    to report what the real sockets have ready once all ``expect`` of them
    are (the fake clock does not move: they completed "at the same instant").
    """

    def __init__(self, clock: FakeClock, script: list[str | int]) -> None:
        self.clock = clock
        self.script = script
        self.timeouts: list[float] = []

    def __call__(self, selector: selectors.BaseSelector,
                 timeout: float) -> list[selectors.SelectorKey]:
        self.timeouts.append(timeout)
        step = self.script.pop(0) if self.script else "nothing"
        if step == "nothing":
            self.clock.now += timeout
            return []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = [key for key, _ in selector.select(0.05)]
            if len(ready) >= int(step):
                return ready
        raise AssertionError("sockets never became ready")


def test_race_second_attempt_starts_after_delay_and_simultaneous_success_has_one_winner(
        listener: socket.socket) -> None:
    clock = FakeClock()
    wait = ScriptedWait(clock, ["nothing", 2])
    trace = Recorder()
    with socket.create_server(("127.0.0.1", 0)) as other:
        cands = [candidate(0, port_of(listener)), candidate(1, port_of(other))]
        conn = happy_eyeballs(cands, Plan(timeout=10), "x", delay=0.25, trace=trace,
                              clock=clock, wait=wait)
    with conn.sock:
        assert conn.attempt.index == 0  # started first: preferred on a tie
        assert conn.sock.getpeername()[1] == port_of(listener)
    assert wait.timeouts[0] == pytest.approx(0.25)
    started = [f["started_ms"] for f in trace.named("attempt_started")]
    assert started == [0.0, 250.0]
    outcomes = {f["index"]: f["outcome"] for f in trace.named("attempt")}
    assert outcomes == {0: "connected", 1: "cancelled"}
    assert len(trace.named("connected")) == 1
    # The loser was reported before the winner was announced, and is closed.
    names = [e for e, _ in trace.events if e in ("attempt", "connected")]
    assert names == ["attempt", "attempt", "connected"]
    assert conn.attempts[1].sock is None


def test_race_failure_starts_the_next_attempt_at_once(listener: socket.socket) -> None:
    clock = FakeClock()
    trace = Recorder()
    cands = [candidate(0, free_port(V6), V6), candidate(1, port_of(listener), V4)]
    conn = happy_eyeballs(cands, Plan(timeout=10), "x", delay=0.25, trace=trace,
                          clock=clock, wait=ScriptedWait(clock, [1, 1]))
    with conn.sock:
        assert conn.attempt.index == 1
    assert [f["started_ms"] for f in trace.named("attempt_started")] == [0.0, 0.0]
    assert [f["outcome"] for f in trace.named("attempt")] == ["refused", "connected"]


def test_race_every_attempt_times_out(listener: socket.socket) -> None:
    clock = FakeClock()
    trace = Recorder()
    port = port_of(listener)
    cands = [candidate(0, port), candidate(1, port)]
    with pytest.raises(CandidatesTimedOut) as info:
        # The fake wait never reports the (really connected) sockets: as far as
        # the race can tell they never answer.
        happy_eyeballs(cands, Plan(timeout=1.0), "x", delay=0.25, trace=trace,
                       clock=clock, wait=ScriptedWait(clock, []))
    attempts = info.value.attempts
    assert [a.outcome for a in attempts] == [Outcome.TIMEOUT, Outcome.TIMEOUT]
    assert [a.started - 1000.0 for a in attempts] == [0.0, 0.25]
    assert [a.elapsed for a in attempts] == [1.0, 1.0]
    assert all(a.sock is None for a in attempts)


def test_race_interleaves_families(listener: socket.socket) -> None:
    clock = FakeClock()
    trace = Recorder()
    port = port_of(listener)
    cands = [candidate(0, free_port(V6), V6), candidate(1, free_port(V6), V6),
             candidate(2, port, V4)]
    conn = happy_eyeballs(cands, Plan(timeout=10), "x", delay=0.25, trace=trace,
                          clock=clock, wait=ScriptedWait(clock, [1, 1]))
    with conn.sock:
        assert conn.attempt.index == 2
    # #0 (IPv6) refused, then #2 (IPv4), not #1, is tried next.
    assert [f["index"] for f in trace.named("attempt_started")] == [0, 2]


def test_race_with_real_clock(listener: socket.socket) -> None:
    conn = happy_eyeballs([candidate(0, port_of(listener))], Plan(timeout=5), "x")
    with conn.sock:
        assert conn.sock.getblocking()
        assert conn.attempts[0].outcome is Outcome.CONNECTED


def test_race_global_deadline_leaves_untried_candidates(listener: socket.socket) -> None:
    clock = FakeClock()
    port = port_of(listener)
    cands = [candidate(i, port) for i in range(5)]
    with pytest.raises(TimedOut) as info:
        happy_eyeballs(cands, Plan(timeout=10, deadline=clock.now + 0.6), "x", delay=0.25,
                       clock=clock, wait=ScriptedWait(clock, []))
    assert len(getattr(info.value, "attempts", [])) == 3  # at 0, 0.25 and 0.5 s


# --- the data phase ------------------------------------------------------------------------


def _echo_peer(sock: socket.socket) -> threading.Thread:
    def run() -> None:
        with sock:
            while data := sock.recv(65536):
                sock.sendall(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_relay_stdin_to_peer_and_back() -> None:
    mine, theirs = socket.socketpair()
    _echo_peer(theirs)
    read_fd, write_fd = os.pipe()
    payload = os.urandom(3 * 1024 * 1024)

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)

    threading.Thread(target=feed, daemon=True).start()
    received = bytearray()
    trace = Recorder()
    with mine:
        transfer = relay(mine, stdin=read_fd, send=None, output=received.extend, trace=trace)
    os.close(read_fd)
    assert bytes(received) == payload
    assert (transfer.bytes_in, transfer.bytes_out, transfer.reason) == (
        len(payload), len(payload), "peer closed")
    assert trace.named("closed")[0]["bytes_in"] == len(payload)


def test_relay_expect_matches_and_misses() -> None:
    mine, theirs = socket.socketpair()
    _echo_peer(theirs)
    with mine:
        done = relay(mine, stdin=None, send=b"HTTP/1.0 200 OK\r\n",
                     output=lambda data: None, expect=compile_expect(r"200 OK"), timeout=5)
    assert done.reason == "expect matched"
    mine, theirs = socket.socketpair()
    _echo_peer(theirs)
    with mine, pytest.raises(CheckFailed, match="closed without a match"):
        relay(mine, stdin=None, send=b"nope", output=lambda data: None,
              expect=compile_expect("yes"), timeout=5)


def test_relay_expect_times_out() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs, pytest.raises(CheckFailed, match=r"no match within 0\.2 s"):
        relay(mine, stdin=None, send=b"", output=lambda data: None,
              expect=compile_expect("never"), timeout=0.2)


def test_data_events_text_binary_and_split_characters() -> None:
    # The JSON renderer's payload sink (it used to be commands.connect.DataEvents).
    stream = io.StringIO()
    out = JsonLines(stream)
    snowman = "☃".encode()
    out.payload(b"hi " + snowman[:1])
    out.payload(snowman[1:] + b"!")
    out.payload(b"\xff\x00")
    out.payload(b"tail" + snowman[:2])
    out.close()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [{k: v for k, v in e.items() if k not in ("event", "t")} for e in events] == [
        {"bytes": 3, "text": "hi "},
        {"bytes": 4, "text": "☃!"},
        {"bytes": 2, "base64": "/wA="},
        {"bytes": 4, "text": "tail"},
        {"bytes": 2, "base64": "4pg="},
    ]
    assert {e["event"] for e in events} == {"data"}


def test_a_peer_that_resets_before_getpeername_still_reads_as_connected() -> None:
    # The handshake completed, then the peer reset (SO_LINGER 0 close) before
    # netprobe asked getpeername, which answers ENOTCONN: the attempt did
    # connect, to the candidate's address, and must not end in an internal error.
    from netprobe.connect.attempts import Reporter

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        peer, _ = server.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()
        time.sleep(0.05)
        with pytest.raises(OSError):
            client.getpeername()  # the race, made certain
        events: list[tuple[str, dict[str, object]]] = []
        reporter = Reporter(lambda event, fields: events.append((event, dict(fields))),
                            time.monotonic)
        candidate = Candidate(0, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                              "127.0.0.1", port)
        attempt = reporter.begin(candidate, Plan(timeout=1.0))
        attempt.sock = client
        reporter.finish(attempt, Outcome.CONNECTED)
        client.close()
    (done,) = [fields for event, fields in events if event == "attempt"]
    assert done["outcome"] == "connected"
    assert done["peer"] == {"address": "127.0.0.1", "port": port}
