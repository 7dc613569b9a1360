"""The TLS data phase at volume: a sink that reads late, a source that streams, SHUT_WR once."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import NETPROBE, child_env, free_port, have, write_payload
from tests.tls_pki import Pki, serving

pytestmark = pytest.mark.skipif(not have("socat"), reason="needs socat (installed by .ci/run)")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-relay"))


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_payload(tmp_path_factory.mktemp("payload") / "payload", 24)


def _connect(port: int, pki: Pki, *extra: str, stdin: Path | None = None,
             stdout: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    with open(stdin or os.devnull, "rb") as source, open(stdout or os.devnull, "wb") as sink:
        return subprocess.run([*NETPROBE, "connect", "localhost", str(port), "-4", "--tls",
                               "--ca", str(pki.root / "ca.pem"), *extra],
                              stdin=source, stdout=sink, stderr=subprocess.PIPE,
                              env=child_env(), timeout=120)


class LateSink:
    """A TLS server that reads nothing for a while (the client's socket fills), then all."""

    def __init__(self, pem: str, delay: float) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.delay = delay
        self.digest = hashlib.sha256()
        self.size = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with self.context.wrap_socket(conn, server_side=True) as tls:
            time.sleep(self.delay)
            while data := tls.recv(1 << 20):
                self.digest.update(data)
                self.size += len(data)

    def close(self) -> None:
        self.thread.join(60)
        self.listener.close()


@pytest.fixture
def late_sink(pki: Pki) -> Iterator[LateSink]:
    sink = LateSink(pki.path("valid"), delay=1.0)
    yield sink
    sink.close()


def test_upload_to_a_sink_that_reads_late_arrives_whole(late_sink: LateSink, pki: Pki,
                                                        payload: Path) -> None:
    # The socket is full long before the sink reads: plaintext waits, unencrypted,
    # until poll says there is room, and every byte goes in order.
    result = _connect(late_sink.port, pki, "-q", stdin=payload)
    late_sink.close()
    assert result.returncode == 0, result.stderr.decode()
    assert late_sink.size == payload.stat().st_size
    assert late_sink.digest.hexdigest() == hashlib.sha256(payload.read_bytes()).hexdigest()


def test_download_from_a_streaming_source_arrives_whole(pki: Pki, payload: Path,
                                                        tmp_path: Path) -> None:
    port = free_port()
    # socat -U: the file to the client, nothing read back; 128 KiB writes.
    argv = ["socat", "-b", "131072", "-U",
            f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pki.path('valid')},"
            "verify=0", f"OPEN:{payload},rdonly"]
    back = tmp_path / "back"
    with serving(argv, port):
        result = _connect(port, pki, "-q", stdout=back)
    assert result.returncode == 0, result.stderr.decode()
    assert back.stat().st_size == payload.stat().st_size
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(
        payload.read_bytes()).digest()


def test_write_side_is_shut_down_once(pki: Pki, payload: Path) -> None:
    # After close_notify the relay goes on reading, round after round: the
    # kernel-level SHUT_WR is one system call (and one --syscalls line), not
    # one per round.
    port = free_port()
    argv = ["socat", "-U",
            f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pki.path('valid')},"
            "verify=0", f"OPEN:{payload},rdonly"]
    with serving(argv, port):
        result = subprocess.run([*NETPROBE, "connect", "localhost", str(port), "-4", "--tls",
                                 "--ca", str(pki.root / "ca.pem"), "--syscalls", "--json"],
                                stdin=subprocess.DEVNULL, capture_output=True,
                                env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    shutdowns = [line for line in lines if '"call":"shutdown"' in line]
    assert len(shutdowns) == 1, shutdowns[:3]
    assert '"how":"SHUT_WR"' in shutdowns[0]


# --- the transport directly --------------------------------------------------------------


def _drain_raw(sock: socket.socket) -> int:
    """Read (and drop) every encrypted byte the peer's socket holds now, past its TLS."""
    os.set_blocking(sock.fileno(), False)
    total = 0
    while True:
        try:
            data = os.read(sock.fileno(), 1 << 20)
        except BlockingIOError:
            return total
        total += len(data)


def test_plaintext_waiting_for_a_full_socket_asks_for_pollout(pki: Pki) -> None:
    from netprobe.tls.channel import client_handshake
    from netprobe.tls.context import TlsOptions, client_context
    from netprobe.tls.relay import TlsTransport

    ours, theirs = socket.socketpair()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki.path("valid"))
    server: list[ssl.SSLSocket] = []
    thread = threading.Thread(
        target=lambda: server.append(server_context.wrap_socket(theirs, server_side=True)))
    thread.start()
    options = TlsOptions(ca=str(pki.root / "ca.pem"))
    channel = client_handshake(ours, "localhost", options, client_context(options),
                               timeout=10, where="test")
    thread.join(10)
    [peer] = server
    transport = TlsTransport(channel, "test", lambda *_: None)
    transport.start()
    transport.queue(bytes(8 << 20))
    taken = transport.encode()
    assert 0 < taken < 8 << 20 and transport.wants_write()
    # The socket empties, the relay's flush sends what was encrypted: the
    # plaintext left must still make the relay poll for writing (and not
    # wait for the peer to speak).
    sent = _drain_raw(peer)
    transport.flush()
    assert not channel.backlog and transport.unsent() > 0
    assert transport.wants_write()
    for _ in range(10_000):
        if not transport.unsent() and not channel.backlog:
            break
        taken += transport.writable()
        transport.flush()
        sent += _drain_raw(peer)
    assert taken == 8 << 20 and not transport.busy()
    sent += _drain_raw(peer)
    assert sent > 8 << 20  # records: the payload and its framing
    peer.close()
    ours.close()
