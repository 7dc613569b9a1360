"""``netprobe listen unix:PATH`` as users run it: real peers (socat, Python), real files.

The socket files live in a private directory each test makes (mode 0755, so
that the permission tests' unprivileged user can search it).  The servers run
on both event loops where the serving core is stressed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import NETPROBE, NOBODY, child_env, run
from tests.test_listen import LOOPS, Server, _loop_env, start


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.kill()


def socat(*args: str, data: bytes = b"", timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["socat", *args], input=data, capture_output=True, timeout=timeout)


def stale_file(path: Path) -> None:
    """A socket file nothing listens on: what a server that died leaves behind."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


# --- serving ---------------------------------------------------------------------------


def test_echo_to_socat_with_its_credentials(servers: list[Server], place: Path) -> None:
    path = place / "echo.sock"
    server = start(servers, f"unix:{path}", "--echo", "--count", "1")
    listening = server.listening()
    assert listening["sockets"] == [{"family": "AF_UNIX", "socktype": "SOCK_STREAM",
                                     "address": str(path), "port": None}]
    client = subprocess.Popen(["socat", "-", f"UNIX-CONNECT:{path}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    out, _ = client.communicate(b"hello unix\n", timeout=20)
    assert out == b"hello unix\n"
    assert server.wait() == 0
    (accepted,) = server.named("accepted")
    assert accepted["client"] == {"id": 1, "address": "", "port": None, "host": ""}
    assert accepted["peer_cred"] == {"pid": client.pid, "uid": os.geteuid(),
                                     "gid": os.getegid(),
                                     "command": f"socat - UNIX-CONNECT:{path}"}
    assert not path.exists()  # netprobe removed the file it made


def test_abstract_name_and_the_human_lines(servers: list[Server]) -> None:
    name = f"np-test-{os.getpid()}"
    server = start(servers, f"unix:@{name}", "--echo", "--count", "1", json_mode=False)
    server.err_line("listening on")
    assert socat("-", f"ABSTRACT-CONNECT:{name}", data=b"abc").stdout == b"abc"
    assert server.wait() == 0
    err = server.stderr()
    assert f"listening on @{name} unix stream" in err
    assert "client 1 (unnamed) connected, pid " in err
    assert f"socat - ABSTRACT-CONNECT:{name}" in err


def test_control_characters_in_a_client_command_are_shown_safely(
        servers: list[Server], place: Path) -> None:
    path = place / "safe.sock"
    server = start(servers, f"unix:{path}", "--count", "1", json_mode=False)
    server.err_line("listening on")
    code = (f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(path)!r}); "
            "s.close()")
    subprocess.run(["python3", "-c", code, "\x1b[31mred\x1b[0m"], check=True, timeout=20)
    assert server.wait() == 0
    err = server.stderr()
    assert "\x1b[31m" not in err
    assert "\\x1b[31mred\\x1b[0m" in err


@pytest.mark.parametrize("loop", LOOPS)
def test_64_mib_round_trip_byte_exact(servers: list[Server], place: Path, loop: str) -> None:
    path = place / "big.sock"
    server = start(servers, f"unix:{path}", "--echo", "--count", "1", env=_loop_env(loop))
    server.listening()
    payload = random.Random(20).randbytes(64 << 20)
    received = hashlib.sha256()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(path))

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        writer = threading.Thread(target=send)
        writer.start()
        size = 0
        while chunk := sock.recv(1 << 20):
            received.update(chunk)
            size += len(chunk)
        writer.join()
    assert size == len(payload)
    assert received.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert server.wait() == 0
    (closed,) = server.named("closed")
    assert closed["bytes_in"] == closed["bytes_out"] == 64 << 20


async def _client(path: str, rounds: int, seed: int) -> bool:
    reader, writer = await asyncio.open_unix_connection(path)
    rng = random.Random(seed)
    try:
        for _ in range(rounds):
            line = rng.randbytes(rng.randint(1, 4000))
            writer.write(line)
            if await reader.readexactly(len(line)) != line:
                return False
    finally:
        writer.close()
    return True


@pytest.mark.parametrize("loop", LOOPS)
def test_300_concurrent_clients(servers: list[Server], place: Path, loop: str) -> None:
    path = place / "many.sock"
    server = start(servers, f"unix:{path}", "--echo", env=_loop_env(loop))
    server.listening()

    async def everyone() -> list[bool]:
        return await asyncio.wait_for(asyncio.gather(
            *(_client(str(path), 20, n) for n in range(300))), timeout=120)

    assert all(asyncio.run(everyone()))
    assert server.stop() == 0
    assert len(server.named("closed")) == 300
    pids = {e["peer_cred"]["pid"] for e in server.named("accepted")}
    assert pids == {os.getpid()}
    assert server.named("stopped")[-1]["clients"] == 300
    assert not path.exists()


