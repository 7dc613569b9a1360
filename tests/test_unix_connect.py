"""``netprobe connect`` and ``check`` on Unix sockets as users run them: real peers (socat,
Python servers of each socket type, netprobe's own listen), every failure kind."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NETPROBE, NOBODY, child_env, run
from tests.test_listen import Server, start


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Peer processes, each in its own process group (socat forks), ended after the test."""
    made: list[subprocess.Popen[bytes]] = []
    yield made
    for proc in made:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.kill()


def wait_for_file(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def spawn(peers: list[subprocess.Popen[bytes]], argv: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            start_new_session=True)
    peers.append(proc)
    return proc


# Python servers of each socket type: an echo, told apart by the type they are given.
_SERVER = textwrap.dedent("""
    import os, socket, sys
    kind = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM,
            "seqpacket": socket.SOCK_SEQPACKET}[sys.argv[1]]
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(sys.argv[2])
    if kind == socket.SOCK_DGRAM:
        print("ready", flush=True)
        while True:
            data, sender = sock.recvfrom(65536)
            sock.sendto(b"echo:" + data, sender)
    sock.listen()
    print("ready", flush=True)
    while True:
        conn, _ = sock.accept()
        while data := conn.recv(65536):
            conn.send(b"echo:" + data)
        conn.close()
""")


def python_server(peers: list[subprocess.Popen[bytes]], kind: str,
                  address: str) -> subprocess.Popen[bytes]:
    proc = spawn(peers, [sys.executable, "-c", _SERVER, kind, address])
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def event(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [e for e in events if e["event"] == name]
    assert found, f"no {name!r} event in {[e['event'] for e in events]}"
    return found[-1]


# --- talking to real peers ---------------------------------------------------------------


def test_socat_unix_listen_and_its_credentials(place: Path,
                                               peers: list[subprocess.Popen[bytes]]) -> None:
    path = place / "socat.sock"
    socat = spawn(peers, ["socat", f"UNIX-LISTEN:{path},fork", "EXEC:cat"])
    wait_for_file(path)
    result = run("connect", f"unix:{path}", "--json", input="hello socat\n")
    assert result.status == 0, result.err
    events = result.events()
    assert "resolved" not in [e["event"] for e in events]  # nothing to resolve
    attempt = event(events, "attempt")
    assert attempt["candidate"] == {"index": 0, "family": "AF_UNIX",
                                    "socktype": "SOCK_STREAM", "protocol": 0,
                                    "address": str(path), "port": None, "flowinfo": 0,
                                    "scope_id": 0, "canonname": None}
    connected = event(events, "connected")
    assert connected["peer"] == {"address": str(path), "port": None}
    assert connected["local"] == {"address": "", "port": None}
    assert connected["peer_cred"] == {"pid": socat.pid, "uid": os.geteuid(),
                                      "gid": os.getegid(),
                                      "command": f"socat UNIX-LISTEN:{path},fork EXEC:cat"}
    data = "".join(e.get("text", "") for e in events if e["event"] == "data")
    assert data == "hello socat\n"


def test_socat_abstract_listen_and_the_human_lines(peers: list[subprocess.Popen[bytes]]
                                                   ) -> None:
    name = f"np-connect-{os.getpid()}"
    spawn(peers, ["socat", f"ABSTRACT-LISTEN:{name},fork", "EXEC:cat"])
    deadline = time.monotonic() + 10
    while f"@{name}" not in Path("/proc/net/unix").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = run("connect", f"unix:@{name}", input="abstract\n")
    assert (result.status, result.out) == (0, "abstract\n")
    assert f"#0 @{name}  connected" in result.err
    assert f"connected (unnamed) -> @{name}" in result.err
    assert "peer pid " in result.err and f"socat ABSTRACT-LISTEN:{name},fork" in result.err


@pytest.mark.parametrize("kind", ["stream", "dgram", "seqpacket"])
def test_python_servers_of_each_type(place: Path, peers: list[subprocess.Popen[bytes]],
                                     kind: str) -> None:
    path = place / f"{kind}.sock"
    python_server(peers, kind, str(path))
    flags = {"stream": [], "dgram": ["--udp"], "seqpacket": ["--seqpacket"]}[kind]
    result = run("connect", str(path), *flags, "--send", "ping", "--expect", "^echo:ping$",
                 "--timeout", "5", "--json")
    assert result.status == 0, result.err
    events = result.events()
    assert event(events, "attempt")["candidate"]["socktype"] == f"SOCK_{kind.upper()}"
    if kind == "dgram":
        # Autobound: the server answered to the abstract name the kernel gave.
        assert event(events, "connected")["local"]["address"].startswith("@")
        assert "peer_cred" not in event(events, "connected")
    else:
        assert event(events, "connected")["peer_cred"]["pid"] == peers[-1].pid


def test_netprobe_to_netprobe_64_mib_byte_exact(servers: list[Server], place: Path) -> None:
    path = place / "echo.sock"
    server = start(servers, f"unix:{path}", "--echo", "--count", "1")
    server.listening()
    payload = random.Random(64).randbytes(64 << 20)
    proc = subprocess.run([*NETPROBE, "connect", f"unix:{path}", "-q"], input=payload,
                          capture_output=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert server.wait() == 0
    accepted = server.named("accepted")[0]
    assert accepted["peer_cred"]["command"].endswith(f"connect unix:{path} -q")


def test_check_flag_and_json_fields(place: Path, peers: list[subprocess.Popen[bytes]]) -> None:
    path = place / "z.sock"
    python_server(peers, "stream", str(path))
    result = run("connect", str(path), "-z", "--json")
    assert result.status == 0
    names = [e["event"] for e in result.events()]
    assert names == ["attempt_started", "attempt", "connected", "attempts_done", "closed"] \
        or names == ["attempt_started", "attempt", "connected", "closed"]


# --- failures, each kind --------------------------------------------------------------------


def why(result: Any) -> dict[str, Any]:
    found: dict[str, Any] = event(result.events(), "attempt")["why"]
    return found


def test_no_such_file_names_the_first_missing_directory(place: Path) -> None:
    result = run("connect", f"unix:{place}/run/app/x.sock", "-z", "--json")
    assert result.status == 4
    found = why(result)
    assert found["kind"] == "no-such-file"
    assert found["message"] == f"the directory {place}/run does not exist ({place} does)"
    human = run("connect", f"{place}/x.sock", "-z")
    assert human.status == 4
    assert f"{place}/x.sock does not exist (the directory {place} does)" in human.err


def test_stale_file(place: Path) -> None:
    path = place / "stale.sock"
    with socket.socket(socket.AF_UNIX) as gone:
        gone.bind(str(path))
    result = run("connect", str(path), "-z", "--json")
    assert result.status == 4
    attempt = event(result.events(), "attempt")
    assert (attempt["outcome"], attempt["errno"]) == ("refused", "ECONNREFUSED")
    assert attempt["why"]["kind"] == "stale"
    human = run("connect", str(path), "-z")
    assert f"   why: {path} is a stale socket file: nothing listens on it (srwxr-xr-x " \
        "root:root, modified " in human.err
    assert f"netprobe: connect {path}: ECONNREFUSED: {path} is a stale socket file: " \
        "nothing listens on it (srwxr-xr-x root:root, modified " in human.err


def test_not_a_socket(place: Path) -> None:
    (place / "plain").write_text("x")
    result = run("connect", str(place / "plain"), "-z", "--json")
    assert result.status == 4
    assert why(result)["kind"] == "not-a-socket"
    assert why(result)["message"] == f"{place}/plain is a regular file, not a socket"


def test_other_socktype(place: Path, peers: list[subprocess.Popen[bytes]]) -> None:
    path = place / "dgram.sock"
    python_server(peers, "dgram", str(path))
    result = run("connect", str(path), "-z", "--json")
    assert result.status == 4
    attempt = event(result.events(), "attempt")
    assert attempt["errno"] == "EPROTOTYPE"
    assert attempt["why"]["kind"] == "other-socktype"
    assert attempt["why"]["message"].startswith(
        f"{path} is served by SOCK_DGRAM (--udp), not SOCK_STREAM: pid {peers[-1].pid} (")
    (bound,) = attempt["why"]["sockets"]  # the kernel's table, with the server's process
    assert (bound["socktype"], bound["local"]) == ("SOCK_DGRAM", {"path": str(path)})
    assert [p["pid"] for p in bound["processes"]] == [peers[-1].pid]


def test_permission_as_an_unprivileged_user(place: Path,
                                            peers: list[subprocess.Popen[bytes]]) -> None:
    path = place / "private.sock"
    python_server(peers, "stream", str(path))
    os.chmod(path, 0o750)
    proc = subprocess.run([*NOBODY, *NETPROBE, "connect", str(path), "-z", "--json"],
                          capture_output=True, text=True, timeout=30, env=child_env())
    assert proc.returncode == 4, proc.stderr
    assert (f"{path} (srwxr-x--- root:root) refuses write to uid 65534 (nobody) "
            "(groups 65534 (nogroup)): its other class lacks w") in proc.stdout


def test_a_full_queue_times_out_with_exit_5(place: Path) -> None:
    path = place / "full.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(0)
        queued = [socket.socket(socket.AF_UNIX) for _ in range(2)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(str(path))
        began = time.monotonic()
        result = run("connect", str(path), "-z", "--timeout", "0.5", "--json")
        took = time.monotonic() - began
        for sock in queued:
            sock.close()
    assert result.status == 5
    assert 0.5 <= took < 5
    assert why(result)["kind"] == "queue-full"


def test_wait_for_a_socket_that_appears_later(place: Path) -> None:
    path = place / "later.sock"
    client = subprocess.Popen([*NETPROBE, "connect", str(path), "-z", "--wait", "15",
                               "--interval", "0.2", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=child_env())
    time.sleep(1.0)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    try:
        out, err = client.communicate(timeout=30)
    finally:
        server.close()
    assert client.returncode == 0, err
    rounds = [line for line in out.decode().splitlines() if '"event":"round"' in line]
    assert len(rounds) >= 3
    assert '"errno":"ENOENT"' in rounds[0]
    assert '"outcome":"connected"' in rounds[-1]


# --- usage errors: before any call ------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["/tmp/x.sock", "80"], "a Unix socket takes no PORT"),
    (["unix:/" + "p" * 107], "the path is 108 bytes; sun_path holds 107 (108 with its NUL)"),
    (["unix:@" + "n" * 108], "the abstract name is 108 bytes"),
    (["/tmp/x.sock", "-4"], "-4 does not apply to a Unix socket"),
    (["/tmp/x.sock", "--happy-eyeballs"], "--happy-eyeballs does not apply"),
    (["/tmp/x.sock", "--source", "127.0.0.1"], "--source does not apply"),
    (["/tmp/x.sock", "--udp", "--seqpacket"], "--udp and --seqpacket exclude each other"),
    (["localhost"], "missing PORT"),
])
def test_usage_errors(args: list[str], message: str) -> None:
    result = run("connect", *args, "--json", "--syscalls")
    assert result.status == 2, result.err
    assert message in result.err
    assert [e["event"] for e in result.events()] == ["error"]


# --- check unix: targets --------------------------------------------------------------------


def test_check_unix_targets(place: Path, peers: list[subprocess.Popen[bytes]]) -> None:
    good = place / "good.sock"
    python_server(peers, "stream", str(good))
    name = f"np-check-{os.getpid()}"
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + name)
    abstract.listen()
    with abstract:
        ok = run("check", f"unix:{good}", f"unix:@{name}", "--json")
        bad = run("check", f"unix:{good}", f"unix:{place}/missing.sock", "--json")
    assert ok.status == 0, ok.err
    summary = event(ok.events(), "summary")
    assert [t["address"] for t in summary["targets"]] == [str(good), f"@{name}"]
    assert bad.status == 4
    summary = event(bad.events(), "summary")
    assert [t["ok"] for t in summary["targets"]] == [True, False]
    malformed = run("check", "unix:", "localhost:80")
    assert malformed.status == 2


def test_probes_of_a_unix_socket(place: Path, peers: list[subprocess.Popen[bytes]]) -> None:
    path = place / "probed.sock"
    python_server(peers, "stream", str(path))
    result = run("connect", str(path), "-c", "3", "--interval", "0.05", "-v", "--json")
    assert result.status == 0, result.err
    events = result.events()
    probes = [e for e in events if e["event"] == "probe"]
    assert [p["outcome"] for p in probes] == ["ok", "ok", "ok"]
    assert all(p["tcp_info"] is None for p in probes)  # no TCP_INFO on a Unix socket
    (per_address,) = event(events, "probe_stats")["per_address"]
    assert (per_address["address"], per_address["port"]) == (str(path), None)
