"""``netprobe check`` as CI runs it: a subprocess against real listeners on loopback.

Peers are sockets this test process holds:

* open: a listening socket (the kernel completes the handshake without accept());
* closed: a socket that is bound but not listening, so the port stays ours and
  a SYN to it gets a RST (refused) whatever else runs on the machine;
* silent: a listener with a full accept queue (backlog 0 plus one connection
  nobody accepts): Linux drops further SYNs, what a blackholed address looks
  like, without any traffic leaving loopback;
* UDP: a socat echo, and a free UDP port, where the kernel answers ICMP
  port-unreachable.

Names other than ``localhost`` resolve only inside a private namespace with
dnsmasq (``tests/dnsmasq.py``).
"""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dnsmasq import DnsNamespace
from tests.helpers import (
    NETPROBE,
    Result,
    child_env,
    free_port,
    imported_by,
    on_terminal,
    run,
)
from tests.tls_pki import Pki, socat_echo

pytestmark = pytest.mark.timeout(180)


class Peers:
    """Sockets held for one test, closed after it."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def hold(self, sock: socket.socket) -> socket.socket:
        self.socks.append(sock)
        return sock

    def open(self, host: str = "127.0.0.1") -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = self.hold(socket.socket(family, socket.SOCK_STREAM))
        server.bind((host, 0))
        server.listen(4096)
        return int(server.getsockname()[1])

    def closed(self) -> int:
        sock = self.hold(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind(("127.0.0.1", 0))  # bound, never listening: SYN -> RST
        return int(sock.getsockname()[1])

    def silent(self) -> int:
        server = self.hold(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        self.hold(socket.create_connection(("127.0.0.1", port), timeout=5))
        return port

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks.clear()


@pytest.fixture
def peers() -> Iterator[Peers]:
    # 1000 targets need 1000 sockets here too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    held = Peers()
    yield held
    held.close()


def summary(result: Result) -> dict[str, Any]:
    events = result.events()
    assert events and events[-1]["event"] == "summary", result.out[-500:]
    assert sum(1 for e in events if e["event"] == "summary") == 1
    return events[-1]


def verdicts(result: Result) -> list[tuple[str, bool, str, int]]:
    return [(t["target"], t["ok"], t["outcome"], t["exit"]) for t in summary(result)["targets"]]


# --- outcomes ---------------------------------------------------------------------------


def test_open_refused_and_silent_each_as_connect_says(peers: Peers) -> None:
    opened, closed, silent = peers.open(), peers.closed(), peers.silent()
    targets = [f"127.0.0.1:{opened}", f"tcp://127.0.0.1:{closed}", f"127.0.0.1:{silent}"]
    result = run("check", *targets, "--timeout", "1", "--json")
    assert result.status == 4, result.err  # the first failing target is refused
    assert verdicts(result) == [(targets[0], True, "connected", 0),
                                (targets[1], False, "refused", 4),
                                (targets[2], False, "timeout", 5)]
    done = summary(result)
    assert (done["total"], done["ok"], done["failed"]) == (3, 1, 2)
    assert [t["address"] for t in done["targets"]] == [
        f"127.0.0.1:{opened}", f"127.0.0.1:{closed}", f"127.0.0.1:{silent}"]
    assert [t["errno"] for t in done["targets"]] == [None, "ECONNREFUSED", "ETIMEDOUT"]
    events = result.events()
    # Every event of every probe names its target; the connect events are connect's own.
    assert all("target" in e for e in events[:-1])
    for target in targets:
        kinds = [e["event"] for e in events if e.get("target") == target]
        assert kinds[:3] == ["resolved", "attempt_started", "attempt"], kinds
    errors = [e for e in events if e["event"] == "error"]
    assert sorted((e["target"], e["code"], e["exit"]) for e in errors) == sorted(
        [(targets[1], "ECONNREFUSED", 4), (targets[2], "ETIMEDOUT", 5)])
    silent_attempt = next(e for e in events
                          if e["event"] == "attempt" and e["target"] == targets[2])
    assert 900 <= silent_attempt["elapsed_ms"] < 5000
    # One line on stderr naming the first failure (in the order given).
    assert result.err.strip().splitlines() == [
        f"netprobe: check {targets[1]}: ECONNREFUSED: candidate failed: 127.0.0.1:{closed} "
        "refused (2 of 3 targets failed)"]


def test_all_open_is_0_and_the_table_is_on_stdout(peers: Peers) -> None:
    ports = [peers.open(), peers.open("::1")]
    targets = [f"127.0.0.1:{ports[0]}", f"[::1]:{ports[1]}", "localhost:" + str(ports[0])]
    result = run("check", *targets)
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["target", "outcome", "address", "time", "errno"]
    assert [line.split()[:3] for line in lines[1:]] == [
        [targets[0], "connected", f"127.0.0.1:{ports[0]}"],
        [targets[1], "connected", f"[::1]:{ports[1]}"],
        [targets[2], "connected", f"127.0.0.1:{ports[0]}"],
    ]
    assert "3 targets: 3 ok, 0 failed" in result.err
    assert "\x1b[" not in result.out + result.err  # never drawn on a pipe
    assert "in flight" not in result.err
    quiet = run("check", *targets, "-q")
    assert (quiet.status, quiet.err) == (0, "")
    assert [line.split()[:3] for line in quiet.out.splitlines()] == [
        line.split()[:3] for line in lines]


def test_udp_echo_passes_and_closed_udp_is_refused(udp_echo_port: int) -> None:
    closed = free_port(kind=socket.SOCK_DGRAM)
    targets = [f"udp://127.0.0.1:{udp_echo_port}", f"udp://127.0.0.1:{closed}"]
    result = run("check", *targets, "--json")
    assert result.status == 4, result.err
    assert verdicts(result) == [(targets[0], True, "connected", 0),
                                (targets[1], False, "refused", 4)]
    resolved = [e for e in result.events() if e["event"] == "resolved"]
    assert {e["hints"]["socktype"] for e in resolved} == {"SOCK_DGRAM"}


def test_unknown_service_is_3_without_any_resolver(peers: Peers) -> None:
    # /etc/services is a local file: resolution fails (EAI_SERVICE) with no DNS asked.
    closed = peers.closed()
    result = run("check", "127.0.0.1:nosuchservicename", f"127.0.0.1:{closed}", "--json")
    assert result.status == 3, result.err
    assert verdicts(result)[0] == ("127.0.0.1:nosuchservicename", False, "unresolved", 3)


@pytest.mark.parametrize(("order", "status"), [
    (["open", "closed", "silent"], 4),
    (["silent", "closed", "open"], 5),
    (["open", "unknown", "closed"], 3),
    (["closed", "unknown", "silent"], 4),
    (["open", "open"], 0),
])
def test_exit_status_is_the_first_failing_target_in_the_order_given(
        peers: Peers, order: list[str], status: int) -> None:
    make: dict[str, Callable[[], str]] = {
        "open": lambda: f"127.0.0.1:{peers.open()}",
        "closed": lambda: f"127.0.0.1:{peers.closed()}",
        "silent": lambda: f"127.0.0.1:{peers.silent()}",
        "unknown": lambda: "127.0.0.1:nosuchservicename",
    }
    targets = [make[kind]() for kind in order]
    # The silent one finishes last; the status still follows the order given.
    result = run("check", *targets, "--timeout", "1", "--json")
    assert result.status == status, result.err
    assert [t["exit"] for t in summary(result)["targets"]] == [
        {"open": 0, "closed": 4, "silent": 5, "unknown": 3}[kind] for kind in order]


# --- --wait and --invert ----------------------------------------------------------------


def _listen_later(port: int, delay: float, stop: threading.Event) -> threading.Thread:
    def serve() -> None:
        time.sleep(delay)
        with socket.create_server(("127.0.0.1", port)) as server:
            server.settimeout(0.1)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    server.accept()[0].close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_wait_retries_until_a_late_listener_appears(peers: Peers) -> None:
    late = free_port()
    opened = peers.open()
    stop = threading.Event()
    thread = _listen_later(late, 1.5, stop)
    try:
        targets = [f"127.0.0.1:{opened}", f"127.0.0.1:{late}"]
        result = run("check", *targets, "--wait", "20", "--interval", "200ms", "--json")
    finally:
        stop.set()
        thread.join()
    assert result.status == 0, result.err
    done = summary(result)
    assert (done["ok"], done["failed"]) == (2, 0)
    late_rounds = [e for e in result.events()
                   if e["event"] == "round" and e["target"] == targets[1]]
    assert len(late_rounds) >= 3
    assert late_rounds[0]["outcome"] == "refused" and late_rounds[-1]["outcome"] == "connected"
    assert [e["n"] for e in late_rounds] == list(range(1, len(late_rounds) + 1))
    assert done["targets"][1]["rounds"] == len(late_rounds)
    assert done["targets"][0]["rounds"] == 1  # a passing target is not retried


def test_wait_deadline_is_5(peers: Peers) -> None:
    opened, closed = peers.open(), peers.closed()
    start = time.monotonic()
    result = run("check", f"127.0.0.1:{opened}", f"127.0.0.1:{closed}", "--wait", "1.5",
                 "--interval", "200ms", "--json")
    assert time.monotonic() - start < 15
    assert result.status == 5, result.err
    target = summary(result)["targets"][1]
    assert (target["ok"], target["outcome"], target["exit"]) == (False, "refused", 5)
    assert target["rounds"] >= 3
    assert "not connected within 1.5 s" in result.err


def test_invert_waits_until_a_listener_goes_away(peers: Peers) -> None:
    going = socket.create_server(("127.0.0.1", 0))
    port = going.getsockname()[1]
    closed = peers.closed()
    timer = threading.Timer(1.5, going.close)
    timer.start()
    try:
        result = run("check", f"127.0.0.1:{port}", f"127.0.0.1:{closed}", "--invert",
                     "--wait", "20", "--interval", "200ms", "--json")
    finally:
        timer.cancel()
        going.close()
    assert result.status == 0, result.err
    done = summary(result)
    assert [(t["ok"], t["outcome"]) for t in done["targets"]] == [(True, "refused"),
                                                                  (True, "refused")]
    assert done["targets"][0]["rounds"] >= 3 and done["targets"][1]["rounds"] == 1


def test_invert_without_wait_fails_6_on_an_open_port(peers: Peers) -> None:
    opened, closed = peers.open(), peers.closed()
    result = run("check", f"127.0.0.1:{closed}", f"127.0.0.1:{opened}", "--invert", "--json")
    assert result.status == 6, result.err
    assert verdicts(result) == [(f"127.0.0.1:{closed}", True, "refused", 0),
                                (f"127.0.0.1:{opened}", False, "connected", 6)]
    assert f"INVERT: still accepts (127.0.0.1:{opened})" in result.err
    waited = run("check", f"127.0.0.1:{opened}", "--invert", "--wait", "1", "--interval",
                 "200ms")
    assert waited.status == 5


# --- DNS, inside a private namespace -------------------------------------------------------


def test_dns_targets_resolve_and_nxdomain_is_3(
        dns_namespace: Callable[..., DnsNamespace]) -> None:
    ns = dns_namespace()
    ok = ns.run("check", "dns://a.test", "dns://multi.test", "--json")
    assert ok.status == 0, ok.err
    assert [(t["target"], t["outcome"]) for t in summary(ok)["targets"]] == [
        ("dns://a.test", "resolved"), ("dns://multi.test", "resolved")]
    resolved = {e["target"]: e for e in ok.events() if e["event"] == "resolved"}
    assert "192.0.2.1" in {c["address"] for c in resolved["dns://a.test"]["candidates"]}
    bad = ns.run("check", "dns://a.test", "dns://nosuch.test", "svc.test:1", "--json")
    assert bad.status == 3, bad.err
    assert verdicts(bad) == [("dns://a.test", True, "resolved", 0),
                             ("dns://nosuch.test", False, "unresolved", 3),
                             ("svc.test:1", False, "refused", 4)]
    error = next(e for e in bad.events()
                 if e["event"] == "error" and e["target"] == "dns://nosuch.test")
    assert (error["target"], error["stage"], error["code"]) == (
        "dns://nosuch.test", "resolve", "EAI_NONAME")
    gone = ns.run("check", "dns://nosuch.test", "--invert")
    assert gone.status == 0, gone.err


# --- many targets at once ------------------------------------------------------------------


def test_a_thousand_targets_at_parallel_256(peers: Peers) -> None:
    opened = [f"127.0.0.1:{peers.open()}" for _ in range(500)]
    closed = [f"127.0.0.1:{peers.closed()}" for _ in range(500)]
    targets = [t for pair in zip(opened, closed, strict=True) for t in pair]
    listing = "# 1000 targets, half open\n\n" + "\n".join(targets) + "\n"
    result = run("check", "-f", "-", "--parallel", "256", "--json", input=listing,
                 timeout=120)
    assert result.status == 4, result.err[-500:]
    done = summary(result)
    assert (done["total"], done["ok"], done["failed"]) == (1000, 500, 500)
    assert [t["target"] for t in done["targets"]] == targets
    for entry in done["targets"]:
        expected = ("connected", True) if entry["target"] in opened else ("refused", False)
        assert (entry["outcome"], entry["ok"]) == expected, entry


def test_fifty_silent_targets_cost_one_timeout_not_fifty(peers: Peers) -> None:
    targets = [f"127.0.0.1:{peers.silent()}" for _ in range(50)]
    opened = f"127.0.0.1:{peers.open()}"
    start = time.monotonic()
    result = run("check", *targets, opened, "--timeout", "3", "--json")
    elapsed = time.monotonic() - start
    assert result.status == 5, result.err
    assert elapsed < 20, elapsed
    done = summary(result)
    assert (done["ok"], done["failed"]) == (1, 50)
    assert {t["outcome"] for t in done["targets"][:50]} == {"timeout"}
    # The open one, last in line, was not held up until a silent one gave up.
    events = result.events()
    [connected] = [e for e in events if e["event"] == "connected"]
    first_timeout = min(e["t"] for e in events
                        if e["event"] == "attempt" and e["outcome"] == "timeout")
    assert connected["target"] == opened and connected["t"] < first_timeout - 1.0


def test_descriptor_limit_is_raised_to_fit_or_refused(peers: Peers) -> None:
    targets = [f"127.0.0.1:{peers.closed()}" for _ in range(200)]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or hard >= 1024, "the test needs a hard limit >= 1024"
    prefix = ["prlimit", f"--nofile=256:{'unlimited' if hard == resource.RLIM_INFINITY else hard}",
              "--"]
    fits = run("check", *targets, "--parallel", "200", "--json", prefix=prefix)
    assert fits.status == 4, fits.err[-300:]
    assert {t["outcome"] for t in summary(fits)["targets"]} == {"refused"}
    capped = run("check", *targets, "--parallel", "200", prefix=["prlimit", "--nofile=256:256",
                                                                 "--"])
    assert capped.status == 2
    assert capped.err.startswith("netprobe: check --parallel 200: EMFILE: needs up to 864 "
                                 "file descriptors, the limit is 256")


# --- bad targets: exit 2 before anything is checked ---------------------------------------------


@pytest.mark.parametrize(("bad", "shown"), [
    ("nohost", "nohost"), ("h:99999", "h:99999"), ("[::1:80", "[::1:80"),
    ("ftp://h:1", "ftp://h:1"), ("", "''"), ("::1:80", "::1:80"),
])
def test_bad_target_is_2_before_any_connection(bad: str, shown: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as counter:
        counter.setblocking(False)
        port = counter.getsockname()[1]
        result = run("check", f"127.0.0.1:{port}", bad, f"127.0.0.1:{port}", "--json")
        assert result.status == 2
        assert result.err.startswith(f"netprobe: check {shown}: argument 2: "), result.err
        assert len(result.err.splitlines()) == 1 and "Traceback" not in result.err
        [event] = result.events()
        assert (event["event"], event["exit"], event["target"]) == ("error", 2, shown)
        # Nothing connected: the listener's accept queue is empty.
        with pytest.raises(BlockingIOError):
            counter.accept()


def test_bad_target_in_a_file_names_its_line(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("# services\n127.0.0.1:1\n\nudp://127.0.0.1:53  # dns\nnohost\n")
    result = run("check", "-f", str(listing))
    assert result.status == 2
    assert result.err == f"netprobe: check nohost: {listing} line 5: missing :PORT\n"
    missing = run("check", "-f", str(tmp_path / "absent.txt"))
    assert missing.status == 2 and "cannot read the target file" in missing.err
    assert run("check").status == 2


def test_tls_options_without_a_tls_target_are_a_usage_error(peers: Peers) -> None:
    result = run("check", f"127.0.0.1:{peers.open()}", "--sni", "x.test")
    assert result.status == 2
    assert result.err == "netprobe: check --sni: --sni needs a tls:// target\n"
    missing_ca = run("check", "tls://127.0.0.1:1", "--ca", "/nonexistent/ca.pem")
    assert missing_ca.status == 2 and "--ca" in missing_ca.err


# --- the live table on a terminal ------------------------------------------------------------


def test_live_table_on_a_terminal_only(peers: Peers) -> None:
    silent, opened = peers.silent(), peers.open()
    args = ["check", f"127.0.0.1:{silent}", f"127.0.0.1:{opened}", "--timeout", "1.5"]
    status, screen = on_terminal(*args, env={"TERM": "xterm-256color", "COLUMNS": "120",
                                            "LINES": "30"})
    assert status == 5
    assert "in flight" in screen and "connecting" in screen  # the live table was drawn
    assert "timed out" in screen and f"127.0.0.1:{opened}" in screen  # then the results


def test_ctrl_c_ends_a_run_at_once_with_130(peers: Peers) -> None:
    silent = peers.silent()
    proc = subprocess.Popen([*NETPROBE, "check", f"127.0.0.1:{silent}", "--timeout", "30",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env())
    assert proc.stdout is not None
    # Wait until the attempt is under way (the SYN sent and unanswered).
    for line in proc.stdout:
        if b'"attempt_started"' in line:
            break
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert time.monotonic() - start < 10  # not the 30 s of the in-flight connect
    assert err.decode().strip().splitlines()[-1] == "netprobe: interrupted"
    assert b"Traceback" not in err


# --- --happy-eyeballs, with a name that resolves to a dead and a live address -------------------

# Inside a namespace: [::1]:PORT drops every SYN (a full accept queue),
# 127.0.0.1:PORT listens.  /etc/hosts gives slow.test both, ::1 first.
DUAL = r"""
import socket, sys, time
port = int(sys.argv[1])
hole = socket.socket(socket.AF_INET6)
hole.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
hole.bind(("::1", port))
hole.listen(0)
queued = socket.create_connection(("::1", port))
live = socket.create_server(("127.0.0.1", port), backlog=64)
print("ready", flush=True)
time.sleep(3600)
"""


def test_happy_eyeballs_races_each_targets_candidates(namespace: Callable[..., Any]) -> None:
    ns = namespace(hosts="127.0.0.1 localhost\n::1 slow.test\n127.0.0.1 slow.test\n")
    port = 4250
    peer = ns.popen([sys.executable, "-c", DUAL, str(port)], stdout=subprocess.PIPE)
    assert peer.stdout is not None and peer.stdout.readline() == b"ready\n"
    raced = ns.run("check", f"slow.test:{port}", "--happy-eyeballs", "--he-delay", "200ms",
                   "--timeout", "5", "--json")
    assert raced.status == 0, raced.err
    [entry] = summary(raced)["targets"]
    assert (entry["outcome"], entry["address"]) == ("connected", f"127.0.0.1:{port}")
    assert entry["elapsed_ms"] < 3000
    outcomes = [(e["index"], e["outcome"]) for e in raced.events() if e["event"] == "attempt"]
    assert outcomes == [(1, "connected"), (0, "cancelled")]
    # Without the race the dead candidate costs its whole --timeout first.
    sequential = ns.run("check", f"slow.test:{port}", "--timeout", "1", "--json")
    assert sequential.status == 0, sequential.err
    outcomes = [(e["index"], e["outcome"]) for e in sequential.events()
                if e["event"] == "attempt"]
    assert outcomes == [(0, "timeout"), (1, "connected")]


def test_check_json_imports_no_rich_and_without_tls_no_ssl(peers: Peers) -> None:
    imported = imported_by("check", f"127.0.0.1:{peers.open()}", "--json")
    assert "netprobe.check.runner" in imported
    assert not {name for name in imported if name.split(".")[0] in ("rich", "dns")}
    assert not {name for name in imported
                if name.split(".")[0] in ("ssl", "_ssl", "cryptography")}


# --- tls:// ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_tls_targets_handshake_verify_and_fail_with_7(pki: Pki, peers: Peers) -> None:
    plain = peers.open()  # a TCP listener that never speaks TLS: the handshake times out
    with socat_echo(pki.path("valid")) as good, socat_echo(pki.path("expired")) as expired:
        targets = [f"tls://localhost:{good}", f"tls://127.0.0.1:{expired}",
                   f"tls://127.0.0.1:{plain}", f"127.0.0.1:{good}"]
        result = run("check", *targets, "-4", "--ca", str(pki.root / "ca.pem"), "--timeout",
                     "2", "--json")
        insecure = run("check", f"tls://127.0.0.1:{expired}", "--insecure", "--json")
    assert result.status == 7, result.err
    assert verdicts(result) == [(targets[0], True, "connected", 0),
                                (targets[1], False, "tls_failed", 7),
                                (targets[2], False, "tls_failed", 5),
                                (targets[3], True, "connected", 0)]
    entries = summary(result)["targets"]
    assert entries[1]["errno"] == "X509_V_ERR_CERT_HAS_EXPIRED"
    tls = {e["target"]: e for e in result.events() if e["event"] == "tls"}
    assert tls[targets[0]]["verified"] is True and tls[targets[0]]["sni"] == "localhost"
    assert targets[3] not in tls  # a plain target gets no handshake
    assert insecure.status == 0, insecure.err
