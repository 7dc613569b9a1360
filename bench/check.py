#!/usr/bin/env python3
"""``netprobe check``: 1000 loopback targets at --parallel 256 against a bare asyncio script.

The targets: half are open (a listening socket each, held by this process;
the kernel completes the handshake without accept()), half are closed (a
socket bound but never listening, so the port stays reserved and a SYN gets
a RST).  Their order is interleaved, open, closed, open, ...

The reference is the least a Python program can do for the same job: an
asyncio script that opens the same connections with the same parallelism (a
semaphore of 256) and closes them, with no output but two counts.  Both run
as processes from the start of the interpreter to exit, interleaved (noise
hits both alike); the median wall time of each is compared.  netprobe runs
twice per round: ``--json`` to a file (what CI parses) and the human output
on a pipe (the results table).  Peak RSS of each process comes from
``wait4()``'s rusage, so only that process is counted.  Each command runs
once before timing (page cache, .pyc files), and without
PYTHONDONTWRITEBYTECODE, as an installed copy runs.

Targets: netprobe <= 1.5x the bare script's wall time; peak RSS < 100 MiB.

Runs from a clean clone: ``python bench/check.py [--runs 5] [--targets 1000]
[--parallel 256] [--netprobe CMD] [--check]``; ``--check`` exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import netprobe_command

RATIO_TARGET = 1.5
RSS_TARGET_MIB = 100.0

BARE = r'''
import asyncio, sys

async def main() -> None:
    targets = [line.rsplit(":", 1) for line in open(sys.argv[1]).read().split()]
    gate = asyncio.Semaphore(int(sys.argv[2]))

    async def one(host: str, port: str) -> bool:
        async with gate:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
            except OSError:
                return False
            writer.close()
            return True

    results = await asyncio.gather(*(one(host, port) for host, port in targets))
    print(sum(results), len(results) - sum(results))

asyncio.run(main())
'''


def listeners(count: int) -> tuple[list[socket.socket], list[str], set[str]]:
    """``count`` targets on 127.0.0.1, half open and half closed, interleaved."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY
                                                    else min(wanted, hard), hard))
    held: list[socket.socket] = []
    targets: list[str] = []
    opened: set[str] = set()
    for n in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if n % 2 == 0:
            sock.listen(4096)
        held.append(sock)
        target = f"127.0.0.1:{sock.getsockname()[1]}"
        targets.append(target)
        if n % 2 == 0:
            opened.add(target)
    return held, targets, opened


#: As installed: .pyc files written and used (an environment that sets
#: PYTHONDONTWRITEBYTECODE would make netprobe compile its modules at every
#: start, which no installed copy does).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], stdout: int) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=256)
    parser.add_argument("--netprobe", default=None, help="command to run (default: found)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    netprobe = netprobe_command(args.netprobe)
    held, targets, opened = listeners(args.targets)
    walls: dict[str, list[float]] = {"bare asyncio": [], "check --json": [], "check (table)": []}
    rss: dict[str, float] = dict.fromkeys(walls, 0.0)
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-") as tmp:
        listing = Path(tmp) / "targets.txt"
        listing.write_text("\n".join(targets) + "\n")
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        out = Path(tmp) / "out"
        check = [*netprobe, "check", "-f", str(listing), "--parallel", str(args.parallel)]
        commands = {"bare asyncio": [sys.executable, str(bare), str(listing), str(args.parallel)],
                    "check --json": [*check, "--json"], "check (table)": check}
        try:
            for argv in commands.values():  # warm the page cache and the .pyc files
                with out.open("wb") as sink:
                    timed(argv, sink.fileno())
            for _ in range(args.runs):
                for name, argv in commands.items():
                    with out.open("wb") as sink:
                        wall, peak, status = timed(argv, sink.fileno())
                    verify(name, out.read_text(), status, targets, opened)
                    walls[name].append(wall)
                    rss[name] = max(rss[name], peak)
        finally:
            for sock in held:
                sock.close()

    base = statistics.median(walls["bare asyncio"])
    ok = True
    print(f"{args.targets} loopback targets (half open, half closed), --parallel {args.parallel}, "
          f"median of {args.runs} runs:")
    figures: dict[str, dict[str, float]] = {}
    for name in walls:
        median = statistics.median(walls[name])
        ratio = median / base
        line = f"  {name:15} {median * 1000:8.0f} ms  {ratio:5.2f}x  peak RSS {rss[name]:6.1f} MiB"
        if name != "bare asyncio":
            good = ratio <= RATIO_TARGET and rss[name] < RSS_TARGET_MIB
            ok &= good
            line += f"   target <= {RATIO_TARGET}x, < {RSS_TARGET_MIB:g} MiB: " \
                    f"{'ok' if good else 'MISSED'}"
        print(line)
        figures[name] = {"ms": round(median * 1000, 1), "ratio": round(ratio, 3),
                         "rss_mib": round(rss[name], 1)}
    print(json.dumps(figures))
    return 0 if ok or not args.check else 1


def verify(name: str, output: str, status: int, targets: list[str], opened: set[str]) -> None:
    """Each run must have found exactly the open and the closed targets."""
    half = (len(opened), len(targets) - len(opened))
    if name == "bare asyncio":
        counts = tuple(int(n) for n in output.split())
        if status != 0 or counts != half:
            raise SystemExit(f"{name}: exit {status}, counts {counts}, expected {half}")
        return
    expected_status = 4 if len(opened) < len(targets) else 0
    if status != expected_status:
        raise SystemExit(f"{name}: exit {status}, expected {expected_status}")
    if name == "check --json":
        summary = json.loads(output.splitlines()[-1])
        wrong = [t["target"] for t in summary["targets"]
                 if t["ok"] != (t["target"] in opened)]
        if summary["event"] != "summary" or (summary["ok"], summary["failed"]) != half or wrong:
            raise SystemExit(f"{name}: wrong verdicts for {wrong[:5]} ...")
    else:
        rows = output.splitlines()[1:]
        connected = {row.split()[0] for row in rows if row.split()[1] == "connected"}
        if len(rows) != len(targets) or connected != opened:
            raise SystemExit(f"{name}: the table does not match the targets")


if __name__ == "__main__":
    sys.exit(main())
