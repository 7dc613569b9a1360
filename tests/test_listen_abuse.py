"""``listen`` against clients that misbehave: the server's bounds, run as users run it.

Each test starts ``netprobe listen --json`` as a subprocess on loopback, abuses
it with real sockets (clients that stall mid-handshake, ...) and checks the
events it prints, its exit status and that a well-behaved client is still
served as the SPEC says.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.helpers import NETPROBE, Namespace, child_env, free_port

LOOPS = ["default", "asyncio"]
#: The first bytes of a TLS ClientHello record: a handshake that never goes on.
STALLED_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


class JsonServer:
    """``netprobe listen PORT --bind 127.0.0.1 --json ARGS``; its events read by a thread."""

    def __init__(self, *args: str, loop: str = "default", prefix: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*prefix, *NETPROBE, "listen", str(self.port), "--bind", "127.0.0.1", "--json", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env({"NETPROBE_LOOP": "asyncio"} if loop == "asyncio" else {}))
        self.events: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_for(lambda e: e["event"] == "listening")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.events.append(json.loads(line))
                self.changed.notify_all()

    def wait_for(self, match: Any, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The first ``count`` events ``match`` accepts, waiting for them."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [e for e in self.events if match(e)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{count} matching events not seen: {self.events}")
                self.changed.wait(left)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)
        self.reader.join(10)
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read().decode()


@pytest.fixture
def servers() -> Iterator[list[JsonServer]]:
    started: list[JsonServer] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def tls_echo(port: int, payload: bytes) -> bytes:
    """One TLS client (no verification): ``payload`` sent, then what comes back until EOF."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:
        tls.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = tls.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


@pytest.mark.parametrize("loop", LOOPS)
def test_tls_clients_stalled_in_their_handshake_count_against_max_clients(
        servers: list[JsonServer], loop: str) -> None:
    # Clients stuck mid-handshake used to be counted nowhere: any number of
    # them held a descriptor and ~50 KB each.  They hold a slot now, the
    # next client is turned away as a TCP one is, and a slot comes back
    # when a stalled client goes.
    server = JsonServer("--tls", "--echo", "--max-clients", "2", loop=loop)
    servers.append(server)
    stalled = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(STALLED_HELLO)
        stalled.append(sock)
    time.sleep(0.3)  # both accepted, both waiting for the rest of their ClientHello
    with pytest.raises((ConnectionError, ssl.SSLError)):
        tls_echo(server.port, b"turned away\n")
    [turned] = server.wait_for(lambda e: e["event"] == "accepted")
    assert turned["served"] is False and "tls" not in turned
    [closed] = server.wait_for(lambda e: e["event"] == "closed")
    assert closed["reason"] == "max-clients" and closed["client"] == turned["client"]
    stalled.pop().close()
    server.wait_for(lambda e: e["event"] == "tls_failed")
    assert tls_echo(server.port, b"served\n") == b"served\n"
    [_, served] = server.wait_for(lambda e: e["event"] == "accepted", count=2)
    assert "served" not in served and served["tls"]["version"]
    for sock in stalled:
        sock.close()
    status, err = server.stop()
    assert status == 0, err
    stopped = server.events[-1]
    assert stopped["event"] == "stopped" and stopped["clients"] == 1
    assert stopped["rejected"] == 1


