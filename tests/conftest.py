from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.dnsmasq import dns_namespace, dns_stub, dnsmasq_server  # noqa: F401  (fixtures)
from tests.helpers import Namespace, free_port, wait_for_udp_echo

# A test run started in the background by a shell without job control (``cmd &``)
# inherits SIGINT ignored, and so would every netprobe it starts: the Ctrl-C tests
# would then interrupt nothing.  Caught here (Python's own handler), SIGINT is back to
# the default in each child, as under a terminal or CI's runner.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def namespace() -> Iterator[Callable[..., Namespace]]:
    """Factory: ``namespace(hosts=..., resolv=...)`` -> a private Namespace, closed after."""
    made: list[Namespace] = []

    def make(**kwargs: str) -> Namespace:
        ns = Namespace(**kwargs)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user may search (pytest's own tmp_path is 0700 root): Unix sockets'."""
    made = Path(tempfile.mkdtemp(prefix="np-unix-"))
    made.chmod(0o755)
    yield made
    subprocess.run(["rm", "-rf", str(made)], check=False)


@pytest.fixture
def udp_echo_port() -> Iterator[int]:
    """A socat UDP echo server on 127.0.0.1 (-T 2: each forked child exits after 2 s idle)."""
    port = free_port(kind=socket.SOCK_DGRAM)
    proc = subprocess.Popen(["socat", "-T", "2", f"UDP4-RECVFROM:{port},bind=127.0.0.1,fork",
                             "PIPE"], stderr=subprocess.DEVNULL)
    try:
        wait_for_udp_echo(port)
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port on 127.0.0.1 that a listen(64) of the test's own holds (the kernel completes
    the handshakes; nothing accepts): the start-up tests' peer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


def _accepting(backlog: int, accepted: list[socket.socket] | None) -> socket.socket:
    """A listener on 127.0.0.1 whose thread accepts every connection: keeps each in
    ``accepted``, or closes it at once when that is None."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)

    def serve() -> None:
        while True:
            try:
                client = server.accept()[0]
            except OSError:
                return
            if accepted is None:
                client.close()
            else:
                accepted.append(client)

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.fixture
def accepting_listener() -> Iterator[socket.socket]:
    """A listener on 127.0.0.1 whose thread accepts every connection (closed at the end):
    the peer of the probe core's tests."""
    accepted: list[socket.socket] = []
    server = _accepting(64, accepted)
    yield server
    server.close()
    for sock in accepted:
        sock.close()


@pytest.fixture
def closing_listener() -> Iterator[int]:
    """The port of a listener on 127.0.0.1 whose thread accepts every connection and
    closes it at once: a peer for runs of thousands of probes."""
    server = _accepting(512, None)
    yield server.getsockname()[1]
    server.close()