def test_count_iterative_max_clients_idle_timeout(servers: list[Server], place: Path) -> None:
    path = place / "bounded.sock"
    server = start(servers, f"unix:{path}", "--echo", "--max-clients", "1",
                   "--idle-timeout", "0.5")
    server.listening()
    first = socket.socket(socket.AF_UNIX)
    first.connect(str(path))
    server.event("accepted")
    second = socket.socket(socket.AF_UNIX)
    second.connect(str(path))
    turned = server.event("accepted")
    assert turned["served"] is False
    assert second.recv(10) == b""  # turned away: closed at once
    first.settimeout(10)
    assert first.recv(10) == b""  # cut after 0.5 s idle
    reasons = {e["reason"] for e in [server.event("closed"), server.event("closed")]}
    assert reasons == {"max-clients", "idle-timeout"}
    first.close()
    second.close()
    assert server.stop() == 0

    iterative = start(servers, f"unix:{path}", "--echo", "--iterative", "--count", "2")
    iterative.listening()
    one, two = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    for sock in (one, two):
        sock.settimeout(10)
        sock.connect(str(path))
    two.sendall(b"second")
    one.sendall(b"first")
    assert one.recv(10) == b"first"
    one.close()  # only now is the second served
    assert two.recv(10) == b"second"
    two.close()
    assert iterative.wait() == 0
    assert [e["client"]["id"] for e in iterative.named("accepted")] == [1, 2]


def test_mode_is_set_before_listen(servers: list[Server], place: Path) -> None:
    path = place / "mode.sock"
    server = start(servers, f"unix:{path}", "--mode", "0660", "--syscalls")
    server.listening()
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
    calls = [e["call"] for e in server.events if e["event"] == "syscall"]
    assert calls[:4] == ["socket", "bind", "chmod", "listen"]
    assert server.stop() == 0
    assert not path.exists()


# --- the socket file's rules --------------------------------------------------------------


def test_stale_file_is_reported_and_kept_without_unlink(place: Path) -> None:
    path = place / "stale.sock"
    stale_file(path)
    result = run("listen", f"unix:{path}", "--json")
    assert result.status == 4
    bind = next(e for e in result.events() if e["event"] == "bind")
    assert bind["errno"] == "EADDRINUSE"
    assert bind["why"]["kind"] == "stale"
    assert "--unlink replaces it" in bind["why"]["message"]
    assert f"netprobe: bind {path}: EADDRINUSE: {path} is a stale socket file: nothing " \
           "listens on it (srwxr-xr-x root:root, modified " in result.err
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_unlink_replaces_a_stale_file(servers: list[Server], place: Path) -> None:
    path = place / "stale.sock"
    stale_file(path)
    server = start(servers, f"unix:{path}", "--unlink", "--echo", "--count", "1",
                   "--syscalls")
    server.listening()
    calls = [(e["call"], e["errno"]) for e in server.events if e["event"] == "syscall"]
    assert calls == [("socket", None), ("bind", "EADDRINUSE"), ("socket", None),
                     ("connect", "ECONNREFUSED"), ("close", None), ("unlink", None),
                     ("bind", None), ("listen", None), ("ioctl", None)]
    assert socat("-", f"UNIX-CONNECT:{path}", data=b"back").stdout == b"back"
    assert server.wait() == 0
    assert not path.exists()


def test_unlink_never_removes_a_live_socket(servers: list[Server], place: Path) -> None:
    path = place / "live.sock"
    live = start(servers, f"unix:{path}", "--echo", "--count", "1")
    live.listening()
    inode = os.lstat(path).st_ino
    result = run("listen", f"unix:{path}", "--unlink", "--json", "--syscalls")
    assert result.status == 4
    bind = next(e for e in result.events() if e["event"] == "bind")
    assert bind["why"]["kind"] == "in-use"
    # With the listener's process, from the kernel's table.
    assert f"is bound by a SOCK_STREAM socket, pid {live.proc.pid} (" in bind["why"]["message"]
    assert [p["pid"] for s in bind["why"]["sockets"] for p in s["processes"]] == \
        [live.proc.pid]
    # The kernel's table answered: no probe connect disturbed the live server.
    assert [e["call"] for e in result.events() if e["event"] == "syscall"] == \
        ["socket", "bind", "close"]
    assert os.lstat(path).st_ino == inode
    # Still serving (its --count 1 was not used up by the second netprobe).
    assert socat("-", f"UNIX-CONNECT:{path}", data=b"alive").stdout == b"alive"
    assert live.wait() == 0