@pytest.mark.parametrize("loop", LOOPS)
def test_idle_timeout_cuts_a_tls_client_stalled_in_its_handshake(
        servers: list[JsonServer], loop: str) -> None:
    # --idle-timeout cuts a TCP client that sends nothing; a TLS client
    # that stopped in the middle of its handshake used to keep its
    # connection (and its slot) for the 60 s handshake timeout whatever
    # --idle-timeout said.
    server = JsonServer("--tls", "--echo", "--idle-timeout", "0.5", loop=loop)
    servers.append(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(STALLED_HELLO)
        started = time.monotonic()
        assert sock.recv(100) == b""  # the server closed it
        assert time.monotonic() - started < 10
    [failed] = server.wait_for(lambda e: e["event"] == "tls_failed", timeout=10)
    assert failed["code"] == "ETIMEDOUT" and "--idle-timeout" in failed["message"]
    assert 400 <= failed["elapsed_ms"] < 10_000
    # A client that completes its handshake is served as before.
    assert tls_echo(server.port, b"still served\n") == b"still served\n"
    status, err = server.stop()
    assert status == 0, err


#: A DNS server that reads every query and never answers (inside a namespace).
SILENT_DNS = """
import socket, time
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.2", 53))
tcp = socket.socket(); tcp.bind(("127.0.0.2", 53)); tcp.listen(64)
print("ready", flush=True)
time.sleep(600)
"""

#: Inside the namespace: COUNT clients from addresses nobody names, which send
#: nothing, then one from 127.0.0.1 (named by the hosts file): how long its echo took.
NAMELESS_CLIENTS = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(count):
    s = socket.socket(); s.bind((f"192.0.2.{10 + i}", 0)); s.connect(("127.0.0.1", port))
    held.append(s)
started = time.monotonic()
good = socket.create_connection(("127.0.0.1", port), timeout=60)
good.sendall(b"hi")
assert good.recv(2) == b"hi"
print(round(time.monotonic() - started, 2))
"""


def test_names_a_silent_resolver_does_not_make_later_clients_wait(namespace: Any) -> None:
    # --names looks each client up in the loop's few worker threads, and a
    # client used to wait for every lookup queued before its own: behind 30
    # clients a resolver never answers for, one from 127.0.0.1 was served
    # after ~10 s.  Now each client is served NAMES_TIMEOUT (2 s) after its
    # accept at the latest, with its numeric address.
    ns: Namespace = namespace(hosts="127.0.0.1 localhost\n",
                              resolv="nameserver 127.0.0.2\noptions timeout:5 attempts:1\n",
                              addresses=["192.0.2.1/24"])
    dns = ns.popen(["python3", "-c", SILENT_DNS], stdout=subprocess.PIPE)
    assert dns.stdout is not None and dns.stdout.readline() == b"ready\n"
    server = JsonServer("--echo", "--names", prefix=ns.prefix)
    try:
        clients = subprocess.run([*ns.prefix, "python3", "-c", NAMELESS_CLIENTS,
                                  str(server.port), "30"], capture_output=True, timeout=90)
        assert clients.returncode == 0, clients.stderr
        assert float(clients.stdout) < 5, clients.stdout
        [good] = server.wait_for(lambda e: e["event"] == "accepted"
                                 and e["client"]["address"] == "127.0.0.1")
        assert good["client"]["host"] in ("127.0.0.1", "localhost")
        status, err = server.stop()
        assert status == 0, err
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


@pytest.mark.parametrize("loop", LOOPS)
def test_a_client_reset_in_the_accept_queue_is_not_shown_as_a_unix_one(
        servers: list[JsonServer], loop: str) -> None:
    # uvloop asks getpeername() after accept; for a client that reset while
    # it waited in the queue that fails, and the client was reported as an
    # unnamed Unix client (address "", "(unnamed)").  Its address is null
    # now, the trace says it is unknown, and the server goes on.
    server = JsonServer("--echo", loop=loop)
    servers.append(server)
    server.proc.send_signal(signal.SIGSTOP)  # nothing is accepted meanwhile
    try:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"x")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # an RST: the connection dies in the accept queue
    finally:
        server.proc.send_signal(signal.SIGCONT)
    closed = server.wait_for(lambda e: e["event"] == "closed", count=5)
    for event in closed:
        client = event["client"]
        assert client["address"] != "", event
        if client["address"] is None:
            assert client["port"] is None and client["host"] is None
            assert "peer_cred" not in event
        else:
            assert client["address"] == "127.0.0.1" and client["port"], event
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"still served")
        assert sock.recv(100) == b"still served"
    status, err = server.stop()
    assert status == 0, err


def test_a_half_closed_client_cut_while_its_echo_drains_says_why(
        servers: list[JsonServer]) -> None:
    # A client that half-closed and reads its echo slowly is cut by
    # --idle-timeout before the echo is out; its closed event said
    # reason "eof", as if it had had all of it.
    server = JsonServer("--echo", "--idle-timeout", "0.5")
    servers.append(server)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        data, sent = b"d" * (4 << 20), 0
        while sent < len(data):  # send it all, reading only when the send would block
            try:
                sent += sock.send(data[sent:])
            except BlockingIOError:
                with contextlib.suppress(BlockingIOError):
                    sock.recv(65536)
                time.sleep(0.001)
        sock.shutdown(socket.SHUT_WR)
        sock.setblocking(True)
        sock.settimeout(10)
        deadline = time.monotonic() + 20
        with contextlib.suppress(OSError):
            # Slowly (~160 KB/s: the echo outlasts the timeout), until the server cuts it.
            while time.monotonic() < deadline and sock.recv(16384):
                if any(e["event"] == "closed" for e in list(server.events)):
                    break
                time.sleep(0.1)
        [closed] = server.wait_for(lambda e: e["event"] == "closed", timeout=20)
    assert closed["reason"] == "idle-timeout", closed
    assert closed["bytes_out"] < closed["bytes_in"] == len(data)
    status, err = server.stop()
    assert status == 0, err
