"""stdout and stderr inherited non-blocking (netprobe.stdio): a full pipe is waited for.

Each CLI test hands netprobe a pipe whose write end is O_NONBLOCK (as a CI
runner's event loop, or a terminal a crashed program left so, hands it) and
reads it only after a second, so the pipe (64 KiB) fills long before the
run ends.  Before, the JSON path died with a BlockingIOError traceback and
rich dropped whatever did not fit, with exit status 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest

from netprobe.errors import StdoutClosed
from netprobe.stdio import write_all
from tests.helpers import NETPROBE, child_env

#: How long the reader waits before it reads anything: the pipe is full by then.
LATE = 1.0


def run_non_blocking(args: list[str], stream: str) -> tuple[int, bytes, bytes]:
    """``netprobe ARGS`` with ``stream`` (stdout or stderr) a non-blocking pipe read late;
    (status, stdout, stderr)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    streams = ({"stdout": write_end, "stderr": subprocess.PIPE} if stream == "stdout"
               else {"stdout": subprocess.PIPE, "stderr": write_end})
    proc = subprocess.Popen([*NETPROBE, *args], stdin=subprocess.DEVNULL, env=child_env(),
                            **streams)  # type: ignore[call-overload]
    os.close(write_end)
    other = proc.stderr if stream == "stdout" else proc.stdout
    assert other is not None
    kept: list[bytes] = []
    reader = threading.Thread(target=lambda: kept.append(other.read()))
    reader.start()
    time.sleep(LATE)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    reader.join(60)
    status = proc.wait(60)
    late = b"".join(chunks)
    return (status, late, kept[0]) if stream == "stdout" else (status, kept[0], late)


def test_json_lines_wait_for_a_full_non_blocking_stdout(closing_listener: int) -> None:
    status, out, err = run_non_blocking(
        ["connect", "127.0.0.1", str(closing_listener), "--count", "1500", "--interval", "0",
         "--json"], "stdout")
    assert (status, err) == (0, b"")
    assert len(out) > 1 << 17  # twice what the pipe holds: it was full, and waited for
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["resolved", *["probe"] * 1500, "probe_stats"]
    assert [e["seq"] for e in events[1:-1]] == list(range(1, 1501))
    assert events[-1]["sent"] == events[-1]["ok"] == 1500


def test_human_lines_wait_for_a_full_non_blocking_stdout(closing_listener: int) -> None:
    # rich writes through sys.stdout: the stream netprobe.stdio replaces.
    status, out, err = run_non_blocking(
        ["connect", "127.0.0.1", str(closing_listener), "--count", "2000", "--interval", "0"],
        "stdout")
    assert status == 0, err
    assert b"Traceback" not in err
    lines = out.decode().splitlines()
    assert len(out) > 1 << 16
    numbers = [int(line.split()[0]) for line in lines if f"127.0.0.1:{closing_listener}" in line]
    assert numbers == list(range(1, 2001))
    assert "2000 sent, 2000 ok, 0 failed, 0% loss" in lines


def test_the_trace_waits_for_a_full_non_blocking_stderr(closing_listener: int) -> None:
    status, out, err = run_non_blocking(
        ["connect", "127.0.0.1", str(closing_listener), "--count", "300", "--interval", "0",
         "--syscalls"], "stderr")
    assert status == 0
    assert len(err) > 1 << 16
    text = err.decode()
    assert "Traceback" not in text
    # Each probe's socket, its two connects and its close, every one of them written.
    assert text.count(" socket(AF_INET, SOCK_STREAM") == 300
    assert text.count(" connect(") == 600
    assert "300 sent, 300 ok, 0 failed, 0% loss" in out.decode()


def test_write_all_waits_for_a_full_non_blocking_pipe() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    data = bytes(range(256)) * 2048  # 512 KiB: eight pipes' worth
    got = bytearray()

    def read_late() -> None:
        time.sleep(0.3)
        while chunk := os.read(read_end, 1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=read_late)
    reader.start()
    write_all(write_end, data)
    os.close(write_end)
    reader.join(30)
    os.close(read_end)
    assert bytes(got) == data


def test_write_all_to_a_closed_reader_is_stdout_closed() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with pytest.raises(StdoutClosed):
            write_all(write_end, b"x")
    finally:
        os.close(write_end)
