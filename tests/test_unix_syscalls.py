"""``--syscalls`` on Unix sockets against strace: the same calls, drawn the same way.

netprobe draws a call as strace does (``{sa_family=AF_UNIX, sun_path="..."}``,
``sun_path=@"name"`` for the abstract namespace, ``{pid=..., uid=..., gid=...}``
for SO_PEERCRED), so the lines themselves are compared: netprobe's numbered
lines (number, timing and ``[by uvloop]`` taken off) against strace's for
the calls listed, in order.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import NETPROBE, child_env

CALLS = ("socket", "bind", "connect", "listen", "chmod", "unlink", "getsockopt",
         "setsockopt")
_NETPROBE_LINE = re.compile(r"^\s*\d+ (?P<call>\w+)\((?P<rest>.*?)(?:\s+<[^>]*>)?"
                            r"(?:\s+\[by \w+\])?$")
_STRACE_LINE = re.compile(r"^\d+\s+(?P<call>\w+)\((?P<rest>.*)$")

def _tidy(call: str, rest: str) -> str:
    spaced = re.sub(r"\s+=", " =", rest)  # strace pads before " = " to a column
    return f"{call}({spaced}"


def netprobe_lines(text: str, calls: Sequence[str] = CALLS) -> list[str]:
    found = []
    for line in text.splitlines():
        match = _NETPROBE_LINE.match(line)
        if match and match["call"] in calls:
            found.append(_tidy(match["call"], match["rest"]))
    return found


def strace_lines(text: str, calls: Sequence[str] = CALLS) -> list[str]:
    """strace's lines for the calls, but the interpreter's own (files, not sockets)."""
    found = []
    for line in text.splitlines():
        match = _STRACE_LINE.match(line)
        if not match or match["call"] not in calls:
            continue
        if match["call"] == "socket" and "AF_UNIX" not in match["rest"]:
            continue
        if match["call"] == "unlink" and ".sock" not in match["rest"]:
            continue
        found.append(_tidy(match["call"], match["rest"]))
    return found


def traced(args: Sequence[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=" + ",".join(CALLS),
                             "-o", str(log), *NETPROBE, *args, "--syscalls"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                            **kwargs)  # type: ignore[call-overload]


def test_listen_calls_as_strace_sees_them(place: Path) -> None:
    path = place / "traced.sock"
    log = place / "strace.log"
    server = traced(["listen", f"unix:{path}", "--mode", "0600", "--count", "1", "--echo"],
                    log)
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, "netprobe did not bind under strace"
        time.sleep(0.05)
    time.sleep(0.3)
    subprocess.run(["socat", "-", f"UNIX-CONNECT:{path}"], input=b"hi", timeout=20,
                   check=True, capture_output=True)
    _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err.decode()
    mine = netprobe_lines(err.decode())
    theirs = strace_lines(log.read_text())
    assert mine == theirs, "\n".join(["netprobe:", *mine, "strace:", *theirs])
    assert f'bind(3, {{sa_family=AF_UNIX, sun_path="{path}"}}, {len(str(path)) + 3}) = 0' \
        in mine
    assert f'chmod("{path}", 0600) = 0' in mine
    assert any("SO_PEERCRED, {pid=" in line for line in mine)
    assert mine[-1] == f'unlink("{path}") = 0'


def test_abstract_names_are_drawn_with_an_at(place: Path) -> None:
    name = f"np-strace-{os.getpid()}"
    log = place / "strace.log"
    server = traced(["listen", f"unix:@{name}", "--count", "1"], log)
    deadline = time.monotonic() + 20
    while f"@{name}" not in Path("/proc/net/unix").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    subprocess.run(["socat", "-", f"ABSTRACT-CONNECT:{name}"], input=b"", timeout=20,
                   check=True, capture_output=True)
    try:
        _, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
    mine = netprobe_lines(err.decode())
    assert mine == strace_lines(log.read_text())
    assert f'bind(3, {{sa_family=AF_UNIX, sun_path=@"{name}"}}, {len(name) + 3}) = 0' in mine


def _sndtimeo(lines: list[str]) -> list[str]:
    """SO_SNDTIMEO's line without its value: strace 6 names the option SO_SNDTIMEO_OLD (the
    kernel's name for the userspace SO_SNDTIMEO of 64-bit systems) and prints the timeval
    as bytes; the time left of --timeout differs by microseconds anyway."""
    return [re.sub(r"SO_SNDTIMEO(_OLD)?, .*, 16\) = 0", "SO_SNDTIMEO, ..., 16) = 0", line)
            for line in lines]


@pytest.mark.parametrize("kind", ["stream", "dgram"])
def test_connect_calls_as_strace_sees_them(place: Path, kind: str) -> None:
    path = place / f"{kind}.sock"
    sock = socket.socket(socket.AF_UNIX,
                         socket.SOCK_STREAM if kind == "stream" else socket.SOCK_DGRAM)
    sock.bind(str(path))
    if kind == "stream":
        sock.listen()
    log = place / "strace.log"
    with sock:
        client = traced(["connect", str(path), "-z", *(["--udp"] if kind == "dgram" else [])],
                        log)
        _, err = client.communicate(timeout=30)
    assert client.returncode == 0, err.decode()
    mine = _sndtimeo(netprobe_lines(err.decode()))
    theirs = _sndtimeo(strace_lines(log.read_text()))
    assert mine == theirs, "\n".join(["netprobe:", *mine, "strace:", *theirs])
    length = len(str(path)) + 3
    assert f'connect(3, {{sa_family=AF_UNIX, sun_path="{path}"}}, {length}) = 0' in mine
    if kind == "dgram":
        assert "bind(3, {sa_family=AF_UNIX}, 2) = 0" in mine  # autobind
    else:
        assert any(f"SO_PEERCRED, {{pid={os.getpid()}, " in line for line in mine)
