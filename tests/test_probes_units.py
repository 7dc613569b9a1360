"""The probes' parts on their own: statistics, schedule, verdict, TCP_INFO, outcomes, drawing."""

from __future__ import annotations

import math
import random
import socket
import statistics
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netprobe.addrinfo import Candidate
from netprobe.connect import Plan, connect_sequential
from netprobe.connect.attempts import Attempt, CandidatesFailed, CandidatesTimedOut, Outcome
from netprobe.errors import (
    AllCandidatesFailed,
    CheckFailed,
    GaiError,
    NetprobeError,
    ResolutionFailed,
    TimedOut,
    TlsFailed,
)
from netprobe.probes import tcpinfo
from netprobe.probes.loop import ProbePlan, ProbeRun, next_start, run_probes
from netprobe.probes.outcome import ProbeResult, failed_outcome
from netprobe.probes.probe import Watcher, make_probe
from netprobe.probes.stats import ProbeStats, Series, figures, median, nearest_rank
from netprobe.probes.verdict import (
    ProbesCheckFailed,
    ProbesConnectFailed,
    ProbesTimedOut,
    ProbesTlsFailed,
    ProbesUnresolved,
    verdict,
)
from netprobe.render.probes import figures_text, histogram, kernel_text, sparkline, time_text
from netprobe.status import ExitStatus
from tests.helpers import Recorder

# --- statistics ---------------------------------------------------------------------------