def test_unlink_never_removes_a_regular_file(place: Path) -> None:
    path = place / "notes.txt"
    path.write_text("precious\n")
    result = run("listen", f"unix:{path}", "--unlink")
    assert result.status == 4
    assert result.err.endswith(f"{path}: EADDRINUSE: {path} is a regular "
                               "file, not a socket: left untouched\n")
    assert path.read_text() == "precious\n"
    directory = place / "dir"
    directory.mkdir()
    result = run("listen", str(directory), "--unlink", "--json")
    assert result.status == 4
    assert next(e for e in result.events() if e["event"] == "bind")["why"]["kind"] == \
        "not-a-socket"
    assert directory.is_dir()


def test_the_file_is_left_alone_if_replaced_meanwhile(servers: list[Server],
                                                      place: Path) -> None:
    path = place / "swap.sock"
    server = start(servers, f"unix:{path}")
    server.listening()
    path.unlink()
    path.write_text("someone else's\n")
    assert server.stop(signal.SIGINT) == 0
    assert path.read_text() == "someone else's\n"


def test_bind_failures_say_why(place: Path) -> None:
    result = run("listen", f"{place}/nodir/x.sock")
    assert result.status == 4
    assert result.err.endswith(f"ENOENT: the directory {place}/nodir does not exist "
                               f"({place} does)\n")
    shut = place / "shut"
    shut.mkdir(mode=0o755)
    proc = subprocess.run([*NOBODY, *NETPROBE, "listen", f"{shut}/x.sock", "--json"],
                          capture_output=True, text=True, timeout=30, env=child_env())
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.endswith(
        f"EACCES: {shut} (drwxr-xr-x root:root) refuses write and search to uid 65534 "
        "(nobody) (groups 65534 (nogroup)): its other class lacks wx\n")


@pytest.mark.parametrize(("args", "message"), [
    (["unix:/" + "x" * 107], "the path is 108 bytes; sun_path holds 107 (108 with its NUL)"),
    (["unix:@x", "--mode", "0600"], "--mode: an abstract name has no file"),
    (["unix:/tmp/x.sock", "--mode", "rw"], "--mode is an octal mode"),
    (["unix:/tmp/x.sock", "-6"], "-6 does not apply to a Unix socket (nothing is resolved)"),
    (["unix:/tmp/x.sock", "--bind", "::1"], "--bind does not apply to a Unix socket"),
    (["unix:/tmp/x.sock", "--seqpacket"], "--seqpacket: listen serves streams"),
    (["8000", "--unlink"], "--unlink applies to a Unix socket"),
    (["unix:"], "unix: needs a PATH or @NAME"),
])
def test_usage_errors_before_any_call(args: list[str], message: str) -> None:
    result = run("listen", *args, "--json", "--syscalls")
    assert result.status == 2
    assert message in result.err
    events = result.events()
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["exit"] == 2


def test_the_server_stops_on_sigterm_and_removes_its_file(servers: list[Server],
                                                          place: Path) -> None:
    path = place / "term.sock"
    server = start(servers, f"unix:{path}", "--echo")
    server.listening()
    assert path.exists()
    time.sleep(0.1)
    assert server.stop() == 0
    assert server.named("stopped")
    assert not path.exists()


@pytest.mark.parametrize("loop", LOOPS)
def test_datagrams_echoed_to_named_senders(servers: list[Server], place: Path,
                                           loop: str) -> None:
    path = place / "dgram.sock"
    server = start(servers, f"unix:{path}", "--udp", "--echo", "--count", "3",
                   env=_loop_env(loop))
    assert server.listening()["sockets"][0]["socktype"] == "SOCK_DGRAM"
    replies = []
    for name in ("", "\0np-dgram-named", None):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            if name is not None:
                sock.bind(name)  # "" is autobind: the kernel picks an abstract name
            sock.settimeout(0.5 if name is None else 10)
            sock.sendto(b"x" * 100_000, str(path))  # more than UDP could carry
            try:
                replies.append(len(sock.recv(200_000)))
            except TimeoutError:
                replies.append(None)
    assert replies == [100_000, 100_000, None]  # an unnamed sender cannot be answered
    assert server.wait() == 0
    senders = [e["client"]["address"] for e in server.named("data")]
    assert senders[0].startswith("@") and senders[1:] == ["@np-dgram-named", ""]
    assert server.named("stopped")[-1]["datagrams"] == 3
    assert not path.exists()
