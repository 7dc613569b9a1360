"""``connect --count``: probes as users run them, against peers that count what reaches them.

The peers are the test's own listeners (``Counter``: every accept and every
close timed on the server's side, the connections open at once counted),
socat's UDP echo, a real TLS server (socat with tests/tls_pki.py's
certificates), and, for timeouts, a listener whose accept queue is full
inside a private namespace (SYNs dropped, as a blackholed address drops
them, without any traffic leaving the namespace).
"""

from __future__ import annotations

import math
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NETPROBE, Namespace, Result, child_env, free_port, run
from tests.tls_pki import Pki, socat_echo

pytestmark = pytest.mark.timeout(120)

NsFactory = Callable[..., Namespace]


class Counter:
    """A loopback listener that times, on its side, every connection reaching it.

    ``close_after``: the listener closes itself after that many accepts (the
    next connects are refused); ``reply``: sent to each client, after
    ``delay`` seconds; the connection is then held until the client closes.

    Overlap is judged by the kernel, not by the threads' timing: at each
    accept, every earlier connection whose handler has not finished is asked
    (poll POLLRDHUP) whether its peer has closed it.  On loopback a close()
    delivers the FIN before the client's next SYN can be sent, so a
    connection still open at the kernel level then means two probes at once.
    """

    def __init__(self, *, close_after: int | None = None, reply: bytes = b"",
                 delay: float = 0.0) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self.server.getsockname()[1]
        self.close_after = close_after
        self.reply = reply
        self.delay = delay
        self.lock = threading.Lock()
        self.accepted: list[float] = []
        self.closed: list[float] = []
        self.live: dict[int, socket.socket] = {}
        self.most_open = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _peer_closed(sock: socket.socket) -> bool:
        poller = select.poll()
        poller.register(sock, select.POLLRDHUP)
        return bool(poller.poll(0))

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                self.accepted.append(time.monotonic())
                still_open = sum(not self._peer_closed(s) for s in self.live.values())
                self.most_open = max(self.most_open, 1 + still_open)
                self.live[len(self.accepted)] = client
                last = self.close_after is not None and len(self.accepted) >= self.close_after
            threading.Thread(target=self._client, args=(len(self.accepted), client),
                             daemon=True).start()
            if last:
                self.server.close()
                return

    def _client(self, number: int, client: socket.socket) -> None:
        try:
            if self.reply:
                time.sleep(self.delay)
                client.sendall(self.reply)
            while client.recv(4096):
                pass
        except OSError:
            pass
        with self.lock:
            del self.live[number]
            self.closed.append(time.monotonic())
            client.close()

    def settle(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` connections have come and gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.closed) >= count:
                    return
            time.sleep(0.01)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def counter() -> Iterator[Callable[..., Counter]]:
    made: list[Counter] = []

    def make(**kwargs: Any) -> Counter:
        made.append(Counter(**kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


def named(result: Result, event: str) -> list[dict[str, Any]]:
    return [e for e in result.events() if e["event"] == event]


def outcomes(result: Result) -> list[str]:
    return [e["outcome"] for e in named(result, "probe")]


def closed_port() -> int:
    return free_port()


# --- probes: ok = accepts ------------------------------------------------------------------


def test_every_probe_is_one_connection(counter: Callable[..., Counter]) -> None:
    peer = counter()
    result = run("connect", "127.0.0.1", str(peer.port), "--count", "5", "--interval", "0",
                 "--json")
    assert result.status == 0, result.err
    peer.settle(5)
    probes = named(result, "probe")
    assert [p["seq"] for p in probes] == [1, 2, 3, 4, 5]
    assert outcomes(result) == ["ok"] * 5 == ["ok"] * len(peer.accepted)
    assert all(p["candidate"]["address"] == "127.0.0.1" and p["errno"] is None
               and p["tcp_info"] is None and 0 < p["elapsed_ms"] < 1000 for p in probes)
    stats = named(result, "probe_stats")
    assert len(stats) == 1 and result.events()[-1]["event"] == "probe_stats"
    assert (stats[0]["sent"], stats[0]["ok"], stats[0]["failed"], stats[0]["loss_pct"]) == (
        5, 5, 0, 0.0)
    # The run's events: the resolution once, a probe each, the statistics.
    assert [e["event"] for e in result.events()] == ["resolved", *["probe"] * 5, "probe_stats"]


def test_human_lines_and_statistics(counter: Callable[..., Counter]) -> None:
    peer = counter()
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "3", "--interval", "0")
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 6, result.out
    for seq, line in enumerate(lines[:3], 1):
        fields = line.split()
        assert fields[:3] == [str(seq), f"127.0.0.1:{peer.port}", "ok"], line
        assert fields[4] == "ms" and float(fields[3]) > 0
    assert lines[3] == f"--- 127.0.0.1 {peer.port} probe statistics ---"
    assert lines[4] == "3 sent, 3 ok, 0 failed, 0% loss"
    assert lines[5].startswith("min/avg/median/p95/max/stdev = ") and lines[5].endswith(" ms")
    assert "candidate" in result.err  # the resolution, on stderr
    assert "\x1b" not in result.out + result.err
    assert "▁" not in result.out and "█" not in result.out  # no sparkline, no histogram
    quiet = run("connect", "127.0.0.1", str(peer.port), "-c", "2", "--interval", "0", "-q")
    assert quiet.status == 0 and quiet.err == ""
    assert len(quiet.out.splitlines()) == 5  # the probes and statistics are results


def test_closed_halfway_ok_then_refused(counter: Callable[..., Counter]) -> None:
    peer = counter(close_after=3)
    result = run("connect", "127.0.0.1", str(peer.port), "--count", "6", "--interval", "0.1",
                 "--json")
    assert outcomes(result) == ["ok"] * 3 + ["refused"] * 3
    assert len(peer.accepted) == 3
    refused = named(result, "probe")[3]
    assert refused["errno"] == "ECONNREFUSED"
    assert refused["candidate"]["port"] == peer.port
    stats = named(result, "probe_stats")[0]
    assert (stats["sent"], stats["ok"], stats["failed"], stats["loss_pct"]) == (6, 3, 3, 50.0)
    # Ping's rule: one success is enough; --max-loss is the CI rule.
    assert result.status == 0, result.err
    strict = run("connect", "127.0.0.1", str(peer.port), "-c", "2", "--interval", "0",
                 "--max-loss", "0", "--json")
    assert strict.status == 4
    error = named(strict, "error")[0]
    assert error["code"] == "ECONNREFUSED" and error["exit"] == 4
    assert "100% loss > --max-loss 0%" in strict.err


def test_all_refused_exits_4_with_statistics() -> None:
    port = closed_port()
    result = run("connect", "127.0.0.1", str(port), "-c", "3", "--interval", "0")
    assert result.status == 4
    assert result.out.splitlines()[-1] == "3 sent, 0 ok, 3 failed, 100% loss"
    assert "3 of 3 probes failed (100% loss)" in result.err
    assert result.err.count("netprobe:") == 1


def test_max_loss_passes_a_run_within_it(counter: Callable[..., Counter]) -> None:
    peer = counter(close_after=3)
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "4", "--interval", "0.05",
                 "--max-loss", "25", "--json")
    assert outcomes(result) == ["ok", "ok", "ok", "refused"]
    assert result.status == 0, result.err


# --- statistics, recomputed ----------------------------------------------------------------


def test_statistics_recomputed_from_the_probe_events(counter: Callable[..., Counter]) -> None:
    peer = counter(close_after=12)
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "15", "--interval", "0.01",
                 "--json")
    assert result.status == 0, result.err
    probes = named(result, "probe")
    times = sorted(p["elapsed_ms"] for p in probes if p["outcome"] == "ok")
    assert len(times) == 12
    stats = named(result, "probe_stats")[0]
    # The events' times are rounded to the microsecond, as the statistics are.
    close = {"abs": 0.0015}
    assert stats["min_ms"] == pytest.approx(times[0], **close)
    assert stats["max_ms"] == pytest.approx(times[-1], **close)
    assert stats["avg_ms"] == pytest.approx(statistics.fmean(times), **close)
    assert stats["median_ms"] == pytest.approx(statistics.median(times), **close)
    assert stats["p95_ms"] == pytest.approx(times[math.ceil(0.95 * len(times)) - 1], **close)
    assert stats["stdev_ms"] == pytest.approx(statistics.pstdev(times), **close)
    assert (stats["sent"], stats["ok"], stats["failed"]) == (15, 12, 3)
    [only] = stats["per_address"]
    assert (only["address"], only["port"], only["sent"], only["ok"]) == (
        "127.0.0.1", peer.port, 15, 12)
    assert only["median_ms"] == stats["median_ms"]


# --- the schedule, measured on the server's side -------------------------------------------


def test_interval_is_start_to_start(counter: Callable[..., Counter]) -> None:
    peer = counter()
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "5", "--interval", "200ms",
                 "--json")
    assert result.status == 0, result.err
    peer.settle(5)
    gaps = [b - a for a, b in zip(peer.accepted, peer.accepted[1:], strict=False)]
    assert len(gaps) == 4
    assert all(0.17 < gap < 0.3 for gap in gaps), gaps
    # Start to start, not end to start: five probes take four intervals, not more.
    assert peer.accepted[-1] - peer.accepted[0] < 4 * 0.2 + 0.15
    assert peer.most_open == 1


def test_an_overrunning_probe_is_followed_at_once_never_two_at_a_time(
        counter: Callable[..., Counter]) -> None:
    # Each probe waits 300 ms for the peer's answer: longer than the interval.
    peer = counter(reply=b"ready\n", delay=0.3)
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "4", "--interval", "0.1",
                 "--send", "hi\n", "--expect", "ready", "--json")
    assert result.status == 0, result.err
    peer.settle(4)
    assert outcomes(result) == ["ok"] * 4
    # Never two at a time: each connection was closed before the next arrived...
    assert peer.most_open == 1
    # ... and the next followed at once: 300 ms apart, not 300 ms plus an interval.
    gaps = [b - a for a, b in zip(peer.accepted, peer.accepted[1:], strict=False)]
    assert all(0.29 < gap < 0.38 for gap in gaps), gaps
    # --expect: the time runs to the match.
    assert all(p["elapsed_ms"] >= 290 for p in named(result, "probe"))


# --- a peer whose answer never matches ----------------------------------------------------


def test_expect_never_matching_is_6(counter: Callable[..., Counter]) -> None:
    peer = counter(reply=b"SSH-2.0-nope\r\n")
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "3", "--interval", "0",
                 "--expect", "^HTTP/", "--timeout", "0.3", "--json")
    assert result.status == 6, result.err
    assert outcomes(result) == ["expect"] * 3
    assert all(p["errno"] == "EXPECT" for p in named(result, "probe"))
    assert named(result, "error")[0]["code"] == "EXPECT"
    assert named(result, "probe_stats")[0]["loss_pct"] == 100.0
    assert not [e for e in result.events() if e["event"] == "data"]  # peer data not output


# --- timeouts: a blackhole in a private namespace --------------------------------------------

#: A listener on 127.0.0.1:PORT whose accept queue is full (backlog 0, one
#: connection nobody accepts): the SYNs of further connects are dropped.
BLACKHOLE = r"""
import socket, sys, time
port = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen(0)
queued = socket.create_connection(("127.0.0.1", port))
print("ready", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def blackhole(namespace: NsFactory) -> tuple[Namespace, int]:
    ns = namespace()
    # Syncookies off: a full queue then drops SYNs instead of answering with a cookie.
    assert ns.sh("sysctl -qw net.ipv4.tcp_syncookies=0").returncode == 0
    port = 4321
    proc = ns.popen([sys.executable, "-c", BLACKHOLE, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return ns, port


def test_blackhole_times_out_with_the_kernels_view(blackhole: tuple[Namespace, int]) -> None:
    ns, port = blackhole
    result = ns.run("connect", "127.0.0.1", str(port), "-c", "2", "--interval", "0",
                    "--timeout", "1.2", "-v", "--json")
    assert result.status == 5, result.err
    probes = named(result, "probe")
    assert outcomes(result) == ["timeout", "timeout"]
    for probe in probes:
        assert probe["errno"] == "ETIMEDOUT"
        assert 1100 < probe["elapsed_ms"] < 3000
        # SYN at 0, its retransmission at 1 s (loopback's initial RTO): both unanswered.
        assert probe["unanswered_syns"] == 2
        assert probe["tcp_info"]["total_retrans"] == 1
    stats = named(result, "probe_stats")[0]
    assert (stats["ok"], stats["failed"], stats["median_ms"]) == (0, 2, None)
    human = ns.run("connect", "127.0.0.1", str(port), "-c", "1", "--timeout", "0.5", "-v")
    assert human.status == 5
    assert "timeout" in human.out and "1 SYN unanswered" in human.out
    assert "1 sent, 0 ok, 1 failed, 100% loss" in human.out
    # Without -v: no getsockopt(TCP_INFO), no count.
    plain = ns.run("connect", "127.0.0.1", str(port), "-c", "1", "--timeout", "0.3", "--json")
    probe = named(plain, "probe")[0]
    assert probe["tcp_info"] is None and "unanswered_syns" not in probe


def test_kernel_view_of_a_connection(counter: Callable[..., Counter]) -> None:
    peer = counter()
    result = run("connect", "127.0.0.1", str(peer.port), "-c", "2", "--interval", "0", "-v",
                 "--json")
    assert result.status == 0, result.err
    for probe in named(result, "probe"):
        info = probe["tcp_info"]
        assert set(info) == {"rtt_us", "rttvar_us", "retransmits", "total_retrans", "snd_mss",
                             "pmtu", "snd_cwnd"}
        assert info["rtt_us"] > 0 and info["snd_mss"] > 0 and info["snd_cwnd"] > 0
        assert "unanswered_syns" not in probe
    human = run("connect", "127.0.0.1", str(peer.port), "-c", "1", "-v")
    assert " rtt " in human.out and " mss " in human.out and " cwnd " in human.out


# --- TLS and UDP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-probes"))


def test_tls_probes_against_a_real_server(pki: Pki) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-c", "3",
                     "--interval", "0", "--json")
        assert result.status == 0, result.err
        assert outcomes(result) == ["ok"] * 3
        plain = run("connect", "127.0.0.1", str(port), "-c", "1", "--json")
        # The handshake is part of a TLS probe's time.
        assert min(p["elapsed_ms"] for p in named(result, "probe")) > \
            named(plain, "probe")[0]["elapsed_ms"]
    with socat_echo(pki.path("expired")) as port:
        expired = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-c", "2",
                      "--interval", "0", "--json")
        assert expired.status == 7, expired.err
        assert outcomes(expired) == ["tls", "tls"]
        assert named(expired, "probe")[0]["errno"] == "X509_V_ERR_CERT_HAS_EXPIRED"


def test_udp_probes_against_socats_echo(udp_echo_port: int) -> None:
    result = run("connect", "--udp", "127.0.0.1", str(udp_echo_port), "--send", "ping", "--expect",
                 "ping", "-c", "3", "--interval", "0.05", "--timeout", "1", "--json")
    assert result.status == 0, result.err
    assert outcomes(result) == ["ok"] * 3
    assert all(p["candidate"]["socktype"] == "SOCK_DGRAM" for p in named(result, "probe"))
    closed = free_port(kind=socket.SOCK_DGRAM)
    refused = run("connect", "--udp", "127.0.0.1", str(closed), "--send", "ping", "--expect",
                  "ping", "-c", "2", "--interval", "0", "--timeout", "1", "--json")
    assert refused.status == 4, refused.err
    assert outcomes(refused) == ["refused", "refused"]


# --- Ctrl-C ----------------------------------------------------------------------------------


def interrupt_after(args: list[str], lines: int) -> tuple[int, str, str]:
    """Start ``netprobe ARGS``, SIGINT it once ``lines`` lines are on stdout."""
    proc = subprocess.Popen([*NETPROBE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=child_env())
    assert proc.stdout is not None and proc.stderr is not None
    # os.read, not readline: what a buffered readline took past the last line
    # would never reach communicate() (see tests.helpers.read_until).
    seen = b""
    while seen.count(b"\n") < lines:
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, "netprobe ended early"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, seen.decode() + out.decode(), err.decode()


def test_ctrl_c_on_count_0_prints_statistics(counter: Callable[..., Counter]) -> None:
    peer = counter()
    status, out, err = interrupt_after(
        ["connect", "127.0.0.1", str(peer.port), "-c", "0", "--interval", "50ms", "--json"], 4)
    assert status == 0, err
    events = [Result(0, line, "").events()[0] for line in out.splitlines()]
    assert events[-1]["event"] == "probe_stats"
    probes = [e for e in events if e["event"] == "probe"]
    assert len(probes) >= 3 and events[-1]["sent"] == len(probes) == events[-1]["ok"]
    assert "Traceback" not in err


def test_ctrl_c_after_failures_has_their_status() -> None:
    port = closed_port()
    status, out, err = interrupt_after(
        ["connect", "127.0.0.1", str(port), "-c", "0", "--interval", "50ms"], 2)
    assert status == 4, err
    assert "100% loss" in out and "Traceback" not in err


def test_ctrl_c_before_any_probe_finished_is_130(counter: Callable[..., Counter]) -> None:
    # The peer never answers: the first probe waits for its --expect.
    peer = counter()
    proc = subprocess.Popen([*NETPROBE, "connect", "127.0.0.1", str(peer.port), "-c", "0",
                             "--expect", "never", "--timeout", "30", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=child_env())
    deadline = time.monotonic() + 10
    while not peer.accepted and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    events = Result(0, out.decode(), "").events()
    stats = [e for e in events if e["event"] == "probe_stats"]
    assert stats and stats[0]["sent"] == 0
    assert events[-1]["event"] == "error" and events[-1]["exit"] == 130


# --- a terminal, and never a pipe ------------------------------------------------------------


def test_sparkline_and_histogram_on_a_terminal(counter: Callable[..., Counter]) -> None:
    from tests.ptyrun import PtyRun

    peer = counter()
    with PtyRun("connect", "127.0.0.1", str(peer.port), "-c", "12", "--interval", "0.15") as tty:
        assert tty.wait() == 0
        screen = tty.output.decode()
    assert any(level in screen for level in "▁▂▃▄▅▆▇█"), screen  # the live sparkline
    assert "last " in screen
    assert "12 sent, 12 ok, 0 failed, 0% loss" in screen
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    bars = [re.fullmatch(r"\s*\d+\.\d{3} - +\d+\.\d{3} ms  █* ?(\d+)", line)
            for line in plain.splitlines()]
    counts = [int(match.group(1)) for match in bars if match]
    assert len(counts) == 10 and sum(counts) == 12, plain  # the histogram: every probe
    piped = run("connect", "127.0.0.1", str(peer.port), "-c", "3", "--interval", "0.15")
    assert not any(c in piped.out + piped.err for c in "▁▂▃▄▅▆▇█×\x1b")


# --- --resolve-each, per address -------------------------------------------------------------


def test_resolve_each_and_per_address_statistics(namespace: NsFactory, tmp_path: Path) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n127.0.0.1 svc.test\n")
    port = 4322
    for address in ("127.0.0.1", "127.0.0.2"):
        ns.popen(["socat", f"TCP4-LISTEN:{port},bind={address},reuseaddr,fork", "/dev/null"],
                 stderr=subprocess.DEVNULL)
    ns.sh(f"for i in $(seq 100); do socat -u /dev/null TCP4:127.0.0.2:{port} && exit 0; "
          "sleep 0.05; done")
    proc = subprocess.Popen([*ns.prefix, *NETPROBE, "connect", "svc.test", str(port), "-c", "6",
                             "--interval", "0.3", "--resolve-each", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stdout is not None
    for _ in range(4):  # resolved, probe, resolved, probe
        proc.stdout.readline()
    ns.write_etc("hosts", "127.0.0.1 localhost\n127.0.0.2 svc.test\n")
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    once = run("connect", "127.0.0.1", str(free_port()), "-c", "2", "--interval", "0", "--json",
               prefix=ns.prefix)
    assert len(named(once, "resolved")) == 1  # without --resolve-each: once
    result = ns.run("connect", "svc.test", str(port), "-c", "2", "--interval", "0",
                    "--resolve-each", "--json")
    assert len(named(result, "resolved")) == 2 and outcomes(result) == ["ok", "ok"]
    stats = [Result(0, line, "").events()[0] for line in rest.decode().splitlines()][-1]
    per = {(p["address"], p["sent"]) for p in stats["per_address"]}
    assert sum(sent for _, sent in per) == 6
    assert {address for address, _ in per} == {"127.0.0.1", "127.0.0.2"}


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("args, word", [
    (["--count", "-1"], "--count"),
    (["--count", "x"], "--count"),
    (["-c", "2", "--interval", "soon"], "duration"),
    (["-c", "2", "--max-loss", "101"], "--max-loss"),
    (["-c", "2", "--max-loss", "-1"], "--max-loss"),
    # click's FloatRange takes nan (no comparison with it is true): a loss is never <= nan.
    (["-c", "2", "--max-loss", "nan"], "not a percentage"),
])
def test_bad_input_exits_2_with_nothing_connected(counter: Callable[..., Counter],
                                                  args: list[str], word: str) -> None:
    peer = counter()
    result = run("connect", "127.0.0.1", str(peer.port), *args)
    assert result.status == 2, result.err
    assert word in result.err and "Traceback" not in result.err
    json = run("connect", "127.0.0.1", str(peer.port), *args, "--json")
    assert json.status == 2 and named(json, "error")[0]["exit"] == 2
    time.sleep(0.05)
    assert peer.accepted == []


@pytest.mark.parametrize("args", [
    ["--wait", "5"],
    ["--all"],
    ["--max-loss", "5"],
    ["--resolve-each"],
])
def test_options_that_need_or_exclude_count(counter: Callable[..., Counter],
                                            args: list[str]) -> None:
    peer = counter()
    extra = ["-c", "2"] if args[0] in ("--wait", "--all") else []
    result = run("connect", "127.0.0.1", str(peer.port), *extra, *args, "-z")
    assert result.status == 2, result.err
    assert peer.accepted == []


def test_a_failed_probe_takes_its_attempts_time_not_the_why_reading() -> None:
    # A refused local probe carries the kernel's why, read after the attempt
    # ended (a netlink dump and a pass over /proc): the probe's time is the
    # attempt's own, as its attempt event measured it.
    port = free_port()
    result = run("connect", "127.0.0.1", str(port), "-c", "3", "--interval", "0", "--json",
                 "-vv")
    assert result.status == 4
    events = result.events()
    attempts = [e for e in events if e["event"] == "attempt"]
    probes = [e for e in events if e["event"] == "probe"]
    assert len(attempts) == len(probes) == 3
    for attempt, probe in zip(attempts, probes, strict=True):
        assert probe["why"]["kind"] == "no-listener"
        assert probe["elapsed_ms"] == attempt["elapsed_ms"]