def test_nearest_rank_and_median() -> None:
    ordered = [float(i) for i in range(1, 21)]  # 1..20
    assert nearest_rank(ordered, 95) == 19.0  # ceil(0.95 * 20) = 19th
    assert nearest_rank(ordered, 100) == 20.0
    assert nearest_rank([7.0], 95) == 7.0
    assert nearest_rank([1.0, 2.0, 3.0], 50) == 2.0
    assert median([1.0, 2.0, 3.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5


def test_figures_match_the_textbook_definitions() -> None:
    rng = random.Random(21)
    times = [rng.uniform(0.0001, 0.2) for _ in range(999)]
    series = Series()
    for t in times:
        series.add(t)
    series.add(None)
    fields = figures([series])
    assert (fields["sent"], fields["ok"], fields["failed"]) == (1000, 999, 1)
    assert fields["loss_pct"] == 0.1
    ordered = sorted(times)
    assert fields["min_ms"] == round(ordered[0] * 1000, 3)
    assert fields["max_ms"] == round(ordered[-1] * 1000, 3)
    assert fields["avg_ms"] == round(statistics.fmean(times) * 1000, 3)
    assert fields["median_ms"] == round(statistics.median(times) * 1000, 3)
    assert fields["p95_ms"] == round(ordered[math.ceil(0.95 * 999) - 1] * 1000, 3)
    assert fields["stdev_ms"] == round(statistics.pstdev(times) * 1000, 3)


def test_overall_figures_combine_the_addresses_exactly() -> None:
    stats = ProbeStats()
    a, b = [0.001, 0.002, 0.003], [0.010, 0.030]
    for t in a:
        stats.add(("127.0.0.1", 80), t)
    stats.add(("::1", 80), None)
    for t in b:
        stats.add(("::1", 80), t)
    event = stats.to_json()
    everything = a + b
    assert (event["sent"], event["ok"], event["failed"]) == (6, 5, 1)
    assert event["loss_pct"] == round(100 / 6, 3)
    assert event["avg_ms"] == round(statistics.fmean(everything) * 1000, 3)
    assert event["stdev_ms"] == round(statistics.pstdev(everything) * 1000, 3)
    assert event["median_ms"] == 3.0
    assert [(p["address"], p["sent"], p["ok"], p["median_ms"]) for p in event["per_address"]] \
        == [("127.0.0.1", 3, 3, 2.0), ("::1", 3, 2, 20.0)]


def test_all_lost_still_counts_and_nothing_sent_is_no_loss() -> None:
    stats = ProbeStats()
    for _ in range(3):
        stats.add(("127.0.0.1", 9), None)
    stats.add(None, None)  # a --resolve-each probe that resolved nothing
    event = stats.to_json()
    assert (event["sent"], event["ok"], event["failed"], event["loss_pct"]) == (4, 0, 4, 100.0)
    assert all(event[k] is None for k in ("min_ms", "avg_ms", "median_ms",  # type: ignore[literal-required]
                                          "p95_ms", "max_ms", "stdev_ms"))
    assert event["per_address"][0]["failed"] == 3
    empty = ProbeStats().to_json()
    assert (empty["sent"], empty["loss_pct"], empty["per_address"]) == (0, 0.0, [])


def test_only_the_times_are_kept() -> None:
    series = Series()
    for _ in range(1000):
        series.add(0.001)
        series.add(None)
    assert series.times.itemsize * len(series.times) == 8000  # one double per success
    assert series.failed == 1000 and series.stdev() == 0.0


# --- the schedule and the loop -----------------------------------------------------------


def test_next_start_is_start_to_start_unless_overrun() -> None:
    assert next_start(10.0, 10.2, 1.0) == 11.0  # on time: one interval after the plan
    assert next_start(10.0, 12.5, 1.0) == 12.5  # overran: at once, never two at a time
    assert next_start(10.0, 10.0, 0.0) == 10.0  # --interval 0: back to back


class FakeTime:
    """A clock that only the probes and the sleeps move."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_run_keeps_the_interval_and_follows_an_overrun_at_once() -> None:
    fake = FakeTime()
    durations = [0.2, 1.5, 0.1, 0.1]
    starts: list[float] = []

    def probe(seq: int) -> ProbeResult:
        starts.append(fake.now)
        fake.now += durations[seq - 1]
        return ProbeResult(seq, None, "ok", durations[seq - 1])

    recorder = Recorder()
    run = run_probes(probe, ProbePlan(4, 1.0), trace=recorder, clock=fake.clock,
                     sleep=fake.sleep)
    # 100 (0.2) -> 101 (1.5, overran) -> 102.5 at once -> 103.5
    assert starts == pytest.approx([100.0, 101.0, 102.5, 103.5])
    assert [e["seq"] for e in recorder.named("probe")] == [1, 2, 3, 4]
    assert recorder.named("probe_stats")[0]["ok"] == 4
    assert run.stats.sent == 4 and len(fake.sleeps) == 2  # no sleep after the last


def test_ctrl_c_ends_the_run_with_statistics() -> None:
    fake = FakeTime()

    def probe(seq: int) -> ProbeResult:
        if seq == 3:
            raise KeyboardInterrupt
        return ProbeResult(seq, None, "ok", 0.001)

    recorder = Recorder()
    run = run_probes(probe, ProbePlan(0, 0.0), trace=recorder, clock=fake.clock,
                     sleep=fake.sleep)
    assert run.interrupted and run.stats.sent == 2
    assert recorder.named("probe_stats")[0]["sent"] == 2


def test_ctrl_c_before_any_probe_finished_is_interrupted() -> None:
    def probe(seq: int) -> ProbeResult:
        raise KeyboardInterrupt

    recorder = Recorder()
    with pytest.raises(KeyboardInterrupt):
        run_probes(probe, ProbePlan(0, 1.0), trace=recorder)
    assert recorder.named("probe_stats")[0]["sent"] == 0


# --- the verdict -------------------------------------------------------------------------


def refused() -> NetprobeError:
    return AllCandidatesFailed("connect", "127.0.0.1 9", "refused", "ECONNREFUSED")


def test_verdict_is_pings_rule() -> None:
    assert verdict(sent=5, ok=1, loss=80.0, max_loss=None, last_failure=refused(),
                   interrupted=False) is None
    error = verdict(sent=3, ok=0, loss=100.0, max_loss=None, last_failure=refused(),
                    interrupted=False)
    assert isinstance(error, ProbesConnectFailed)
    assert error.message == "3 of 3 probes failed (100% loss); last: refused"
    assert error.code == "ECONNREFUSED" and error.stage == "connect"


def test_max_loss_replaces_the_at_least_one_rule() -> None:
    last = TimedOut("connect", "x", "timed out", "ETIMEDOUT")
    assert verdict(sent=10, ok=9, loss=10.0, max_loss=10.0, last_failure=last,
                   interrupted=False) is None
    error = verdict(sent=10, ok=8, loss=20.0, max_loss=10.0, last_failure=last,
                    interrupted=False)
    assert isinstance(error, ProbesTimedOut)
    assert error.message.startswith("20% loss > --max-loss 10%")
    # --max-loss 100 passes a run that lost everything; --max-loss 0 fails one lost probe.
    assert verdict(sent=2, ok=0, loss=100.0, max_loss=100.0, last_failure=last,
                   interrupted=False) is None


def test_verdict_has_the_last_failures_status() -> None:
    from netprobe.cli import status_for

    cases = [
        (refused(), ProbesConnectFailed, ExitStatus.CONNECT_FAILED),
        (CandidatesTimedOut("x", [], "timed out", "ETIMEDOUT"), ProbesTimedOut,
         ExitStatus.TIMED_OUT),
        (CheckFailed("expect", "^x", "no match", "EXPECT"), ProbesCheckFailed,
         ExitStatus.CHECK_FAILED),
        (TlsFailed("tls", "x", "bad", "X509_V_ERR_CERT_HAS_EXPIRED"), ProbesTlsFailed,
         ExitStatus.TLS_FAILED),
        (GaiError("connect", "x", "EAI_NONAME", -2, "Name or service not known"),
         ProbesUnresolved, ExitStatus.RESOLUTION_FAILED),
    ]
    for last, kind, status in cases:
        error = verdict(sent=1, ok=0, loss=100.0, max_loss=None, last_failure=last,
                        interrupted=False)
        assert isinstance(error, kind) and error.last is last
        assert status_for(error) is status


def test_interrupted_before_anything_finished() -> None:
    assert isinstance(verdict(sent=0, ok=0, loss=0.0, max_loss=None, last_failure=None,
                              interrupted=True), KeyboardInterrupt)


# --- outcomes ----------------------------------------------------------------------------


def candidate(index: int = 0, address: str = "127.0.0.1") -> Candidate:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return Candidate(index, family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address, 9)


def attempt(outcome: Outcome, index: int = 0, address: str = "127.0.0.1") -> Attempt:
    made = Attempt(candidate(index, address), 0.0, 1.0, 0.0)
    made.outcome = outcome
    return made


def test_failed_outcome() -> None:
    mixed = [attempt(Outcome.REFUSED, 0, "::1"), attempt(Outcome.TIMEOUT, 1)]
    assert failed_outcome(CandidatesFailed("x", mixed, "m", None)) == "timeout"
    raced = [attempt(Outcome.UNREACHABLE, 0), attempt(Outcome.CANCELLED, 1)]
    assert failed_outcome(CandidatesFailed("x", raced, "m", None)) == "unreachable"
    assert failed_outcome(CheckFailed("expect", "x", "m", "EXPECT")) == "expect"
    assert failed_outcome(TlsFailed("tls", "x", "m", None)) == "tls"
    assert failed_outcome(TimedOut("tls", "x", "handshake timed out", None)) == "tls"
    assert failed_outcome(AllCandidatesFailed("connect", "x", "m", "ECONNREFUSED")) == "refused"
    assert failed_outcome(ResolutionFailed("connect", "x", "m", "EAI_NONAME")) == "error"
    assert failed_outcome(TimedOut("connect", "x", "m", None)) == "timeout"


# --- TCP_INFO ----------------------------------------------------------------------------


def test_tcp_info_of_a_real_connection(accepting_listener: socket.socket) -> None:
    client = socket.create_connection(accepting_listener.getsockname())
    recorder = Recorder(syscalls=True)
    info = tcpinfo.read(recorder, client)
    assert info is not None
    assert info.state == 1 and info.unanswered_syns() is None  # ESTABLISHED
    assert 0 < info.rtt_us < 1_000_000 and info.rttvar_us > 0
    loopback_mtu = int(Path("/sys/class/net/lo/mtu").read_text())
    assert 0 < info.snd_mss < loopback_mtu and info.snd_cwnd >= 1
    assert info.pmtu == min(loopback_mtu, 65535)  # an IP packet's length is 16 bits
    assert info.retransmits == 0 and info.total_retrans == 0
    call = recorder.named("syscall")[0]
    assert (call["call"], call["args"]["optname"], call["fd"]) == (
        "getsockopt", "TCP_INFO", client.fileno())
    assert call["args"]["optval"].startswith("{tcpi_state=TCP_ESTABLISHED, ")
    # By descriptor: the core's socket, read and left open.
    again = tcpinfo.read_descriptor(recorder, client.fileno(), socket.AF_INET)
    assert again is not None and again.snd_mss == info.snd_mss
    assert client.fileno() >= 0
    client.sendall(b"x")
    client.close()


def test_tcp_info_parsing() -> None:
    u32 = [0] * 24
    u32[2], u32[13], u32[15], u32[16], u32[18], u32[23] = 1448, 1500, 250, 125, 10, 3
    base = struct.pack("=8B24I", 2, 0, 3, 0, 0, 0, 0, 0, *u32)
    info = tcpinfo.parse(base)
    assert info.to_json() == {"rtt_us": 250, "rttvar_us": 125, "retransmits": 3,
                              "total_retrans": 3, "snd_mss": 1448, "pmtu": 1500,
                              "snd_cwnd": 10}
    assert info.segs_out is None and info.unanswered_syns() == 4  # 1 + 3 retransmitted
    extended = base + struct.pack("=4Q2I", 0, 0, 0, 0, 5, 0)
    assert tcpinfo.parse(extended).unanswered_syns() == 5  # tcpi_segs_out
    with pytest.raises(ValueError):
        tcpinfo.parse(base[:50])


def test_tcp_info_of_a_udp_socket_is_none() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert tcpinfo.read(Recorder(), udp) is None


# --- the watcher over the real core ---------------------------------------------------------


def test_watched_probe_over_the_real_core(accepting_listener: socket.socket) -> None:
    port = accepting_listener.getsockname()[1]
    where = Candidate(0, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                      "127.0.0.1", port)
    recorder = Recorder(syscalls=True)
    watcher = Watcher(recorder, verbose=1, syscalls=True)

    def once(trace: object) -> None:
        connected = connect_sequential([where], Plan(timeout=5.0), "x", trace=watcher)
        connected.sock.close()

    result = make_probe(once, watcher)(1)
    assert result.ok and result.candidate == where.to_json()
    assert 0 < result.elapsed < 1
    assert result.tcp_info is not None and result.tcp_info.state == 1
    # Only the run's events are passed on (and the calls); the attempts are not.
    assert {event for event, _ in recorder.events} == {"syscall"}
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    nowhere = where._replace(port=dead)

    def refused_once(trace: object) -> None:
        connect_sequential([nowhere], Plan(timeout=5.0), "x", trace=watcher)

    failure = make_probe(refused_once, watcher)(2)
    assert (failure.outcome, failure.errno) == ("refused", "ECONNREFUSED")
    assert failure.candidate == nowhere.to_json() and failure.error is not None
    assert failure.to_json()["tcp_info"] is None


# --- drawing -------------------------------------------------------------------------------


def test_sparkline() -> None:
    assert sparkline([1.0, 2.0, None, 8.0], 10) == "▁▂×█"
    assert sparkline([5.0, 5.0], 10) == "▁▁"
    assert sparkline([1.0, 2.0, 3.0], 2) == "▁█"  # the last ``width``
    assert sparkline([None], 5) == "×"


def test_histogram() -> None:
    assert histogram([]) == []
    assert histogram([2.0, 2.0]) == [(2.0, 2.0, 2)]
    buckets = histogram([0.0, 1.0, 2.0, 9.9, 10.0], bins=10)
    assert len(buckets) == 10 and sum(n for *_, n in buckets) == 5
    assert buckets[0][2] == 1 and buckets[-1][2] == 2
    assert buckets[0][:2] == (0.0, 1.0)


def test_figure_texts() -> None:
    lost = {"sent": 3, "ok": 0, "failed": 3, "loss_pct": 100.0, "min_ms": None,
            "avg_ms": None, "median_ms": None, "p95_ms": None, "max_ms": None,
            "stdev_ms": None}
    assert figures_text(lost).plain == "3 sent, 0 ok, 3 failed, 100% loss"  # type: ignore[arg-type]
    some = {**lost, "ok": 2, "failed": 1, "loss_pct": 33.333, "min_ms": 0.1, "avg_ms": 0.15,
            "median_ms": 0.15, "p95_ms": 0.2, "max_ms": 0.2, "stdev_ms": 0.05}
    assert figures_text(some).plain == (  # type: ignore[arg-type]
        "3 sent, 2 ok, 1 failed, 33.333% loss\n"
        "min/avg/median/p95/max/stdev = 0.100/0.150/0.150/0.200/0.200/0.050 ms")
    assert time_text(1.5) == "1.500 ms" and time_text(None) == "-"
    assert kernel_text({"rtt_us": 34, "rttvar_us": 17, "retransmits": 0, "total_retrans": 1,
                        "snd_mss": 65483, "pmtu": 65535, "snd_cwnd": 10}) == (
        "rtt 0.034/0.017 ms  retrans 0/1  mss 65483  pmtu 65535  cwnd 10")


def test_probe_run_state() -> None:
    run = ProbeRun()
    run.add(ProbeResult(1, None, "refused", 0.001, "ECONNREFUSED", "m", refused()))
    run.add(ProbeResult(2, {"address": "127.0.0.1", "port": 9}, "ok", 0.002))  # type: ignore[typeddict-item]
    assert run.stats.sent == 2 and run.stats.ok == 1 and run.last_failure is not None
    assert run.verdict(None) is None
    assert isinstance(run.verdict(0.0), ProbesConnectFailed)


def test_probe_run_counts_a_candidate_by_its_address_kept_or_not() -> None:
    # The run finds a candidate dict's series by the dict (no address tuple a
    # probe); an equal dict of another resolution (--resolve-each) is the same
    # address, and the statistics are those of the addresses either way.
    run = ProbeRun()
    first: Any = {"address": "127.0.0.1", "port": 9}
    again: Any = dict(first)
    other: Any = {"address": "::1", "port": 9}
    for seq, (where, outcome) in enumerate([(first, "ok"), (first, "ok"), (again, "refused"),
                                            (other, "ok"), (first, "timeout"), (None, "error")]):
        run.add(ProbeResult(seq, where, outcome, 0.001 * (seq + 1)))
    by = run.stats.by_address
    assert list(by) == [("127.0.0.1", 9), ("::1", 9)]
    assert (by[("127.0.0.1", 9)].sent, by[("127.0.0.1", 9)].ok) == (4, 2)
    assert list(by[("127.0.0.1", 9)].times) == [0.001, 0.002]
    assert (by[("::1", 9)].sent, by[("::1", 9)].ok) == (1, 1)
    assert (run.stats.nowhere.sent, run.stats.sent, run.stats.ok) == (1, 6, 3)


def test_a_failed_probe_carries_the_kernels_why() -> None:
    # The kernel's side (SPEC): a failed attempt event carries ``why``; the
    # probe passes it on.  The events are the core's, fed by hand.
    recorder = Recorder()
    watcher = Watcher(recorder)
    where = candidate().to_json()
    why = {"kind": "no-listener", "message": "nothing listens on port 9", "sockets": [],
           "route": None}

    def once(trace: Callable[[str, dict[str, object]], None]) -> NetprobeError:
        trace("attempt_started", {"index": 0, "candidate": where, "started_ms": 0.0})
        trace("attempt", {"index": 0, "candidate": where, "outcome": "refused",
                          "errno": "ECONNREFUSED", "why": why})
        return refused()

    result = make_probe(once, watcher)(1)  # type: ignore[arg-type]
    assert result.why == why and result.to_json()["why"] == why
    assert result.candidate == where and result.outcome == "refused"
    plain = ProbeResult(2, where, "ok", 0.001).to_json()
    assert "why" not in plain and "unanswered_syns" not in plain


def test_a_tls_probe_ends_when_the_handshake_did_not_when_its_event_was_built() -> None:
    # The ``tls`` event is built after the handshake (the chain described, the
    # verdict predicted: milliseconds): that work is netprobe's, not the probe's.
    now = [0.0]
    recorder = Recorder()
    watcher = Watcher(recorder, clock=lambda: now[0])
    where = candidate().to_json()

    def once(trace: Callable[[str, dict[str, object]], None]) -> None:
        now[0] = 1.0
        trace("attempt_started", {"index": 0, "candidate": where, "started_ms": 0.0})
        now[0] = 1.001
        trace("attempt", {"index": 0, "candidate": where, "outcome": "connected",
                          "errno": None, "elapsed_ms": 1.0})
        trace("connected", {"index": 0})
        now[0] = 1.002
        trace("tls_started", {"sni": None})
        now[0] = 1.5  # the event's fields took half a second to build
        trace("tls", {"elapsed_ms": 3.0})
        now[0] = 1.6

    result = make_probe(once, watcher, asks="tls", clock=lambda: now[0])(1)  # type: ignore[arg-type]
    assert result.ok
    assert abs(result.elapsed - 0.005) < 1e-9  # 1 ms to connect, 1 ms between, 3 ms handshake
