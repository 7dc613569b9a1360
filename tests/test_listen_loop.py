"""Which event loop ``listen`` serves on, and the per-client path at ``-q``.

uvloop is a dependency on CPython for Linux and macOS (pyproject.toml), so a
plain install serves on it; ``NETPROBE_LOOP=asyncio`` forces the standard
loop.  ``-v`` says which loop runs (the ``serving`` line).  Loopback only.
"""

from __future__ import annotations

import platform
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

import pytest

from netprobe.addrinfo import Hints
from netprobe.render.jsonl import JsonLines
from netprobe.serve import ServeConfig, Server, StopSignals
from netprobe.serve.listenfd import Listener, open_listeners
from tests.helpers import NETPROBE, Recorder, child_env, free_port, wait_for_port

UVLOOP_IS_A_DEPENDENCY = (sys.platform in ("linux", "darwin")
                          and platform.python_implementation() == "CPython")


class HumanServer:
    """``netprobe [GLOBAL] listen ARGS`` with its stderr read line by line."""

    def __init__(self, global_args: list[str], args: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([*NETPROBE, *global_args, "listen", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=child_env(env))
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stderr is not None
        self.reader = threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True)
        self.reader.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.lines.put(line.decode("utf-8", "replace"))
        self.lines.put(None)

    def line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no stderr line matching {pattern!r}; saw {self.seen!r}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        status = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return status, "".join(self.seen)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def started() -> Iterator[list[HumanServer]]:
    servers: list[HumanServer] = []
    yield servers
    for server in servers:
        server.kill()


def echo_once(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(("env", "expected"), [
    ({"NETPROBE_LOOP": "asyncio"}, "asyncio"),
    ({}, "uvloop" if UVLOOP_IS_A_DEPENDENCY else "asyncio"),
], ids=["NETPROBE_LOOP=asyncio", "default"])
def test_verbose_says_which_loop_serves(started: list[HumanServer], env: dict[str, str],
                                        expected: str) -> None:
    server = HumanServer(["-v"], ["0", "--bind", "127.0.0.1", "--echo", "--count", "2"],
                         env=env)
    started.append(server)
    port = int(server.line(r"listening on 127\.0\.0\.1:(\d+) tcp").group(1))
    loop = server.line(r"serving \(echo\) on the (\S+) event loop").group(1)
    assert loop == expected
    assert echo_once(port, b"hello\n") == b"hello\n"
    assert echo_once(port, bytes(range(256)) * 400) == bytes(range(256)) * 400
    status, err = server.finish()
    assert status == 0, err
    assert "stopped (count): 2 clients" in err
    assert "client 1 127.0.0.1:" in err and "client 2 127.0.0.1:" in err


@pytest.mark.parametrize("env", [{"NETPROBE_LOOP": "asyncio"}, {}], ids=["asyncio", "default"])
def test_quiet_server_shows_no_client_lines_and_still_serves(started: list[HumanServer],
                                                             env: dict[str, str]) -> None:
    port = free_port()
    server = HumanServer(["-q"], [str(port), "--bind", "127.0.0.1", "--echo", "--count", "4"],
                         env=env)
    started.append(server)
    wait_for_port(port)  # that probe is client 1
    for n in range(3):
        payload = f"client {n}\n".encode() * 1000
        assert echo_once(port, payload) == payload
    status, err = server.finish()
    assert (status, err) == (0, "")


# --- the core: per-client events only when the renderer shows them --------------------------


class Quiet(Recorder):
    """A recorder that, like ``listen -q``'s renderer, shows no per-client events."""

    def wants(self, event: str) -> bool:
        return event not in ("accepted", "closed")


def serve_two_clients(trace: Recorder | JsonLines) -> list[bytes]:
    hints = Hints(socktype=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    listeners: list[Listener] = open_listeners("127.0.0.1", "0", hints, backlog=16, trace=trace)
    answers: list[bytes] = []

    def clients() -> None:
        for payload in (b"one", b"two" * 50000):
            answers.append(echo_once(listeners[0].port, payload))

    worker = threading.Thread(target=clients)
    worker.start()
    try:
        with StopSignals() as signals:
            Server(listeners, ServeConfig(echo=True, count=2), trace=trace,
                   signals=signals).run()
    finally:
        for listener in listeners:
            listener.sock.close()
    worker.join(timeout=30)
    return answers


def test_core_builds_no_client_events_nobody_shows() -> None:
    trace = Quiet()
    assert serve_two_clients(trace) == [b"one", b"two" * 50000]
    assert trace.named("accepted") == trace.named("closed") == []
    (stopped,) = trace.named("stopped")
    assert stopped["clients"] == 2 and stopped["bytes_in"] == stopped["bytes_out"] == 150003


def test_core_gives_every_event_to_a_plain_callable() -> None:
    trace = Recorder()
    assert serve_two_clients(trace) == [b"one", b"two" * 50000]
    assert [c["client"]["id"] for c in trace.named("accepted")] == [1, 2]
    assert [(c["bytes_in"], c["bytes_out"]) for c in trace.named("closed")] == [
        (3, 3), (150000, 150000)]


def test_json_renderer_wants_every_event() -> None:
    assert JsonLines().wants("accepted") and JsonLines().wants("closed")
