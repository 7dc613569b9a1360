"""The rounds core on its own (netprobe.connect.rounds): one round, --wait's rounds, the data phase.

Real sockets throughout: loopback listeners, a closed port, a small echo
server in a thread.  ``connect``, ``check`` and the probes all call
``connect_round``; these tests pin what a round hands back.
"""

from __future__ import annotations

import math
import re
import socket
import threading
from collections.abc import Iterator

import pytest

from netprobe.addrinfo import Hints, Resolution
from netprobe.connect import CandidatesFailed, Outcome, Plan
from netprobe.connect.rounds import (
    Exchange,
    Method,
    Resolve,
    Round,
    connect_round,
    connect_rounds,
    round_outcome,
    smallest,
)
from netprobe.errors import (
    CheckFailed,
    GaiError,
    InvalidInput,
    NetprobeError,
    ResolutionFailed,
    TimedOut,
    TlsFailed,
)
from netprobe.resolver import getaddrinfo
from tests.helpers import Recorder, free_port

STREAM = Hints(socket.AF_INET, socket.SOCK_STREAM, 0, 0)


def resolver(port: int, hints: Hints = STREAM) -> Resolve:
    def resolve(timeout: float | None) -> Resolution:
        return getaddrinfo("127.0.0.1", str(port), hints, timeout=timeout)

    return resolve


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback listener that accepts in the kernel (nobody calls accept)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
def echo() -> Iterator[int]:
    """A loopback echo server, one client at a time, in a thread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                while data := client.recv(65536):
                    client.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


PLAN = Plan(timeout=2.0)


# --- pure helpers -----------------------------------------------------------------------


def test_smallest_ignores_missing_and_infinite_bounds() -> None:
    assert smallest(None, math.inf) is None
    assert smallest(2.0, None, 0.5, math.inf) == 0.5
    assert smallest() is None


@pytest.mark.parametrize(("error", "word"), [
    (GaiError("connect", "x 1", "EAI_NONAME", -2, "Name or service not known"), "unresolved"),
    (TlsFailed("tls", "x 1", "bad certificate", "X509_V_ERR_CERT_HAS_EXPIRED"), "tls_failed"),
    (TimedOut("tls", "x 1", "no TLS handshake within 1 s", "ETIMEDOUT"), "tls_failed"),
    (TimedOut("connect", "x 1", "no candidate could be tried in time"), "timeout"),
    (InvalidInput("connect", "x 1", "bad --source"), "error"),
])
def test_round_outcome_names_the_stage_that_failed(error: NetprobeError, word: str) -> None:
    assert round_outcome(error) == word


# --- one round --------------------------------------------------------------------------


def test_a_round_that_connects_hands_back_the_open_connection(listener: int) -> None:
    recorder = Recorder()
    done = connect_round(resolver(listener), Method(PLAN), f"127.0.0.1 {listener}",
                         trace=recorder)
    try:
        assert (done.ok, done.outcome, done.error) == (True, "connected", None)
        assert done.connected is not None and done.connected.sock.fileno() >= 0
        assert done.attempt is done.connected.attempt
        assert done.attempt.candidate.port == listener
        assert [a.outcome for a in done.attempts] == [Outcome.CONNECTED]
        assert done.elapsed > 0.0
    finally:
        done.close(recorder)
    assert done.connected.sock.fileno() == -1
    assert [e for e, _ in recorder.events if e != "step"] == [
        "attempt_started", "attempt", "connected", "attempts_done"]


def test_a_refused_round_returns_its_error_and_the_attempt_it_ended_on() -> None:
    port = free_port()
    done = connect_round(resolver(port), Method(PLAN), f"127.0.0.1 {port}", trace=Recorder())
    assert isinstance(done.error, CandidatesFailed) and done.error.code == "ECONNREFUSED"
    assert (done.ok, done.outcome, done.connected) == (False, "refused", None)
    assert done.attempt is not None and done.attempt.errno == "ECONNREFUSED"
    assert len(done.attempts) == 1


def test_a_round_that_cannot_resolve_made_no_attempt() -> None:
    def unresolvable(timeout: float | None) -> Resolution:
        raise ResolutionFailed("connect", "x 1", "not known", "EAI_NONAME")

    done = connect_round(unresolvable, Method(PLAN), "x 1", trace=Recorder())
    assert (done.outcome, done.attempt, done.attempts) == ("unresolved", None, [])


def test_the_resolution_is_bounded_by_the_attempt_timeout_and_the_deadline(
        listener: int) -> None:
    bounds: list[float | None] = []

    def resolve(timeout: float | None) -> Resolution:
        bounds.append(timeout)
        return resolver(listener)(timeout)

    for plan in (Plan(timeout=math.inf), Plan(timeout=3.0),
                 Plan(timeout=3.0, deadline=0.0)):  # a deadline long past: 1 ms is left
        connect_round(resolve, Method(plan), "x", trace=Recorder()).close(Recorder())
    assert bounds == [None, 3.0, 0.001]


def test_a_kept_resolution_serves_round_after_round(listener: int) -> None:
    # The probes' case: resolve once, connect again and again.
    kept = resolver(listener)(None)
    rounds = [connect_round(lambda _timeout: kept, Method(PLAN), "x", trace=Recorder())
              for _ in range(3)]
    for done in rounds:
        assert done.ok
        done.close(Recorder())
    assert len({str(d.connected.attempt.local) for d in rounds if d.connected}) == 3


def test_every_candidate_leaves_nothing_open(listener: int) -> None:
    done = connect_round(resolver(listener), Method(PLAN, every=True), "x", trace=Recorder())
    assert (done.ok, done.connected) == (True, None)
    assert [a.outcome for a in done.attempts] == [Outcome.CONNECTED]
    assert all(a.sock is None for a in done.attempts)


# --- a round with its exchange (a probe's shape) ----------------------------------------


def exchange_round(port: int, exchange: Exchange) -> tuple[Round, list[bytes]]:
    received: list[bytes] = []

    def keep(data: bytes, **_: object) -> None:
        received.append(data)

    done = connect_round(resolver(port), Method(PLAN), f"127.0.0.1 {port}",
                         exchange=exchange, output=keep, trace=Recorder())
    return done, received


def test_a_round_with_an_exchange_sends_matches_and_closes(echo: int) -> None:
    done, received = exchange_round(echo, Exchange(check=True, send=b"ping\n",
                                                   expect=re.compile(b"ping"), timeout=2.0,
                                                   stdin=False))
    assert done.ok and b"".join(received) == b"ping\n"
    assert done.connected is not None and done.connected.sock.fileno() == -1


def test_an_unmatched_expect_is_the_rounds_error(echo: int) -> None:
    done, received = exchange_round(echo, Exchange(check=True, send=b"ping\n",
                                                   expect=re.compile(b"pong"), timeout=0.3,
                                                   stdin=False))
    assert isinstance(done.error, CheckFailed) and done.error.code == "EXPECT"
    assert done.attempt is not None and done.attempt.outcome is Outcome.CONNECTED
    assert b"".join(received) == b"ping\n"
    assert done.connected is not None and done.connected.sock.fileno() == -1


def test_check_without_expect_closes_at_once(listener: int) -> None:
    recorder = Recorder()
    done = connect_round(resolver(listener), Method(PLAN), "x", exchange=Exchange(check=True),
                         trace=recorder)
    assert done.ok and recorder.named("closed")[0]["reason"] == "check"
    assert done.connected is not None and done.connected.sock.fileno() == -1


# --- --wait: rounds until one succeeds or the deadline --------------------------------


def test_without_wait_the_rounds_error_is_raised() -> None:
    port = free_port()
    with pytest.raises(CandidatesFailed):
        connect_rounds(resolver(port), Method(PLAN), "x", wait=None, interval=0.1,
                       trace=Recorder())


def test_wait_retries_until_the_deadline_then_times_out() -> None:
    port = free_port()
    recorder = Recorder()
    with pytest.raises(TimedOut) as timed_out:
        connect_rounds(resolver(port), Method(PLAN), "x", wait=0.35, interval=0.1,
                       trace=recorder)
    rounds = recorder.named("round")
    assert len(rounds) >= 2 and [r["n"] for r in rounds] == list(range(1, len(rounds) + 1))
    assert {r["outcome"] for r in rounds} == {"refused"}
    assert timed_out.value.code == "ECONNREFUSED"
    assert f"({len(rounds)} rounds; last: " in timed_out.value.message


def test_wait_raises_at_once_what_a_later_round_cannot_mend() -> None:
    calls: list[float | None] = []

    def bad(timeout: float | None) -> Resolution:
        calls.append(timeout)
        raise InvalidInput("connect", "x", "not a host")

    recorder = Recorder()
    with pytest.raises(InvalidInput):
        connect_rounds(bad, Method(PLAN), "x", wait=5.0, interval=0.1, trace=recorder)
    assert len(calls) == 1 and recorder.named("round") == []


def test_wait_ends_with_the_round_that_connected(listener: int) -> None:
    recorder = Recorder()
    done = connect_rounds(resolver(listener), Method(PLAN), "x", wait=5.0, interval=0.1,
                          trace=recorder)
    done.close(recorder)
    assert [r["outcome"] for r in recorder.named("round")] == ["connected"]
