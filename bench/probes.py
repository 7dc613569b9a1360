#!/usr/bin/env python3
"""``netprobe connect --count``: probes per second against a bare loop, and memory over a long run.

1. ``connect 127.0.0.1 PORT --count 2000 --interval 0 --json`` (stdout read
   and counted) against a bare Python loop making the same 2000 connects
   and closes (``socket.socket(); connect(); close()``), each a fresh
   process, start-up included on both sides, interleaved, median of the
   runs.  The listener is a separate process that accepts and closes.
   Target: netprobe within 2x the loop.  For scale, also measured: the
   same loop making a probe's own calls (a non-blocking socket, connect,
   connect again, close) and writing a JSON line each, which is the least any
   probe that makes those calls can cost; netprobe's start-up (``--count
   1``); and from the two, the least a run of probes can take with that
   start-up (start-up, then the calls loop without its interpreter's start-up).

2. RSS over a long run: ``--count 100000 --interval 0 --json``, stdout
   read (and its lines counted) by this script; the child's peak RSS from
   wait4().  Target: under 100 MiB: the events are streamed and only the
   times the statistics need are kept (8 bytes a probe).

Loopback only.  ``python bench/probes.py [--runs 7] [--probes 2000]
[--long 100000] [--check]``; ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import netprobe_command  # noqa: E402

from tests.helpers import child_env  # noqa: E402

#: As users run it: the ``netprobe`` script beside this interpreter when there is one
#: (``python -m netprobe`` also pays for runpy, some 10 ms of start-up).
NETPROBE = netprobe_command()

RATIO_TARGET = 2.0
RSS_TARGET_MIB = 100.0

ACCEPTOR = r"""
import socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(4096)
print(server.getsockname()[1], flush=True)
while True:
    client, _ = server.accept()
    client.close()
"""

#: A probe's kernel calls and a line of output, with nothing else: the floor.  The
#: calls are netprobe's (netprobe.syscalls.connect_with_timeout): a socket made
#: non-blocking by socket(), connect() = EINPROGRESS, connect() again for the verdict
#: (0: the loopback handshake is done before the first returns), and only while it
#: says EALREADY poll() and getsockopt(SO_ERROR).
CALLS_LOOP = r"""
import errno, select, socket, sys
address = ("127.0.0.1", int(sys.argv[1]))
line = '{"event":"probe","seq":1,"outcome":"ok","elapsed_ms":0.05}\n'
kind = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
for _ in range(int(sys.argv[2])):
    sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_TCP)
    sock.connect_ex(address)
    if sock.connect_ex(address) == errno.EALREADY:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)
        poller.poll(10000)
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    sock.close()
    sys.stdout.write(line)
    sys.stdout.flush()
"""

BARE_LOOP = r"""
import socket, sys
address = ("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    sock = socket.socket()
    sock.connect(address)
    sock.close()
"""


def bench_env() -> dict[str, str]:
    """The tests' environment without the two variables that make a run unlike a user's:
    PYTHONDONTWRITEBYTECODE (every changed module compiled anew at each start) and
    PYTHONUNBUFFERED.  (bench/startup.py drops every PYTHON* variable for the same reason.)"""
    env = child_env()
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        env.pop(name, None)
    return env


def timed(argv: list[str], expect_lines: int | None = None) -> tuple[float, int, int]:
    """(seconds, stdout lines, peak RSS in KiB) of one child, stdout read as it comes."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=bench_env())
    assert proc.stdout is not None
    lines = sum(chunk.count(b"\n") for chunk in iter(lambda: proc.stdout.read(1 << 16), b""))
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:6]}... exited {proc.returncode}")
    if expect_lines is not None and lines != expect_lines:
        raise SystemExit(f"expected {expect_lines} lines, got {lines}")
    return elapsed, lines, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--long", type=int, default=100_000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    acceptor = subprocess.Popen([sys.executable, "-c", ACCEPTOR], stdout=subprocess.PIPE)
    assert acceptor.stdout is not None
    port = acceptor.stdout.readline().decode().strip()
    missed = []
    try:
        probes = [*NETPROBE, "connect", "127.0.0.1", port, "--count", str(args.probes),
                  "--interval", "0", "--json"]
        bare = [sys.executable, "-c", BARE_LOOP, port, str(args.probes)]
        calls = [sys.executable, "-c", CALLS_LOOP, port, str(args.probes)]
        one = [*NETPROBE, "connect", "127.0.0.1", port, "--count", "1", "--interval", "0",
               "--json"]
        timed(one, 3)  # writes the .pyc files a user's first run would
        nothing = [sys.executable, "-c", "pass"]
        ours, theirs, floors, starts, pythons = [], [], [], [], []
        for _ in range(args.runs):
            # resolved + one probe event each + probe_stats
            ours.append(timed(probes, args.probes + 2)[0])
            theirs.append(timed(bare)[0])
            floors.append(timed(calls, args.probes)[0])
            starts.append(timed(one, 3)[0])
            pythons.append(timed(nothing)[0])
        mine, loop = statistics.median(ours), statistics.median(theirs)
        floor, start = statistics.median(floors), statistics.median(starts)
        python = statistics.median(pythons)
        ratio = mine / loop
        print(f"{args.probes} probes: netprobe --count {mine:.3f} s "
              f"({args.probes / mine:.0f}/s), bare loop {loop:.3f} s "
              f"({args.probes / loop:.0f}/s); ratio {ratio:.2f}x (target <= {RATIO_TARGET}x; "
              f"runs: {', '.join(f'{a:.3f}/{b:.3f}' for a, b in zip(ours, theirs, strict=True))})")
        print(f"for scale: netprobe's start-up (--count 1) {start:.3f} s "
              f"({start / loop:.2f}x the loop); a loop making a probe's calls {floor:.3f} s "
              f"({floor / loop:.2f}x); per probe: netprobe "
              f"{(mine - start) / (args.probes - 1) * 1e6:.1f} us, the calls alone "
              f"{floor / args.probes * 1e6:.1f} us, the bare loop "
              f"{loop / args.probes * 1e6:.1f} us "
              f"(each start-up included in the last two)")
        # The least any run of probes can take with netprobe's start-up: that start-up,
        # then a probe's own calls and line at the calls loop's pace (its interpreter's
        # start-up taken out).  Above the target, no per-probe work can meet it.
        least = start + floor - python
        print(f"the least with this start-up: netprobe's start-up + the calls loop without "
              f"its interpreter's ({python:.3f} s) = {least:.3f} s, {least / loop:.2f}x the loop")
        if ratio > RATIO_TARGET:
            missed.append("ratio")
        long = [*NETPROBE, "connect", "127.0.0.1", port, "--count", str(args.long),
                "--interval", "0", "--json"]
        seconds, lines, rss = timed(long, args.long + 2)
        mib = rss / 1024
        print(f"{args.long} probes: {seconds:.1f} s, {lines} lines streamed, peak RSS "
              f"{mib:.1f} MiB (target < {RSS_TARGET_MIB:g} MiB)")
        if mib >= RSS_TARGET_MIB:
            missed.append("rss")
    finally:
        acceptor.kill()
        acceptor.wait()
    if missed and args.check:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
