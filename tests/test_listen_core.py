"""The listen core called directly: open_listeners' steps and events, the Server's accounting."""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netprobe.addrinfo import Hints
from netprobe.errors import AllCandidatesFailed, errno_name
from netprobe.serve import ServeConfig, Server, StopSignals
from netprobe.serve.listenfd import Listener, open_listeners, with_port
from tests.helpers import Recorder

PASSIVE = socket.AI_PASSIVE | socket.AI_ADDRCONFIG
STREAM = Hints(socktype=socket.SOCK_STREAM, flags=PASSIVE)
DGRAM = Hints(socktype=socket.SOCK_DGRAM, flags=PASSIVE)


@pytest.fixture
def opened() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.sock.close()


def test_port_0_gives_one_port_for_every_candidate(opened: list[Listener]) -> None:
    trace = Recorder()
    opened += open_listeners(None, "0", STREAM, backlog=16, trace=trace)
    assert len(opened) == 2
    assert len({lst.port for lst in opened}) == 1 and opened[0].port != 0
    for lst in opened:
        assert lst.sock.getsockname()[1] == lst.port
        assert lst.sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert lst.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert not lst.sock.getblocking()
    six = next(lst for lst in opened if lst.family == socket.AF_INET6)
    assert six.v6only is True
    names = [e for e, _ in trace.events]
    assert names == ["resolving", "candidate", "candidate", "resolved", "bind", "bind",
                     "listening"]
    bind = trace.named("bind")[1]
    assert bind["candidate"]["port"] == opened[0].port  # the port actually bound
    assert [s["outcome"] for s in bind["steps"]] == ["ok"] * 5
    (listening,) = trace.named("listening")
    assert listening["sockets"] == [lst.to_json() for lst in opened]
    cap = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert listening["backlog"] == min(16, cap)
    assert "somaxconn" not in listening or listening["somaxconn"] == cap < 16


