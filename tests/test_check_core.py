"""The ``check`` core directly: target parsing (pure) and the runner over real loopback sockets."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.check.runner import Config, Runner, probe
from netprobe.check.targets import Scheme, Target, gather, parse_target
from netprobe.cli import status_for
from netprobe.errors import InvalidInput
from tests.helpers import Recorder

pytestmark = pytest.mark.timeout(60)


# --- targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "scheme", "host", "port"), [
    ("db:5432", Scheme.TCP, "db", "5432"),
    ("tcp://db:5432", Scheme.TCP, "db", "5432"),
    ("TCP://db:5432", Scheme.TCP, "db", "5432"),
    ("udp://192.0.2.1:53", Scheme.UDP, "192.0.2.1", "53"),
    ("dns://a.test", Scheme.DNS, "a.test", None),
    ("tls://api.test:443", Scheme.TLS, "api.test", "443"),
    ("[::1]:80", Scheme.TCP, "::1", "80"),
    ("udp://[2001:db8::1]:53", Scheme.UDP, "2001:db8::1", "53"),
    ("[fe80::1%lo]:22", Scheme.TCP, "fe80::1%lo", "22"),
    ("cache:redis", Scheme.TCP, "cache", "redis"),
    ("  spaced.test:1  ", Scheme.TCP, "spaced.test", "1"),
])
def test_target_forms(text: str, scheme: Scheme, host: str, port: str | None) -> None:
    target = parse_target(text, "argument 1")
    assert (target.scheme, target.host, target.port) == (scheme, host, port)
    assert target.text == text.strip()


@pytest.mark.parametrize(("text", "why"), [
    ("nohost", "missing :PORT"),
    ("h:99999", "port 99999 is outside 1-65535"),
    ("h:0", "port 0 is outside 1-65535"),
    ("[::1:80", "unbalanced '['"),
    ("ftp://h:1", "unknown scheme 'ftp://'"),
    ("", "empty target"),
    ("   ", "empty target"),
    ("::1:80", "an IPv6 address goes in brackets"),
    ("[nothex]:80", "[nothex] is not an IPv6 address"),
    (":80", "missing host"),
    ("h:", "missing port after ':'"),
    ("h:-1", "neither a port 1-65535 nor a service name"),
    ("dns://", "dns:// needs a NAME"),
    ("dns://a.test/x", "name only"),
    ("a b:1", "no spaces"),
    ("a\x1bb:80", "no control characters"),
    ("x" * 64 + ".test:1", "longer than 63"),
])
def test_bad_targets_are_usage_errors_naming_target_and_origin(text: str, why: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_target(text, "argument 4")
    assert caught.value.stage == "check"
    assert caught.value.message.startswith("argument 4: ")
    assert why in caught.value.message
    assert status_for(caught.value) == 2


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        target = parse_target(text, "argument 1")
    except InvalidInput:
        return
    assert target.scheme in Scheme
    assert target.host and (target.port is None) == (target.scheme is Scheme.DNS)


def test_gather_reads_arguments_then_files_with_comments(tmp_path: Path) -> None:
    listing = tmp_path / "t.txt"
    listing.write_text("# header\n\na:1   # trailing comment\n  dns://b.test\n")
    stdin = io.StringIO("c:2\n")
    targets = gather(["z:9"], [str(listing), "-"], stdin=stdin)
    assert [(t.text, t.origin) for t in targets] == [
        ("z:9", "argument 1"), ("a:1", f"{listing} line 3"), ("dns://b.test", f"{listing} line 4"),
        ("c:2", "stdin line 1")]
    with pytest.raises(InvalidInput, match="no targets"):
        gather([], [])


# --- the runner -----------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def target(text: str) -> Target:
    return parse_target(text, "argument 1")


def test_probe_uses_connects_core_and_reports_connect_events(listener: int) -> None:
    recorder = Recorder()
    verdict = probe(target(f"127.0.0.1:{listener}"), Config(timeout=2), trace=recorder)
    assert (verdict.accepted, verdict.outcome, verdict.address) == (
        True, "connected", f"127.0.0.1:{listener}")
    assert [e for e, _ in recorder.events if e in ("resolved", "attempt", "connected")] == [
        "resolved", "attempt", "connected"]


def test_probe_failure_is_a_verdict_not_an_exception(closed_port: int) -> None:
    verdict = probe(target(f"127.0.0.1:{closed_port}"), Config(timeout=2), trace=Recorder())
    assert (verdict.accepted, verdict.outcome, verdict.errno) == (False, "refused",
                                                                  "ECONNREFUSED")
    assert verdict.error is not None and status_for(verdict.error) == 4


def test_runner_keeps_the_order_given_and_tags_every_event(listener: int,
                                                          closed_port: int) -> None:
    recorder = Recorder()
    targets = [target(f"127.0.0.1:{closed_port}"), target(f"127.0.0.1:{listener}"),
               target("dns://localhost")]
    results = Runner(targets, Config(timeout=2, parallel=2), trace=recorder,
                     status_of=status_for).run()
    assert [(r.target.text, r.ok, r.outcome) for r in results] == [
        (targets[0].text, False, "refused"), (targets[1].text, True, "connected"),
        (targets[2].text, True, "resolved")]
    assert all("target" in fields for event, fields in recorder.events
               if event not in ("check_started", "summary"))
    [summary] = recorder.named("summary")
    assert (summary["total"], summary["ok"], summary["failed"]) == (3, 2, 1)
    assert recorder.events[-1][0] == "summary"


def test_wait_rounds_do_not_hold_a_worker(closed_port: int, listener: int) -> None:
    # One worker, one target that keeps failing with --wait: the other target
    # is still checked at once instead of after the deadline.
    recorder = Recorder()
    targets = [target(f"127.0.0.1:{closed_port}"), target(f"127.0.0.1:{listener}")]
    start = time.monotonic()
    seen: dict[str, float] = {}
    lock = threading.Lock()

    def trace(event: str, fields: dict[str, object]) -> None:
        recorder(event, fields)
        if event == "target_done" and fields["ok"]:
            with lock:
                seen[str(fields["target"])] = time.monotonic() - start

    results = Runner(targets, Config(timeout=2, parallel=1, wait=1.0, interval=0.2),
                     trace=trace, status_of=status_for).run()
    assert [r.ok for r in results] == [False, True]
    assert seen[targets[1].text] < 0.5
    assert results[0].rounds >= 3
    assert status_for(results[0].error) == 5  # type: ignore[arg-type]
