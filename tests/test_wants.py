"""A trace's ``wants``: the core builds only the events someone reads, and makes the same calls.

Issue 21's speed target: ``connect --count`` reported some fifteen events a
probe that nobody showed.  The core now asks the trace (``events.wants_of``)
before building the calls of --syscalls, the steps and the race's summary;
the probes' watcher says what it reads.  These tests hold the three halves
of that to account: what is not wanted is not built, what is wanted still
is (and a plain callable wants everything), and the kernel sees the very
same calls whether they are reported or not (strace is the oracle).
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netprobe.addrinfo import Candidate
from netprobe.connect import Plan, connect_sequential
from netprobe.connect.attempts import Reporter, candidate_fields
from netprobe.events import ENDPOINTS, Event, everything, wants_of
from netprobe.probes.probe import Watcher
from netprobe.render import Settings
from netprobe.render.jsonl import JsonLines
from netprobe.render.jsontext import encode as _encode
from netprobe.syscalls import sys_close, sys_socket
from tests.helpers import NETPROBE, child_env, run
from tests.strace_oracle import STRACE


class Choosy:
    """A recorder that wants only some events (as a renderer says with ``wants``)."""

    def __init__(self, *refused: str) -> None:
        self.refused = set(refused)
        self.events: list[tuple[str, Event]] = []

    def wants(self, event: str) -> bool:
        return event not in self.refused

    def __call__(self, event: str, fields: Event) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [event for event, _ in self.events]


def plain(event: str, fields: Event) -> None:
    """A trace with no ``wants`` at all."""


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback listener that accepts in the kernel; its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def tcp(port: int, index: int = 0) -> Candidate:
    return Candidate(index, socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                     "127.0.0.1", port)


# --- the question ---------------------------------------------------------------------


def test_a_plain_callable_wants_everything() -> None:
    assert wants_of(plain) is everything
    assert wants_of(plain)("syscall") and wants_of(plain)("anything at all")
    choosy = Choosy("syscall")
    assert not wants_of(choosy)("syscall") and wants_of(choosy)("step")


# --- the core builds what is wanted ---------------------------------------------------


def test_unwanted_calls_are_made_but_not_reported(listener: int) -> None:
    quiet, loud = Choosy("syscall"), Choosy()
    for trace in (quiet, loud):
        connected = connect_sequential([tcp(listener)], Plan(timeout=5.0), "here", trace=trace)
        sys_close(trace, connected.sock)
        assert connected.sock.fileno() == -1
    assert "syscall" not in quiet.names()
    calls = [fields["call"] for event, fields in loud.events if event == "syscall"]
    # Non-blocking from socket(); the second connect() is the verdict on loopback.
    assert calls == ["socket", "connect", "connect", "getsockname", "getpeername", "close"]
    # Everything else is the same, event for event.
    assert quiet.names() == [name for name in loud.names() if name != "syscall"]


def test_an_unreported_socket_call_still_raises_as_python_does() -> None:
    quiet = Choosy("syscall")
    with pytest.raises(OSError):
        sys_socket(quiet, 12345, socket.SOCK_STREAM, 0)
    assert quiet.events == []


def test_unwanted_steps_and_summary_are_not_built(listener: int) -> None:
    quiet = Choosy("step", "attempts_done")
    connected = connect_sequential([tcp(listener)], Plan(timeout=5.0), "here", trace=quiet)
    sys_close(quiet, connected.sock)
    assert not {"step", "attempts_done"} & set(quiet.names())
    assert {"attempt_started", "attempt", "connected"} <= set(quiet.names())
    # The attempt still knows its last step (the attempt event says it).
    assert connected.attempt.step == "connect"
    assert [f["step"] for e, f in quiet.events if e == "attempt"] == ["connect"]


def test_a_lazy_step_detail_is_made_only_when_shown(listener: int) -> None:
    made: list[str] = []

    def detail() -> str:
        made.append("made")
        return "the detail"

    for trace, expected in ((Choosy("step"), []), (Choosy(), ["made"])):
        made.clear()
        reporter = Reporter(trace, lambda: 0.0)
        attempt = reporter.begin(tcp(listener), Plan(timeout=1.0))
        reporter.step(attempt, "connect", detail)
        assert made == expected and attempt.step == "connect"
    assert [f["detail"] for e, f in trace.events if e == "step"] == ["the detail"]


def test_a_candidates_json_is_made_once() -> None:
    first, again = tcp(80), tcp(80)
    assert first is not again
    assert candidate_fields(first) is candidate_fields(again)
    assert candidate_fields(first) == first.to_json()


# --- the watcher says what it reads ---------------------------------------------------


def renderer(syscalls: bool = False) -> JsonLines:
    return JsonLines(stream=io.StringIO(), syscalls=syscalls)


@pytest.mark.parametrize(("verbose", "syscalls", "wanted", "unwanted"), [
    (0, False, {"attempt_started", "attempt", "connected", "tls", "probe", "resolved"},
     {"syscall", "step", "attempts_done", "closed", "candidate", ENDPOINTS}),
    (1, False, {"syscall", "step", "attempt"}, {"attempts_done", "closed", ENDPOINTS}),
    (0, True, {"syscall", "attempt"}, {"step", "attempts_done", "closed", ENDPOINTS}),
    # -vv passes everything on: the renderer decides (JSON shows no calls without --syscalls).
    (2, False, {"step", "attempts_done", "closed", "syscall", ENDPOINTS}, set()),
])
def test_what_the_watcher_wants(verbose: int, syscalls: bool, wanted: set[str],
                                unwanted: set[str]) -> None:
    watcher = Watcher(renderer(syscalls), verbose=verbose, syscalls=syscalls)
    assert {e for e in wanted if not wants_of(watcher)(e)} == set()
    assert {e for e in unwanted if wants_of(watcher)(e)} == set()


def test_with_everything_the_watcher_asks_the_renderer() -> None:
    watcher = Watcher(renderer(syscalls=False), verbose=2)
    # It observes the calls itself at -v and above, shown or not...
    assert wants_of(watcher)("syscall")
    # ...and passes on what the renderer shows.
    quiet = Choosy("summary")
    assert not wants_of(Watcher(quiet, verbose=2))("summary")
    assert wants_of(Watcher(quiet, verbose=2))("closed")


def test_the_renderers_say_what_they_show() -> None:
    assert not renderer().wants("syscall") and renderer(syscalls=True).wants("syscall")
    settings = Settings()
    settings.syscalls = True
    from netprobe.render.probes import ProbesHuman

    assert ProbesHuman(settings).wants("syscall")
    settings.quiet = True
    assert not ProbesHuman(settings).wants("syscall")


# --- JSON Lines: the encoder made once writes what json would -------------------------


@pytest.mark.parametrize("record", [
    {"event": "probe", "t": 0.046246, "seq": 1, "candidate": tcp(443).to_json(),
     "outcome": "ok", "errno": None, "message": "", "elapsed_ms": 0.052, "tcp_info": None},
    {"event": "data", "text": "h\u00e9llo \u2603 \"quoted\"\n\ttab \\ back", "n": [1, 2.5, -0.0],
     "nested": {"a": [{"b": True, "c": False}], "e": 1e-07, "big": 10**20}},
    {"event": "error", "message": "name \udcff not UTF-8", "empty": {}, "list": []},
])
def test_the_encoder_writes_what_json_writes(record: dict[str, Any]) -> None:
    assert _encode(record) == json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def test_a_surrogate_is_still_escaped() -> None:
    stream = io.StringIO()
    JsonLines(stream=stream)("error", {"message": "bad \udcff name"})
    line = stream.getvalue()
    assert "\\udcff" in line and line.isascii()
    assert json.loads(line)["message"] == "bad \udcff name"


# --- the kernel sees the same calls, reported or not ----------------------------------

#: The sockets interface calls of a probe (write is not one: the output differs).
_CALLS = ("socket", "connect", "ioctl", "poll", "getsockopt", "setsockopt", "getsockname",
          "getpeername", "bind", "shutdown", "close")
_STRACE_LINE = re.compile(r"^(?:\d+\s+)?(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<result>-?\d+)")


def kernel_calls(text: str) -> list[str]:
    """The calls strace saw on AF_INET sockets, in order, local ports and timings masked."""
    sockets: set[int] = set()
    calls: list[str] = []
    for line in text.splitlines():
        match = _STRACE_LINE.match(line)
        if not match:
            continue
        call, args, result = match["call"], match["args"], int(match["result"])
        if call == "socket":
            if not args.startswith("AF_INET,") or result < 0:
                continue
            sockets.add(result)
        else:
            fd = re.match(r"\[?\{?(?:fd=)?(\d+)", args)
            if fd is None or int(fd[1]) not in sockets:
                continue
            if call == "close":
                sockets.discard(int(fd[1]))
        shown = line.split(None, 1)[1] if line[:1].isdigit() and " " in line else line
        if call == "getsockname":
            shown = re.sub(r"htons\(\d+\)", "htons(LOCAL)", shown)
        if call == "poll":
            # What is left of the attempt's time, in ms: 10000, or 9999 after a slow step.
            shown = re.sub(r"\], 1, \d+\)", "], 1, LEFT)", shown)
        if "TCP_INFO" in shown:
            # The kernel's measurements (rto, rtt) differ from run to run.
            shown = re.sub(r'TCP_INFO, ".*?"(\.\.\.)?,', "TCP_INFO, MEASURED,", shown)
        calls.append(shown)
    return calls


def strace_run(tmp_path: Path, name: str, args: list[str]) -> list[str]:
    assert STRACE is not None, "strace is one of the tools the tests need (.ci/run installs it)"
    log = tmp_path / f"{name}.strace"
    proc = subprocess.run(
        [str(STRACE), "-f", "-qq", "-e", "trace=" + ",".join(_CALLS), "-o", str(log),
         *NETPROBE, *args], capture_output=True, timeout=60, env=child_env(),
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode()
    return kernel_calls(log.read_text())


@pytest.mark.parametrize("extra", [[], ["-v"], ["--send", "hi\n", "--expect", "hi"]])
def test_reported_or_not_the_kernel_sees_the_same_calls(tmp_path: Path, extra: list[str]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = str(server.getsockname()[1])
        if "--send" in extra:
            # An echo for the exchange, in a thread of its own.
            def echo() -> None:
                for _ in range(6):
                    conn, _ = server.accept()
                    with conn:
                        while data := conn.recv(100):
                            conn.sendall(data)

            threading.Thread(target=echo, daemon=True).start()
        args = ["connect", "127.0.0.1", port, "--count", "3", "--interval", "0", "--json", *extra]
        quiet = strace_run(tmp_path, "quiet", args)
        shown = strace_run(tmp_path, "shown", [*args, "--syscalls"])
    assert quiet == shown
    # Two connect() a probe: the second is the verdict (the loopback handshake is
    # done), so a plain probe makes no ioctl, poll or getsockopt.
    assert sum(line.startswith("connect(") for line in quiet) == 6
    if not extra:
        assert not [line for line in quiet
                    if line.startswith(("ioctl(", "poll(", "getsockopt("))], quiet
    # A probe's line shows neither end's address: neither is asked of the kernel
    # (with -v, Python's check of the descriptor TCP_INFO is read through is one).
    assert not [line for line in quiet if line.startswith("getpeername(")]
    assert sum(line.startswith("getsockname(") for line in quiet) == (3 if "-v" in extra else 0)


def test_with_vv_a_probe_asks_for_both_ends(tmp_path: Path) -> None:
    """-vv shows each probe's attempt and connection events, and their local and peer."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = str(server.getsockname()[1])
        calls = strace_run(tmp_path, "vv", ["connect", "127.0.0.1", port, "--count", "2",
                                             "--interval", "0", "--json", "-vv"])
        lines = run("connect", "127.0.0.1", port, "--count", "1", "--json", "-vv").out
    # Per probe: the connection's local end, and the descriptor check of TCP_INFO's read.
    assert sum(line.startswith("getsockname(") for line in calls) == 4
    assert sum(line.startswith("getpeername(") for line in calls) == 2
    connected = [json.loads(line) for line in lines.splitlines()
                 if json.loads(line)["event"] == "connected"]
    assert connected[0]["local"]["address"] == "127.0.0.1"
    assert connected[0]["peer"] == {"address": "127.0.0.1", "port": int(port)}

