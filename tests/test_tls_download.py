"""A ``connect --tls`` download arrives byte-exact whatever stdout is, and no sink that keeps
what it gets is handed a view of the relay's buffer.

The TLS relay decrypts into one buffer and, for ``-q`` off a terminal, writes
views of it to fd 1 with no copy (netprobe.relay.view_sink): a pipe, a file,
a non-blocking pipe whose reader is slow (partial writes and EAGAIN while the
buffer waits), and ``--json`` (which keeps half a character back, so gets
bytes of its own) must all receive the server's bytes exactly.  The server
is socat's TLS source, 128 KiB a write, on loopback.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netprobe.relay import view_sink
from netprobe.render import Settings
from netprobe.render.quiet import QuietConnect
from tests.helpers import NETPROBE, child_env, free_port, have, write_payload
from tests.tls_pki import Pki, serving

pytestmark = pytest.mark.skipif(not have("socat"), reason="needs socat (installed by .ci/run)")

MIB = 1 << 20


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-download"))


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Binary, every byte value, not a multiple of a record or of a chunk.
    return write_payload(tmp_path_factory.mktemp("download") / "payload", 12,
                         bytes(range(256)) * 7 + b"\x00\xff\x1b[2J\r\n")


@pytest.fixture(scope="module")
def source(pki: Pki, payload: Path) -> Iterator[int]:
    port = free_port()
    argv = ["socat", "-b", "131072", "-U",
            f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pki.path('valid')},"
            "verify=0", f"OPEN:{payload},rdonly"]
    with serving(argv, port):
        yield port


def _argv(port: int, pki: Pki, *extra: str) -> list[str]:
    return [*NETPROBE, "connect", "localhost", str(port), "-4", "--tls",
            "--ca", str(pki.root / "ca.pem"), *extra]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_to_a_file_arrives_byte_exact(source: int, pki: Pki, payload: Path,
                                               tmp_path: Path) -> None:
    back = tmp_path / "back"
    with open(os.devnull, "rb") as stdin, back.open("wb") as stdout:
        proc = subprocess.run(_argv(source, pki, "-q"), stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, env=child_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert back.stat().st_size == payload.stat().st_size
    assert _digest(back.read_bytes()) == _digest(payload.read_bytes())


def test_download_to_a_pipe_arrives_byte_exact(source: int, pki: Pki, payload: Path) -> None:
    proc = subprocess.run(_argv(source, pki, "-q"), stdin=subprocess.DEVNULL,
                          capture_output=True, env=child_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    assert len(proc.stdout) == payload.stat().st_size
    assert _digest(proc.stdout) == _digest(payload.read_bytes())


def test_download_to_a_slow_non_blocking_pipe_arrives_byte_exact(source: int, pki: Pki,
                                                                  payload: Path) -> None:
    # O_NONBLOCK on the pipe (shared with the child's fd 1): a write takes what
    # the pipe has room for or fails with EAGAIN, so every chunk is written in
    # pieces while the relay's buffer waits; the reader starts late and reads
    # in small bites, so that happens from the first chunk on.
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    proc = subprocess.Popen(_argv(source, pki, "-q"), stdin=subprocess.DEVNULL,
                            stdout=write_end, stderr=subprocess.PIPE, env=child_env())
    os.close(write_end)
    got = bytearray()
    try:
        time.sleep(0.3)
        while piece := os.read(read_end, 4096 if len(got) < 2 * MIB else 1 << 16):
            got += piece
            if len(got) < 256 * 1024:
                time.sleep(0.001)
    finally:
        os.close(read_end)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert len(got) == payload.stat().st_size
    assert _digest(bytes(got)) == _digest(payload.read_bytes())


def test_json_download_arrives_byte_exact(source: int, pki: Pki, payload: Path) -> None:
    # The JSON renderer keeps the end of a chunk that splits a UTF-8 character
    # for the next one: it must get bytes of its own, never a view.
    proc = subprocess.run(_argv(source, pki, "--json"), stdin=subprocess.DEVNULL,
                          capture_output=True, env=child_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    got = bytearray()
    for line in proc.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "data":
            got += (base64.b64decode(event["base64"]) if "base64" in event
                    else event["text"].encode("utf-8", "surrogateescape"))
    assert len(got) == payload.stat().st_size
    assert _digest(bytes(got)) == _digest(payload.read_bytes())


def test_only_a_sink_that_writes_at_once_is_offered_views() -> None:
    quiet = QuietConnect()
    assert view_sink(quiet.payload) == quiet.payload_view
    kept: list[bytes] = []
    assert view_sink(kept.append) is None
    from netprobe.render.jsonl import JsonLines

    assert view_sink(JsonLines().payload) is None
    from netprobe.render.connect import ConnectHuman

    assert view_sink(ConnectHuman(Settings()).payload) is None
