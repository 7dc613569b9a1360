"""``why`` costs nothing on the success path: nothing of the kernel's side is imported (or read)
unless an attempt or a bind failed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import NETPROBE, Namespace, child_env, imported_by

KERNEL_SIDE = ("netprobe.kernel", "netprobe.netlink")


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def kernel_side(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(KERNEL_SIDE)}


@pytest.mark.parametrize("extra", [[], ["--json"], ["--happy-eyeballs"], ["--wait", "5"]])
def test_a_successful_connect_loads_nothing_of_the_kernels_side(listener: int,
                                                               extra: list[str]) -> None:
    modules = imported_by("connect", "127.0.0.1", str(listener), "-z", *extra)
    assert kernel_side(modules) == set()


def test_a_successful_check_loads_nothing_of_the_kernels_side(listener: int) -> None:
    modules = imported_by("check", f"127.0.0.1:{listener}", "--json")
    assert kernel_side(modules) == set()


def imports_in(ns: Namespace, *args: str) -> tuple[int, set[str]]:
    """(status, every module imported) of ``netprobe ARGS`` inside the namespace."""
    proc = subprocess.run([*ns.prefix, NETPROBE[0], "-X", "importtime", *NETPROBE[1:], *args],
                          capture_output=True, env=child_env(), timeout=60)
    return proc.returncode, {line.rsplit("|", 1)[1].strip()
                             for line in proc.stderr.decode().splitlines()
                             if line.startswith("import time:") and "|" in line}


def test_a_failed_attempt_is_what_loads_it() -> None:
    # dual.test is ::1 first (nothing listens there), then 127.0.0.1 (which connects).
    ns = Namespace(hosts="127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n")
    try:
        server = ns.popen([sys.executable, "-c", HOLD_V4], stdout=subprocess.PIPE,
                          stdin=subprocess.PIPE)
        assert server.stdout is not None and server.stdout.readline() == b"ready\n"
        status, modules = imports_in(ns, "connect", "dual.test", "4242", "-z")
        both, _ = imports_in(ns, "connect", "127.0.0.1", "4242", "-z")
        _, clean = imports_in(ns, "connect", "127.0.0.1", "4242", "-z")
    finally:
        ns.close()
    assert status == 0 and both == 0
    assert {"netprobe.kernel.why", "netprobe.netlink.diag"} <= kernel_side(modules)
    assert kernel_side(clean) == set()


HOLD_V4 = ("import socket, sys; s = socket.create_server(('127.0.0.1', 4242)); "
           "print('ready', flush=True); sys.stdin.read()")


def test_the_why_reads_are_not_among_the_attempts_syscalls() -> None:
    # The design decision in netprobe/kernel/why.py: --syscalls shows the attempt's calls.
    from tests.helpers import free_port, run

    result = run("connect", "127.0.0.1", str(free_port()), "--syscalls", "--json")
    events = result.events()
    calls = [e for e in events if e["event"] == "syscall"]
    assert [e["call"] for e in calls if e["call"] in ("socket", "connect", "close")] == [
        "socket", "connect", "connect", "close"]
    assert not any(e["args"].get("domain") == "AF_NETLINK" for e in calls)
    [attempt] = [e for e in events if e["event"] == "attempt"]
    assert attempt["why"]["kind"] == "no-listener"