def test_eaddrinuse_on_one_candidate_others_still_bind(opened: list[Listener]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        trace = Recorder()
        try:
            opened += open_listeners(None, str(port), STREAM, backlog=16, trace=trace)
        except AllCandidatesFailed:
            pytest.fail("the IPv6 candidate should have bound")
    assert [lst.family for lst in opened] == [socket.AF_INET6]
    failed = trace.named("bind")[0]
    assert (failed["step"], failed["outcome"], failed["errno"]) == ("bind", "error", "EADDRINUSE")
    assert failed["steps"][-1] == {"step": "bind", "outcome": "error", "errno": "EADDRINUSE",
                                   "message": os.strerror(errno.EADDRINUSE)}


def _hold_both() -> tuple[socket.socket, socket.socket]:
    """Listening sockets on 0.0.0.0:P and [::]:P (V6ONLY) for one free P."""
    for _ in range(50):
        four, six = socket.socket(), socket.socket(socket.AF_INET6)
        six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        four.bind(("0.0.0.0", 0))
        try:
            six.bind(("::", four.getsockname()[1]))
        except OSError:  # taken on IPv6 by someone else: another port
            four.close()
            six.close()
            continue
        four.listen()
        six.listen()
        return four, six
    raise AssertionError("no port free on both families")


def test_every_candidate_held_raises_all_candidates_failed() -> None:
    four, six = _hold_both()
    with four, six:
        trace = Recorder()
        with pytest.raises(AllCandidatesFailed) as failure:
            open_listeners(None, str(four.getsockname()[1]), STREAM, backlog=16, trace=trace)
    assert failure.value.code == "EADDRINUSE" and failure.value.stage == "bind"
    assert len(trace.named("bind")) == 2 and not trace.named("listening")


def test_first_stops_after_one(opened: list[Listener]) -> None:
    trace = Recorder()
    opened += open_listeners(None, "0", STREAM, backlog=16, first=True, trace=trace)
    assert len(opened) == 1
    assert len(trace.named("bind")) == 1
    assert trace.named("bind_skipped")[0]["reason"] == "--first"


def test_udp_binds_without_listen(opened: list[Listener]) -> None:
    trace = Recorder()
    opened += open_listeners("127.0.0.1", "0", DGRAM, backlog=16, trace=trace)
    (bind,) = trace.named("bind")
    assert [s["step"] for s in bind["steps"]] == ["socket", "setsockopt", "bind"]
    assert bind["outcome"] == "listening" and bind["step"] == "bind"
    assert opened[0].to_json()["socktype"] == "SOCK_DGRAM"


def test_errno_name_names_the_errno_or_none() -> None:
    assert errno_name(OSError(errno.EACCES, "x").errno) == "EACCES"
    assert errno_name(OSError("no errno").errno) is None


def test_with_port_moves_only_the_port() -> None:
    from netprobe.resolver import getaddrinfo

    (candidate,) = getaddrinfo("127.0.0.1", "0", STREAM, trace=Recorder()).candidates
    moved = with_port(candidate, 8080)
    assert moved.port == 8080 and moved.address == "127.0.0.1" and candidate.port == 0
    assert moved.sockaddr == ("127.0.0.1", 8080)


@pytest.mark.parametrize("loop", ["default", "asyncio"])
def test_server_counts_and_stops(opened: list[Listener], loop: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if loop == "asyncio":
        monkeypatch.setenv("NETPROBE_LOOP", "asyncio")
    trace = Recorder()
    opened += open_listeners("127.0.0.1", "0", STREAM, backlog=16, trace=trace)
    port = opened[0].port
    answers: list[bytes] = []

    def clients() -> None:
        for payload in (b"one", b"two" * 100000):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                answers.append(b"".join(chunks))

    worker = threading.Thread(target=clients)
    worker.start()
    with StopSignals() as signals:
        Server(opened, ServeConfig(echo=True, count=2), trace=trace, signals=signals).run()
    worker.join(timeout=30)
    assert answers == [b"one", b"two" * 100000]
    (stopped,) = trace.named("stopped")
    assert stopped["reason"] == "count" and stopped["clients"] == 2
    assert stopped["bytes_in"] == stopped["bytes_out"] == 3 + 300000
    (serving,) = trace.named("serving")
    assert serving["loop"] in ("uvloop", "asyncio")
    if loop == "asyncio":
        assert serving["loop"] == "asyncio"


def test_stop_signal_before_the_loop_runs(opened: list[Listener]) -> None:
    trace = Recorder()
    opened += open_listeners("127.0.0.1", "0", STREAM, backlog=16, trace=trace)
    with StopSignals() as signals:
        os.kill(os.getpid(), 15)  # arrives before Server.run: recorded, not fatal
        assert signals.caught == ["SIGTERM"]
        Server(opened, ServeConfig(echo=True), trace=trace, signals=signals).run()
    stopped: Any = trace.named("stopped")[0]
    assert stopped["reason"] == "SIGTERM" and stopped["clients"] == 0


def test_ping_pong_clients_are_never_paused_to_coalesce(opened: list[Listener]) -> None:
    """Only a client that pipelines small writes is paused; one waiting for each echo is not,
    however fast its round trips (regression: a time threshold alone paused it)."""
    trace = Recorder()
    opened += open_listeners("127.0.0.1", "0", STREAM, backlog=16, trace=trace)
    port = opened[0].port

    def ping_pong() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for n in range(3000):
                line = b"%06d\n" % n
                sock.sendall(line)
                got = b""
                while len(got) < len(line):
                    got += sock.recv(64)
                assert got == line

    worker = threading.Thread(target=ping_pong)
    worker.start()
    with StopSignals() as signals:
        Server(opened, ServeConfig(echo=True, count=1), trace=trace, signals=signals).run()
    worker.join(timeout=30)
    assert trace.named("stopped")[0]["bytes_in"] == 3000 * 7
    assert trace.named("coalescing") == []
