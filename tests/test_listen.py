"""``netprobe listen`` as users run it: a subprocess, real sockets, socat and ncat as peers.

Every server is started with ``--json`` (or a human variant reading stderr)
and the tests wait for its ``listening`` event instead of sleeping.  Loopback
only.  The servers run on uvloop when it is installed; the tests that stress
the serving core run on both loops (NETPROBE_LOOP=asyncio forces the plain one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.helpers import NETPROBE, Namespace, child_env, free_port, run

LOOPS = ["default", "asyncio"]
PUBLISHED = {"resolved", "bind", "listening", "accepted", "data", "closed", "stopped", "error"}


def _loop_env(loop: str) -> dict[str, str]:
    return {"NETPROBE_LOOP": "asyncio"} if loop == "asyncio" else {}


class Server:
    """``netprobe listen ARGS`` in the background; its stdout/stderr read by threads."""

    def __init__(self, *args: str, json_mode: bool = True, env: dict[str, str] | None = None,
                 prefix: tuple[str, ...] = ()) -> None:
        argv = [*prefix, *NETPROBE, "listen", *args] + (["--json"] if json_mode else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=child_env(env))
        self.json_mode = json_mode
        self.out_lines: queue.Queue[bytes | None] = queue.Queue()
        self.err_lines: queue.Queue[bytes | None] = queue.Queue()
        self.out_chunks: list[bytes] = []
        self.err_chunks: list[bytes] = []
        self.events: list[dict[str, Any]] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out_lines,
                                                      self.out_chunks), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err_lines,
                                                      self.err_chunks), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.sockets: list[dict[str, Any]] = []
        self.port = 0

    @staticmethod
    def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None], chunks: list[bytes]) -> None:
        for line in iter(stream.readline, b""):
            chunks.append(line)
            lines.put(line)
        lines.put(None)

    def event(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """The next event called ``name`` (earlier ones are kept in self.events)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name!r} event within {timeout} s; "
                                     f"stderr: {self.stderr()!r}")
            try:
                line = self.out_lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"server ended before {name!r}; stderr: {self.stderr()!r}")
            record = json.loads(line)
            self.events.append(record)
            if record["event"] == name:
                return record

    def listening(self, timeout: float = 30) -> dict[str, Any]:
        record = self.event("listening", timeout)
        self.sockets = record["sockets"]
        self.port = self.sockets[0]["port"]
        return record

    def err_line(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err_lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if line is None:
                break
            if needle in line.decode():
                return line.decode()
        raise AssertionError(f"no stderr line with {needle!r}; stderr: {self.stderr()!r}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        status = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        if self.json_mode:
            while True:
                line = self.out_lines.get_nowait() if not self.out_lines.empty() else None
                if line is None:
                    break
                self.events.append(json.loads(line))
        return status

    def stdout(self) -> bytes:
        return b"".join(self.out_chunks)

    def stderr(self) -> str:
        return b"".join(self.err_chunks).decode("utf-8", "replace")

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    def status_kib(self, field: str) -> int:
        """VmRSS / VmHWM of the server process, in KiB (from /proc/PID/status)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.kill()


def start(servers: list[Server], *args: str, **kwargs: Any) -> Server:
    server = Server(*args, **kwargs)
    servers.append(server)
    return server


def echo_once(host: str, port: int, payload: bytes, timeout: float = 20) -> bytes:
    """Send payload, half-close, read until the server closes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def peer(argv: list[str], data: bytes, timeout: float = 20) -> bytes:
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def hold_port(port: int, addresses: list[str]) -> subprocess.Popen[bytes]:
    """Another process listening on ``port`` at each address (IPv6 ones V6ONLY)."""
    code = (
        "import socket,sys,time\n"
        "held=[]\n"
        f"for a in {addresses!r}:\n"
        "    f=socket.AF_INET6 if ':' in a else socket.AF_INET\n"
        "    s=socket.socket(f)\n"
        "    if f==socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\n"
        f"    s.bind((a,{port})); s.listen(); held.append(s)\n"
        "print('held',flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen(["python3", "-c", code], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"held"
    return holder


def free_dual_port() -> int:
    """A port free on both 0.0.0.0 and [::] right now."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(("::", port))
            with socket.socket(socket.AF_INET) as probe4:
                probe4.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
    raise AssertionError("no port free on both families")


# --- binding ----------------------------------------------------------------------------


def test_dual_stack_one_port_reached_over_ipv4_and_ipv6(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo")
    listening = server.listening()
    families = {s["family"]: s for s in listening["sockets"]}
    assert set(families) == {"AF_INET", "AF_INET6"}
    assert families["AF_INET"]["port"] == families["AF_INET6"]["port"] != 0
    assert families["AF_INET6"]["v6only"] is True
    assert "v6only" not in families["AF_INET"]
    # The default backlog must hold 1000 clients arriving at once (unless the
    # kernel caps it, which the event then says).
    cap = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert listening["backlog"] == min(4096, cap)
    assert listening.get("somaxconn", 4096) == min(4096, cap)
    port = server.port
    binds = server.named("bind")
    assert [b["outcome"] for b in binds] == ["listening", "listening"]
    assert all(b["step"] == "listen" and b["errno"] is None for b in binds)
    six = next(b for b in binds if b["candidate"]["family"] == "AF_INET6")
    steps = [s["step"] for s in six["steps"]]
    assert steps == ["socket", "setsockopt", "setsockopt", "bind", "listen"]
    assert [s.get("option") for s in six["steps"] if s["step"] == "setsockopt"] == [
        "SO_REUSEADDR", "IPV6_V6ONLY"]

    assert peer(["socat", "-", f"TCP4:127.0.0.1:{port}"], b"over ipv4\n") == b"over ipv4\n"
    assert peer(["socat", "-", f"TCP6:[::1]:{port}"], b"over ipv6\n") == b"over ipv6\n"
    assert peer(["ncat", "-6", "::1", str(port)], b"ncat six\n") == b"ncat six\n"
    assert echo_once("127.0.0.1", port, b"python four") == b"python four"
    assert echo_once("::1", port, b"python six") == b"python six"
    assert server.stop() == 0
    addresses = {e["client"]["address"] for e in server.named("accepted")}
    assert addresses == {"127.0.0.1", "::1"}
    stopped = server.named("stopped")[-1]
    assert stopped["clients"] == 5 and stopped["reason"] == "SIGTERM"


def test_port_held_on_ipv4_only_shows_eaddrinuse_and_ipv6_still_listens(
        servers: list[Server]) -> None:
    port = free_dual_port()
    holder = subprocess.Popen(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                               "PIPE"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        server = start(servers, str(port), "--echo")
        listening = server.listening()
        assert [(s["family"], s["port"]) for s in listening["sockets"]] == [("AF_INET6", port)]
        four = next(b for b in server.named("bind") if b["candidate"]["family"] == "AF_INET")
        assert (four["step"], four["outcome"], four["errno"]) == ("bind", "error", "EADDRINUSE")
        assert four["message"] == os.strerror(98)
        six = next(b for b in server.named("bind") if b["candidate"]["family"] == "AF_INET6")
        assert six["outcome"] == "listening"
        time.sleep(0.3)
        assert server.proc.poll() is None, "the server must keep running"
        assert echo_once("::1", port, b"still here") == b"still here"
        assert server.stop() == 0
    finally:
        holder.terminate()
        holder.wait(timeout=10)


def test_port_held_on_ipv4_only_human_trace(servers: list[Server]) -> None:
    port = free_dual_port()
    holder = hold_port(port, ["127.0.0.1"])
    try:
        server = start(servers, str(port), "--echo", json_mode=False)
        server.err_line("listening on [::]")
        assert server.stop() == 0
        err = server.stderr()
        assert "bind EADDRINUSE (Address already in use)" in err
        assert f"#0 0.0.0.0:{port}" in err
        assert "(IPv6 only)" in err
        assert "stopped (SIGTERM)" in err
        assert server.stdout() == b""
    finally:
        holder.kill()
        holder.wait()


def test_port_held_on_every_candidate_exits_4() -> None:
    port = free_dual_port()
    holder = hold_port(port, ["0.0.0.0", "::"])
    try:
        result = run("listen", str(port), "--echo", timeout=30)
        assert result.status == 4, result.err
        assert result.out == ""
        assert result.err.count("\n") >= 1
        last = result.err.strip().splitlines()[-1]
        assert last.startswith(f"netprobe: bind * {port}: EADDRINUSE: ")
        assert "Traceback" not in result.err

        result = run("listen", str(port), "--json", timeout=30)
        assert result.status == 4
        events = result.events()
        binds = [e for e in events if e["event"] == "bind"]
        assert len(binds) == 2 and {b["errno"] for b in binds} == {"EADDRINUSE"}
        assert not [e for e in events if e["event"] == "listening"]
        error = events[-1]
        assert error["event"] == "error" and error["exit"] == 4 and error["code"] == "EADDRINUSE"
    finally:
        holder.kill()
        holder.wait()


def test_first_stops_at_the_first_candidate_that_binds(servers: list[Server]) -> None:
    server = start(servers, "0", "--first", "--echo")
    listening = server.listening()
    assert len(listening["sockets"]) == 1
    (only,) = listening["sockets"]
    assert only["family"] == "AF_INET" and "v6only" not in only
    assert len(server.named("bind")) == 1
    # Without IPV6_V6ONLY a lone IPv6 socket reports what the system gave it.
    assert echo_once("127.0.0.1", server.port, b"first") == b"first"
    assert server.stop() == 0

    six = start(servers, "0", "--first", "-6", "--echo")
    (sock,) = six.listening()["sockets"]
    assert sock["family"] == "AF_INET6" and isinstance(sock["v6only"], bool)
    assert six.stop() == 0


def test_bind_host_and_usage_errors(servers: list[Server]) -> None:
    server = start(servers, "0", "--bind", "127.0.0.1", "--echo")
    assert [s["address"] for s in server.listening()["sockets"]] == ["127.0.0.1"]
    assert echo_once("127.0.0.1", server.port, b"bound") == b"bound"
    assert server.stop() == 0

    for args in (["70000"], ["0", "--socktype", "raw"], ["0", "--backlog", "0"],
                 ["0", "--idle-timeout", "soon"], ["0", "-4", "-6"]):
        result = run("listen", *args, timeout=30)
        assert result.status == 2, (args, result)
        assert "Traceback" not in result.err and result.err.startswith(("netprobe:", "Usage"))


# --- serving -------------------------------------------------------------------------------


async def _echo_client(port: int, host: str, size: int, rng: random.Random) -> tuple[str, str]:
    payload = rng.randbytes(size)
    reader, writer = await asyncio.open_connection(host, port)

    async def send() -> None:
        view = memoryview(payload)
        for offset in range(0, len(view), 65536):
            writer.write(view[offset:offset + 65536])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    digest = hashlib.sha256()
    while chunk := await reader.read(262144):
        digest.update(chunk)
    await sender
    writer.close()
    return hashlib.sha256(payload).hexdigest(), digest.hexdigest()


@pytest.mark.parametrize("loop", LOOPS)
def test_echo_300_concurrent_clients_byte_exact(servers: list[Server], loop: str) -> None:
    server = start(servers, "0", "--echo", env=_loop_env(loop))
    server.listening()
    rng = random.Random(4)
    sizes = [rng.randint(0, 1 << 20) for _ in range(300)]

    async def all_clients() -> list[tuple[str, str]]:
        hosts = ["127.0.0.1", "::1"]
        return await asyncio.wait_for(asyncio.gather(*(
            _echo_client(server.port, hosts[i % 2], size, random.Random(i))
            for i, size in enumerate(sizes))), timeout=120)

    results = asyncio.run(all_clients())
    assert len(results) == 300
    assert all(sent == got for sent, got in results)
    assert server.stop() == 0
    closed = server.named("closed")
    assert len(closed) == 300
    assert sorted(c["bytes_in"] for c in closed) == sorted(sizes)
    assert all(c["bytes_in"] == c["bytes_out"] and c["reason"] == "eof" for c in closed)
    stopped = server.named("stopped")[-1]
    assert stopped["clients"] == 300
    assert stopped["bytes_in"] == stopped["bytes_out"] == sum(sizes)


def _round_trips(port: int, rounds: int, timeout: float) -> float:
    """``rounds`` small echoes on one connection; the slowest one in seconds."""
    slowest = 0.0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for n in range(rounds):
            line = f"ping {n}\n".encode()
            began = time.monotonic()
            sock.sendall(line)
            got = b""
            while len(got) < len(line):
                chunk = sock.recv(4096)
                assert chunk, "closed early"
                got += chunk
            assert got == line
            slowest = max(slowest, time.monotonic() - began)
    return slowest


# The bound for the test below: the server's peak RSS (VmHWM) may grow by at
# most 32 MiB while a client pushes 50 MiB at it without reading.  The design
# bound is HIGH_WATER (256 KiB) + one 256 KiB read for that client; the rest
# of the margin is for the interpreter's allocator on a noisy box.  Buffering
# the 50 MiB would exceed it by far.
RSS_GROWTH_BOUND_KIB = 32 * 1024


@pytest.mark.parametrize("loop", LOOPS)
def test_client_that_never_reads_is_bounded_and_does_not_stall_others(
        servers: list[Server], loop: str) -> None:
    server = start(servers, "0", "--echo", env=_loop_env(loop))
    server.listening()
    # Warm the server up (first connection, first echo) before the baseline.
    assert echo_once("127.0.0.1", server.port, b"warm" * 1000) == b"warm" * 1000
    baseline = server.status_kib("VmRSS")

    total = 50 << 20
    payload = random.Random(50).randbytes(total)
    hog = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    hog.settimeout(2.0)
    sent = 0
    while sent < total:
        try:
            sent += hog.send(payload[sent:sent + (1 << 20)])
        except TimeoutError:
            break  # the server stopped reading from us: backpressure reached the kernel
    assert sent < total, "the server read 50 MiB from a client that never reads its echo"

    # Others are served at once while the hog is stuck.
    slowest = max(_round_trips(server.port, 20, timeout=10) for _ in range(5))
    assert slowest < 2.0
    peak = server.status_kib("VmHWM")
    assert peak - baseline < RSS_GROWTH_BOUND_KIB, (baseline, peak)

    # Now the hog reads: it gets back exactly what it sent, then the rest goes through.
    hog.settimeout(30)
    received = hashlib.sha256()
    got = 0

    def reader() -> None:
        nonlocal got
        while got < total:
            chunk = hog.recv(1 << 20)
            if not chunk:
                break
            received.update(chunk)
            got += len(chunk)

    drain = threading.Thread(target=reader)
    drain.start()
    hog.sendall(payload[sent:])
    hog.shutdown(socket.SHUT_WR)
    drain.join(timeout=60)
    hog.close()
    assert got == total
    assert received.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert server.status_kib("VmHWM") - baseline < RSS_GROWTH_BOUND_KIB
    assert server.stop() == 0


def test_half_close_gets_the_rest_of_its_echo(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo")
    server.listening()
    payload = os.urandom(3 << 20)
    assert echo_once("127.0.0.1", server.port, payload) == payload
    assert server.stop() == 0
    (closed,) = server.named("closed")
    assert closed["bytes_in"] == closed["bytes_out"] == len(payload)
    assert closed["reason"] == "eof"


def test_pipelined_small_writes_are_echoed_exactly(servers: list[Server]) -> None:
    """Many tiny writes back to back (the case the server coalesces by pausing reads)."""
    server = start(servers, "0", "--echo")
    server.listening()
    lines = [f"{n:07d} ".encode() + os.urandom(20).hex().encode() + b"\n" for n in range(30000)]
    expected = b"".join(lines)
    got = bytearray()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def reader() -> None:
            while len(got) < len(expected):
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                got.extend(chunk)

        drain = threading.Thread(target=reader)
        drain.start()
        for line in lines:
            sock.sendall(line)
        drain.join(timeout=60)
    assert bytes(got) == expected
    assert server.stop() == 0


def test_idle_client_is_cut_at_idle_timeout(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo", "--idle-timeout", "600ms")
    server.listening()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as idle, \
            socket.create_connection(("127.0.0.1", server.port), timeout=20) as busy:
        began = time.monotonic()
        # The busy client talks every 200 ms and must outlive the idle one.
        while time.monotonic() - began < 1.5:
            busy.sendall(b"tick")
            assert busy.recv(16) == b"tick"
            time.sleep(0.2)
        idle.settimeout(10)
        assert idle.recv(16) == b""  # cut by the server
        busy.sendall(b"still")
        assert busy.recv(16) == b"still"
    assert server.stop() == 0
    reasons = {c["client"]["id"]: c["reason"] for c in server.named("closed")}
    assert reasons[1] == "idle-timeout"
    cut = next(c for c in server.named("closed") if c["reason"] == "idle-timeout")
    assert 500 <= cut["duration_ms"] < 5000


def test_count_3_exits_0_after_three_clients(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo", "--count", "3")
    port = server.listening()["sockets"][0]["port"]
    assert peer(["socat", "-", f"TCP:127.0.0.1:{port}"], b"one\n") == b"one\n"
    assert peer(["ncat", "127.0.0.1", str(port)], b"two\n") == b"two\n"
    assert echo_once("::1", port, b"three") == b"three"
    assert server.wait(timeout=30) == 0
    stopped = server.named("stopped")[-1]
    assert stopped["reason"] == "count" and stopped["clients"] == 3
    assert stopped["bytes_in"] == stopped["bytes_out"] == 4 + 4 + 5
    assert len(server.named("accepted")) == len(server.named("closed")) == 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_with_the_summary(servers: list[Server], sig: signal.Signals) -> None:
    server = start(servers, "0", "--echo", json_mode=False)
    line = server.err_line("listening on 0.0.0.0:")
    port = int(line.split("0.0.0.0:")[1].split()[0])
    assert echo_once("127.0.0.1", port, b"x" * 2000) == b"x" * 2000
    server.err_line("closed (eof)")
    # A client still connected when the signal comes is closed by the server.
    lingering = socket.create_connection(("127.0.0.1", port), timeout=20)
    lingering.sendall(b"bye")
    assert lingering.recv(16) == b"bye"
    assert server.stop(sig) == 0
    lingering.settimeout(10)
    assert lingering.recv(16) == b""
    lingering.close()
    err = server.stderr()
    assert f"stopped ({sig.name}): 2 clients, 2.0 KiB in, 2.0 KiB out" in err
    assert "closed (stopped)" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err

    js = start(servers, "0", "--echo")
    js.listening()
    assert js.stop(sig) == 0
    stopped = js.events[-1]
    assert stopped["event"] == "stopped"
    assert {"clients", "bytes_in", "bytes_out", "duration_ms", "reason"} <= set(stopped)
    assert stopped["reason"] == sig.name


def test_max_clients_turns_the_next_client_away(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo", "--max-clients", "1")
    server.listening()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as first:
        first.sendall(b"a")
        assert first.recv(4) == b"a"
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as second:
            assert second.recv(4) == b""  # accepted and closed at once
        first.sendall(b"b")
        assert first.recv(4) == b"b"
    assert echo_once("127.0.0.1", server.port, b"later") == b"later"
    assert server.stop() == 0
    turned = [c for c in server.named("closed") if c["reason"] == "max-clients"]
    assert len(turned) == 1
    assert any(a.get("served") is False for a in server.named("accepted"))
    assert server.named("stopped")[-1]["rejected"] == 1


def test_iterative_serves_one_client_at_a_time(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo", "--iterative")
    server.listening()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as first:
        first.sendall(b"1")
        assert first.recv(4) == b"1"
        second = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        second.sendall(b"2")
        second.settimeout(0.5)
        with pytest.raises(TimeoutError):
            second.recv(4)  # waits while the first is served
    second.settimeout(20)
    assert second.recv(4) == b"2"
    second.close()
    assert server.stop() == 0
    order = [(e["event"], e["client"]["id"]) for e in server.events
             if e["event"] in ("accepted", "closed")]
    assert order == [("accepted", 1), ("closed", 1), ("accepted", 2), ("closed", 2)]


def test_without_echo_data_goes_to_stdout(servers: list[Server]) -> None:
    server = start(servers, "0", json_mode=False)
    line = server.err_line("listening on 0.0.0.0:")
    port = int(line.split("0.0.0.0:")[1].split()[0])
    binary = bytes(range(256))
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(b"hello, stdout\n")
        client.sendall(binary)
        client.shutdown(socket.SHUT_WR)
        assert client.recv(16) == b""  # nothing comes back without --echo
    server.err_line("closed (eof)")
    assert server.stop() == 0
    assert server.stdout() == b"hello, stdout\n" + binary


def test_without_echo_json_data_events(servers: list[Server]) -> None:
    server = start(servers, "0")
    server.listening()
    peer(["socat", "-u", "-", f"TCP:127.0.0.1:{server.port}"], "héllo\n".encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
        client.sendall(b"\xff\xfe\x00binary")
    server.event("closed")
    server.event("closed")
    assert server.stop() == 0
    data = server.named("data")
    text = "".join(d.get("text", "") for d in data if d["client"]["id"] == 1)
    assert text == "héllo\n"
    raw = b"".join(base64.b64decode(d["base64"]) for d in data
                   if d["client"]["id"] == 2 and "base64" in d)
    assert raw == b"\xff\xfe\x00binary"
    assert all(d["bytes"] > 0 for d in data)


def test_json_events_are_well_formed(servers: list[Server]) -> None:
    server = start(servers, "0", "--echo")
    server.listening()
    assert echo_once("127.0.0.1", server.port, b"well formed") == b"well formed"
    assert server.stop() == 0
    assert server.stderr() == ""  # --json: stdout is everything, stderr is quiet
    lines = server.stdout().decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert events and all(set(e) >= {"event", "t"} for e in events)
    assert {e["event"] for e in events} <= PUBLISHED
    times = [e["t"] for e in events]
    assert times == sorted(times) and all(isinstance(t, float) for t in times)
    names = [e["event"] for e in events]
    assert names[0] == "resolved" and names[-1] == "stopped"
    assert names.index("listening") > max(i for i, n in enumerate(names) if n == "bind")
    required = {
        "bind": {"index", "candidate", "step", "outcome", "errno", "message"},
        "listening": {"sockets"},
        "accepted": {"client"},
        "closed": {"client", "bytes_in", "bytes_out", "duration_ms", "reason"},
        "stopped": {"clients", "bytes_in", "bytes_out", "duration_ms", "reason"},
    }
    for event in events:
        assert required.get(event["event"], set()) <= set(event), event
    (accepted,) = [e for e in events if e["event"] == "accepted"]
    assert set(accepted["client"]) >= {"id", "address", "port", "host"}
    assert accepted["client"]["host"] == "127.0.0.1"  # numeric unless --names


def test_stdout_closed_under_the_server_exits_141() -> None:
    proc = subprocess.Popen([*NETPROBE, "listen", "0", "--bind", "127.0.0.1", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stderr is not None and proc.stdout is not None
    port = 0
    for raw in iter(proc.stderr.readline, b""):
        line = raw.decode()
        if "listening on 127.0.0.1:" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
            break
    assert port
    proc.stdout.close()  # the reader of our payload goes away
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(b"nobody reads this\n")
        status = proc.wait(timeout=30)
    assert status == 141
    assert b"Traceback" not in proc.stderr.read()


def test_udp_echo_each_datagram_traced(servers: list[Server]) -> None:
    server = start(servers, "0", "--udp", "--echo")
    listening = server.listening()
    assert {s["socktype"] for s in listening["sockets"]} == {"SOCK_DGRAM"}
    binds = server.named("bind")
    assert all(b["step"] == "bind" and b["outcome"] == "listening" for b in binds)
    port = server.port
    for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            for payload in (b"datagram one", b"\x00\xff binary"):
                sock.sendto(payload, (host, port))
                data, _ = sock.recvfrom(65536)
                assert data == payload
    assert peer(["socat", "-", f"UDP:127.0.0.1:{port}"], b"via socat\n") == b"via socat\n"
    assert server.stop() == 0
    data = server.named("data")
    assert len(data) == 5 and all(d["echoed"] for d in data)
    assert {d["client"]["address"] for d in data} == {"127.0.0.1", "::1"}
    stopped = server.named("stopped")[-1]
    assert stopped["datagrams"] == 5 and stopped["bytes_in"] == stopped["bytes_out"]
    assert stopped["clients"] == 3  # distinct senders


def test_udp_without_echo_payload_to_stdout(servers: list[Server]) -> None:
    server = start(servers, "0", "--udp", "--count", "2", json_mode=False)
    line = server.err_line("listening on 0.0.0.0:")
    port = int(line.split("0.0.0.0:")[1].split()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"first\n", ("127.0.0.1", port))
        sock.sendto(b"second\n", ("127.0.0.1", port))
    assert server.wait(timeout=30) == 0
    assert server.stdout() == b"first\nsecond\n"
    assert "datagram from 127.0.0.1:" in server.stderr()


def test_names_shows_the_client_name(namespace: Any) -> None:
    ns: Namespace = namespace(hosts="127.0.0.1 localhost\n::1 localhost\n")
    server = Server("0", "--echo", "--names", prefix=tuple(ns.prefix))
    try:
        port = server.listening()["sockets"][0]["port"]
        script = (f"python3 -c \"import socket; s=socket.create_connection(('127.0.0.1',{port}));"
                  "s.sendall(b'hi'); assert s.recv(2)==b'hi'\"")
        assert ns.sh(script).returncode == 0
        accepted = server.event("accepted")
        assert accepted["client"]["host"] == "localhost"
        assert accepted["client"]["address"] == "127.0.0.1"
        assert server.stop() == 0
    finally:
        server.kill()
