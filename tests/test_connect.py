"""``netprobe connect`` as users run it: a subprocess against real peers.

Peers are socat/ncat processes and plain sockets on loopback, or inside a
private namespace (``Namespace``) when a name must resolve to chosen
addresses through /etc/hosts.  A candidate that never answers is a listener
whose accept queue is full: Linux drops the SYNs it cannot queue, so the
client sees exactly what a blackholed address looks like (no RST, no ICMP),
without any traffic leaving loopback.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    NETPROBE,
    Namespace,
    Result,
    child_env,
    free_port,
    interrupted_once_connected,
    run,
    wait_for_port,
)

pytestmark = pytest.mark.timeout(120)

NsFactory = Callable[..., Namespace]

# socat's echo is EXEC:cat, not PIPE: with PIPE one socat process writes into
# and reads from the same pipe, and a bulk transfer deadlocks it once the
# pipe is full.
ECHO = "EXEC:cat"

#: Peer processes a test started (also inside namespaces); killed after each test.
_spawned: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _kill_spawned() -> Iterator[None]:
    yield
    while _spawned:
        proc = _spawned.pop()
        proc.kill()
        proc.wait()


def spawn(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _spawned.append(proc)
    return proc


@pytest.fixture
def echo_port() -> int:
    """A socat TCP echo server on 127.0.0.1."""
    port = free_port()
    spawn(subprocess.Popen(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                            ECHO], stderr=subprocess.DEVNULL))
    wait_for_port(port)
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that accepts and then neither sends nor closes."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    server.close()


def attempts(result: Result) -> list[tuple[int, str]]:
    return [(e["index"], e["outcome"]) for e in result.events() if e["event"] == "attempt"]


def only(result: Result, name: str) -> dict[str, object]:
    found = [e for e in result.events() if e["event"] == name]
    assert len(found) == 1, result.out
    return found[0]


# --- a good netcat client ------------------------------------------------------------------


def test_echo_hi(echo_port: int) -> None:
    result = run("connect", "127.0.0.1", str(echo_port), input="hi\n")
    assert (result.status, result.out) == (0, "hi\n"), result.err
    assert f"#0 127.0.0.1:{echo_port}  connected" in result.err
    assert "connected 127.0.0.1:" in result.err
    assert "closed (peer closed): 3 bytes sent, 3 received" in result.err


def test_echo_quiet_keeps_only_payload(echo_port: int) -> None:
    result = run("connect", "127.0.0.1", str(echo_port), "-q", input="hi\n")
    assert (result.status, result.out, result.err) == (0, "hi\n", "")


def test_stdin_devnull(echo_port: int) -> None:
    proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(echo_port)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          env=child_env())
    assert (proc.returncode, proc.stdout) == (0, b"")
    assert b"closed (peer closed): 0 bytes sent, 0 received" in proc.stderr


def test_100_mib_through_echo_intact(echo_port: int, tmp_path: Path) -> None:
    source, sink = tmp_path / "in", tmp_path / "out"
    digest = hashlib.sha256()
    with source.open("wb") as f:
        block = os.urandom(1024 * 1024)
        for i in range(100):
            chunk = bytes([i]) + block[1:]
            digest.update(chunk)
            f.write(chunk)
    with source.open("rb") as stdin, sink.open("wb") as stdout:
        proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(echo_port), "-q"],
                              stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                              timeout=100, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert sink.stat().st_size == 100 * 1024 * 1024
    received = hashlib.sha256()
    with sink.open("rb") as f:
        while chunk := f.read(1 << 20):
            received.update(chunk)
    assert received.hexdigest() == digest.hexdigest()


def test_json_data_events_never_raw_bytes(echo_port: int) -> None:
    result = run("connect", "127.0.0.1", str(echo_port), "--json", input=b"hi\n\xff\xfe")
    assert result.status == 0
    events = result.events()  # every stdout line is JSON
    names = [e["event"] for e in events]
    assert names[:4] == ["resolved", "attempt_started", "attempt", "connected"]
    assert names[-1] == "closed"
    data = [e for e in events if e["event"] == "data"]
    assert sum(e["bytes"] for e in data) == 5
    assert all(("text" in e) != ("base64" in e) for e in data)
    connected = only(result, "connected")
    assert connected["peer"] == {"address": "127.0.0.1", "port": echo_port}
    assert isinstance(connected["elapsed_ms"], float)
    closed = only(result, "closed")
    assert (closed["bytes_in"], closed["bytes_out"], closed["reason"]) == (5, 5, "peer closed")


def test_check_connects_and_closes(echo_port: int) -> None:
    result = run("connect", "127.0.0.1", str(echo_port), "-z")
    assert (result.status, result.out) == (0, "")
    assert "closed (check)" in result.err


def test_check_refused_is_4() -> None:
    port = free_port()
    result = run("connect", "127.0.0.1", str(port), "--check")
    assert result.status == 4
    assert f"#0 127.0.0.1:{port}  refused  ECONNREFUSED" in result.err
    assert result.err.rstrip().endswith(
        f"netprobe: connect 127.0.0.1 {port}: ECONNREFUSED: candidate failed: "
        f"127.0.0.1:{port} refused")
    json = run("connect", "127.0.0.1", str(port), "--check", "--json")
    error = only(json, "error")
    assert (error["exit"], error["code"], error["stage"]) == (4, "ECONNREFUSED", "connect")
    assert attempts(json) == [(0, "refused")]


def test_send_and_expect(echo_port: int) -> None:
    ok = run("connect", "127.0.0.1", str(echo_port), "--send", "HELLO 42\n",
             "--expect", r"HELLO \d+")
    assert (ok.status, ok.out) == (0, "HELLO 42\n")
    assert "expect matched" in ok.err
    miss = run("connect", "127.0.0.1", str(echo_port), "--send", "HELLO\n", "--expect", "BYE")
    assert miss.status == 6
    assert ("netprobe: expect BYE: EXPECT: the peer closed without a match (6 bytes received)"
            in miss.err)


def test_expect_times_out_with_6(silent_port: int) -> None:
    started = time.monotonic()
    result = run("connect", "127.0.0.1", str(silent_port), "--expect", "never",
                 "--timeout", "1", "--json", input="")
    assert result.status == 6
    assert 0.9 < time.monotonic() - started < 20
    error = only(result, "error")
    assert (error["stage"], error["code"], error["exit"]) == ("expect", "EXPECT", 6)


def test_check_expect_is_a_banner_check() -> None:
    """-z --expect: stdin is not read and the write side stays open (a banner check)."""
    port = free_port()
    # The banner, then cat: the connection stays open until the client closes.
    spawn(subprocess.Popen(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                            "SYSTEM:echo SSH-2.0-test; exec cat"], stderr=subprocess.DEVNULL))
    wait_for_port(port)
    ok = run("connect", "127.0.0.1", str(port), "-z", "--expect", "^SSH-2", input="ignored\n")
    assert (ok.status, ok.out) == (0, "SSH-2.0-test\n"), ok.err
    assert "closed (expect matched): 0 bytes sent" in ok.err
    started = time.monotonic()
    miss = run("connect", "127.0.0.1", str(port), "-z", "--expect", "^HTTP", "--timeout", "1")
    assert miss.status == 6 and time.monotonic() - started > 0.9
    assert "no match within 1 s" in miss.err


def test_bad_expect_and_source_are_usage_errors() -> None:
    assert run("connect", "127.0.0.1", "1", "--expect", "(").status == 2
    bad = run("connect", "127.0.0.1", "1", "--source", "[::1")
    assert bad.status == 2 and "Traceback" not in bad.err
    assert run("connect", "127.0.0.1", "70000").status == 2


def test_source_binds_first_and_traces_each_step(echo_port: int) -> None:
    result = run("connect", "127.0.0.1", str(echo_port), "-z", "--source", "127.0.0.5")
    assert result.status == 0, result.err
    for line in ("#0 socket AF_INET SOCK_STREAM IPPROTO_TCP", "#0 bind 127.0.0.5:",
                 f"#0 connect 127.0.0.1:{echo_port}", "connected 127.0.0.5:"):
        assert line in result.err
    json = run("connect", "127.0.0.1", str(echo_port), "-z", "--source", "127.0.0.5:0", "--json")
    assert only(json, "connected")["local"]["address"] == "127.0.0.5"  # type: ignore[index]
    fixed = free_port()
    pinned = run("connect", "127.0.0.1", str(echo_port), "-z", "--source", f"127.0.0.5:{fixed}",
                 "--json")
    assert only(pinned, "connected")["local"] == {"address": "127.0.0.5", "port": fixed}
    wrong = run("connect", "127.0.0.1", str(echo_port), "-z", "--source", "[::1]:0")
    assert wrong.status == 4
    assert "EAFNOSUPPORT" in wrong.err and "--source [::1]:0 is AF_INET6" in wrong.err


def test_ipv6_source_in_brackets() -> None:
    port = free_port(socket.AF_INET6)
    spawn(subprocess.Popen(["socat", f"TCP6-LISTEN:{port},bind=[::1],reuseaddr,fork", ECHO],
                           stderr=subprocess.DEVNULL))
    wait_for_port(port, "::1")
    result = run("connect", "::1", str(port), "--source", "[::1]:0", "--json", input="v6\n")
    assert result.status == 0, result.out
    assert only(result, "connected")["local"]["address"] == "::1"  # type: ignore[index]
    assert [e["text"] for e in result.events() if e["event"] == "data"] == ["v6\n"]


def test_closed_stdout_is_141(echo_port: int) -> None:
    proc = subprocess.Popen([*NETPROBE, "connect", "127.0.0.1", str(echo_port), "--send", "x"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 141
    assert b"Traceback" not in err


def test_ctrl_c_is_130(echo_port: int) -> None:
    status, err = interrupted_once_connected("connect", "127.0.0.1", str(echo_port))
    assert status == 130
    assert b"netprobe: interrupted" in err


# --- UDP ------------------------------------------------------------------------------------


def test_udp_lines_are_datagrams_and_replies_printed(udp_echo_port: int) -> None:
    result = run("connect", "--udp", "127.0.0.1", str(udp_echo_port), "--timeout", "1",
                 input="one\ntwo\n")
    assert result.status == 0, result.err
    assert sorted(result.out.splitlines()) == ["one", "two"]
    assert "SOCK_DGRAM" in result.err
    json = run("connect", "-u", "127.0.0.1", str(udp_echo_port), "--timeout", "1", "--json",
               "--send", "ping", "--expect", "ping")
    assert json.status == 0
    assert [e["text"] for e in json.events() if e["event"] == "data"] == ["ping"]
    assert only(json, "resolved")["hints"]["socktype"] == "SOCK_DGRAM"  # type: ignore[index]


def test_udp_check(udp_echo_port: int) -> None:
    closed = free_port(kind=socket.SOCK_DGRAM)
    refused = run("connect", "--udp", "--check", "127.0.0.1", str(closed), "--json")
    assert refused.status == 4
    assert attempts(refused) == [(0, "refused")]
    assert only(refused, "error")["code"] == "ECONNREFUSED"
    ok = run("connect", "--udp", "-z", "127.0.0.1", str(udp_echo_port))
    assert ok.status == 0, ok.err
    assert "connected" in ok.err


# --- candidates inside a private namespace ------------------------------------------------------

# Holds a listener on [::1]:PORT whose accept queue is full (backlog 0 and one
# connection nobody accepts): further SYNs are dropped, so connecting to it
# neither succeeds nor fails until the client gives up.
BLACKHOLE = r"""
import socket, sys, time
port = int(sys.argv[1])
server = socket.socket(socket.AF_INET6)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind(("::1", port))
server.listen(0)
queued = socket.create_connection(("::1", port))
print("ready", flush=True)
time.sleep(3600)
"""


def ns_echo(ns: Namespace, port: int, bind: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    proc = spawn(ns.popen(["socat", f"TCP4-LISTEN:{port},bind={bind},reuseaddr,fork", ECHO],
                          stderr=subprocess.DEVNULL))
    ready = ns.sh(f"for i in $(seq 200); do socat -u /dev/null TCP4:{bind}:{port} 2>/dev/null "
                  "&& exit 0; sleep 0.05; done; exit 1")
    assert ready.returncode == 0, "socat echo did not start in the namespace"
    return proc


def ns_blackhole(ns: Namespace, port: int) -> subprocess.Popen[bytes]:
    proc = spawn(ns.popen([sys.executable, "-c", BLACKHOLE, str(port)],
                          stdout=subprocess.PIPE))
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


DUAL_HOSTS = "127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n"


def test_dual_name_first_refused_then_connected(namespace: NsFactory) -> None:
    ns = namespace(hosts=DUAL_HOSTS)
    port = 4242
    ns_echo(ns, port)
    human = ns.run("connect", "dual.test", str(port), input="hi\n")
    assert (human.status, human.out) == (0, "hi\n"), human.err
    assert f"2 candidates: [::1]:{port}, 127.0.0.1:{port}" in human.err
    assert f"#0 [::1]:{port}  refused  ECONNREFUSED  Connection refused" in human.err
    assert f"#1 127.0.0.1:{port}  connected" in human.err
    assert human.err.index("#0 [::1]") < human.err.index("#1 127.0.0.1")
    json = ns.run("connect", "dual.test", str(port), "--json", "-z")
    assert json.status == 0
    assert attempts(json) == [(0, "refused"), (1, "connected")]
    first = next(e for e in json.events() if e["event"] == "attempt")
    assert (first["errno"], first["candidate"]["family"]) == ("ECONNREFUSED", "AF_INET6")
    assert only(json, "connected")["index"] == 1
    every = ns.run("connect", "dual.test", str(port), "--all")
    assert every.status == 4
    assert "refused" in every.err and "connected" in every.err


def test_never_answering_candidate_times_out_then_next_connects(namespace: NsFactory) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n::1 slow.test\n127.0.0.1 slow.test\n")
    port = 4243
    ns_blackhole(ns, port)
    ns_echo(ns, port)
    result = ns.run("connect", "slow.test", str(port), "-z", "--timeout", "1")
    assert result.status == 0, result.err
    assert f"#0 [::1]:{port}  timed out  ETIMEDOUT" in result.err
    assert f"#1 127.0.0.1:{port}  connected" in result.err
    json = ns.run("connect", "slow.test", str(port), "-z", "--timeout", "1", "--json")
    first = next(e for e in json.events() if e["event"] == "attempt")
    assert first["outcome"] == "timeout"
    assert 900 <= first["elapsed_ms"] < 5000
    # Alone, it is a timeout: exit 5.
    alone = ns.run("connect", "::1", str(port), "-z", "--timeout", "1", "--json")
    assert alone.status == 5
    assert only(alone, "error")["code"] == "ETIMEDOUT"


def test_happy_eyeballs_next_candidate_wins_after_delay(namespace: NsFactory) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n::1 slow.test\n127.0.0.1 slow.test\n")
    port = 4244
    ns_blackhole(ns, port)
    ns_echo(ns, port)
    json = ns.run("connect", "slow.test", str(port), "-z", "--happy-eyeballs",
                  "--he-delay", "200ms", "--timeout", "5", "--json")
    assert json.status == 0, json.err
    started = {e["index"]: e["started_ms"] for e in json.events()
               if e["event"] == "attempt_started"}
    assert started[0] < 50 and 190 <= started[1] < 1500
    assert attempts(json) == [(1, "connected"), (0, "cancelled")]
    connected = only(json, "connected")
    assert connected["index"] == 1
    assert 190 <= connected["elapsed_ms"] < 1500  # type: ignore[operator]
    human = ns.run("connect", "slow.test", str(port), "-z", "--happy-eyeballs",
                   "--he-delay", "200ms", "--timeout", "5")
    assert human.status == 0
    assert f"#1 127.0.0.1:{port}  connected" in human.err
    assert f"#0 [::1]:{port}  cancelled" in human.err


def test_hung_resolver_is_5(namespace: NsFactory) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n")
    # A "DNS server" that reads queries and never answers.
    spawn(ns.popen(["socat", "-u", "UDP4-RECV:53,bind=127.0.0.1", "OPEN:/dev/null"]))
    # Until it is bound, queries would be refused at once (exit 3, not 5).
    bound = ns.sh("for i in $(seq 200); do ss -Hlun 'sport = :53' | grep -q . && exit 0; "
                  "sleep 0.05; done; exit 1")
    assert bound.returncode == 0, "the silent DNS server did not start"
    started = time.monotonic()
    result = ns.run("connect", "hang.test", "80", "--timeout", "1", "--json")
    assert result.status == 5
    assert time.monotonic() - started < 15
    error = only(result, "error")
    assert (error["stage"], error["code"]) == ("connect", "ETIMEDOUT")


# --- --wait ---------------------------------------------------------------------------------


def test_wait_for_a_server_that_starts_late() -> None:
    port = free_port()
    server: list[subprocess.Popen[bytes]] = []
    timer = threading.Timer(2.0, lambda: server.append(subprocess.Popen(
        ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", ECHO],
        stderr=subprocess.DEVNULL)))
    timer.start()
    try:
        result = run("connect", "127.0.0.1", str(port), "-z", "--wait", "30",
                     "--interval", "0.25", "--json")
    finally:
        timer.join()
        for proc in server:
            proc.kill()
            proc.wait()
    assert result.status == 0, result.out
    rounds = [e for e in result.events() if e["event"] == "round"]
    assert len(rounds) >= 3
    assert {e["outcome"] for e in rounds[:-1]} == {"refused"}
    assert rounds[-1]["outcome"] == "connected"
    assert [e["n"] for e in rounds] == list(range(1, len(rounds) + 1))


def test_wait_human_is_one_line_a_round() -> None:
    port = free_port()
    started = time.monotonic()
    result = run("connect", "127.0.0.1", str(port), "-z", "--wait", "1.5", "--interval", "0.3")
    elapsed = time.monotonic() - started
    assert result.status == 5
    assert 1.4 <= elapsed < 10
    lines = result.err.splitlines()
    rounds = [line for line in lines if line.startswith("round ")]
    assert len(rounds) >= 3
    assert all("refused" in line and "ECONNREFUSED" in line for line in rounds)
    assert lines[-1].startswith(f"netprobe: connect 127.0.0.1 {port}: ECONNREFUSED: "
                                "not connected within 1.5 s")
    # Compact: no per-attempt lines between the rounds.
    assert not any(line.startswith("#0") for line in lines)


def test_wait_for_a_name_that_resolves_late(namespace: NsFactory) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n")
    port = 4245
    ns_echo(ns, port)
    hosts = ns.dir / "hosts"
    # Rewritten in place: the namespace's /etc/hosts is a bind mount of this inode.
    timer = threading.Timer(2.0, lambda: hosts.write_text(
        "127.0.0.1 localhost\n127.0.0.1 late.test\n"))
    timer.start()
    try:
        result = ns.run("connect", "late.test", str(port), "-z", "--wait", "30",
                        "--interval", "0.25", "--json")
    finally:
        timer.join()
    assert result.status == 0, result.out
    rounds = [e for e in result.events() if e["event"] == "round"]
    assert rounds[0]["outcome"] == "unresolved"
    assert rounds[0]["errno"].startswith("EAI_")
    assert rounds[-1]["outcome"] == "connected"


def test_timeline_on_a_terminal(namespace: NsFactory) -> None:
    """On a terminal: after more than one attempt, the timeline (and never on a pipe)."""
    import pty

    ns = namespace(hosts=DUAL_HOSTS)
    port = 4246
    ns_echo(ns, port)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*ns.prefix, *NETPROBE, "connect", "dual.test", str(port), "-z"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=terminal, env=child_env({"TERM": "xterm"}))
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert proc.wait(timeout=30) == 0
    text = output.decode("utf-8", "replace")
    assert "timeline" in text and "━" in text
    piped = ns.run("connect", "dual.test", str(port), "-z")
    assert "timeline" not in piped.err
