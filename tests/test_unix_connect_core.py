"""The attempt machinery on the one Unix candidate: real servers of each socket type."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from netprobe.connect import Outcome, Plan, connect_sequential
from netprobe.connect.attempts import CandidatesFailed, CandidatesTimedOut
from netprobe.unix.address import parse
from netprobe.unix.candidate import unix_candidate
from tests.helpers import Recorder


def attempt(text: str, kind: int = socket.SOCK_STREAM, timeout: float = 5.0,
            recorder: Recorder | None = None) -> tuple[object, Recorder]:
    trace = recorder or Recorder(syscalls=True)
    candidate = unix_candidate(parse(text, "connect"), kind)
    try:
        result: object = connect_sequential([candidate], Plan(timeout=timeout), text,
                                            trace=trace)
    except (CandidatesFailed, CandidatesTimedOut) as exc:
        result = exc
    return result, trace


def test_connected_with_the_servers_credentials(place: Path) -> None:
    path = str(place / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        connected, trace = attempt(path)
        assert not isinstance(connected, Exception)
        (event,) = trace.named("connected")
    assert event["peer"] == {"address": path, "port": None}
    assert event["local"] == {"address": "", "port": None}
    assert event["peer_cred"]["pid"] == os.getpid()
    (done,) = trace.named("attempt")
    assert done["candidate"]["family"] == "AF_UNIX" and done["candidate"]["port"] is None
    assert done["outcome"] == "connected"
    calls = [e["call"] for e in trace.named("syscall")]
    assert calls == ["socket", "setsockopt", "connect", "getsockname", "getpeername",
                     "getsockopt"]


@pytest.mark.parametrize(("setup", "number", "outcome"), [
    ("missing", "ENOENT", Outcome.ERROR),
    ("stale", "ECONNREFUSED", Outcome.REFUSED),
    ("dgram", "EPROTOTYPE", Outcome.ERROR),
])
def test_failures_keep_the_kernels_errno(place: Path, setup: str, number: str,
                                         outcome: Outcome) -> None:
    path = str(place / "f.sock")
    holder = None
    if setup == "stale":
        with socket.socket(socket.AF_UNIX) as gone:
            gone.bind(path)
    if setup == "dgram":
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        holder.bind(path)
    failed, trace = attempt(path)
    if holder is not None:
        holder.close()
    assert isinstance(failed, CandidatesFailed)
    assert failed.code == number
    (done,) = trace.named("attempt")
    assert (done["outcome"], done["errno"]) == (outcome.value, number)


def test_a_full_accept_queue_is_a_timeout_not_a_false_connect(place: Path) -> None:
    path = str(place / "q.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(0)  # Linux lets backlog + 1 wait: one queued client fills it
        queued = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(path)
        began = time.monotonic()
        failed, trace = attempt(path, timeout=0.3)
        waited = time.monotonic() - began
        for sock in queued:
            sock.close()
    assert isinstance(failed, CandidatesTimedOut)
    assert 0.25 < waited < 3
    (done,) = trace.named("attempt")
    assert (done["outcome"], done["errno"]) == ("timeout", "ETIMEDOUT")
    connect = next(e for e in trace.named("syscall") if e["call"] == "connect")
    assert connect["errno"] == "EAGAIN"  # what the kernel said, shown as it said it
    timeout = next(e for e in trace.named("syscall") if e["call"] == "setsockopt")
    assert timeout["args"]["optname"] == "SO_SNDTIMEO"
    assert timeout["args"]["optval"]["tv_sec"] == 0  # what is left of the 0.3 s
    assert 250_000 < timeout["args"]["optval"]["tv_usec"] <= 300_000


def test_a_queue_that_frees_in_time_connects(place: Path) -> None:
    path = str(place / "q2.sock")
    code = textwrap.dedent(f"""
        import socket, time
        s = socket.socket(socket.AF_UNIX); s.bind({path!r}); s.listen(0)
        q = socket.socket(socket.AF_UNIX); q.setblocking(False); q.connect_ex({path!r})
        r = socket.socket(socket.AF_UNIX); r.setblocking(False); r.connect_ex({path!r})
        print("full", flush=True)
        time.sleep(0.4); s.accept(); s.accept(); time.sleep(5)
    """)
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdout.readline() == b"full\n"
        connected, _ = attempt(path, timeout=5)
    finally:
        server.kill()
        server.wait()
    assert not isinstance(connected, Exception)


def test_datagrams_autobind_so_that_the_server_can_answer(place: Path) -> None:
    path = str(place / "d.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        connected, trace = attempt(path, socket.SOCK_DGRAM, timeout=math.inf)
        assert not isinstance(connected, Exception)
        sock = connected.sock  # type: ignore[attr-defined]
        sock.send(b"ping")
        data, sender = server.recvfrom(100)
        assert data == b"ping" and sender.startswith(b"\0")  # an autobound abstract name
        server.sendto(b"pong", sender)
        assert sock.recv(100) == b"pong"
        sock.close()
    bind = next(e for e in trace.named("syscall") if e["call"] == "bind")
    assert bind["args"] == {"sockfd": bind["fd"], "addr": {"family": "AF_UNIX"}, "addrlen": 2}
    (event,) = trace.named("connected")
    assert event["local"]["address"].startswith("@")
    assert "peer_cred" not in event


def test_seqpacket_and_abstract(place: Path) -> None:
    name = f"np-core-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
        server.bind("\0" + name)
        server.listen()
        connected, trace = attempt(f"unix:@{name}", socket.SOCK_SEQPACKET)
        assert not isinstance(connected, Exception)
        connected.sock.close()  # type: ignore[attr-defined]
    (event,) = trace.named("connected")
    assert event["peer"] == {"address": f"@{name}", "port": None}
    assert trace.named("attempt")[0]["candidate"]["socktype"] == "SOCK_SEQPACKET"
