#!/usr/bin/env python3
"""Start-up time of netprobe against the floor of any Python resolver call.

Interleaved runs (so machine noise hits every command alike), median wall
time of each, and the ratios against the floor measured in the same run:

    floor  python -c "import socket; socket.getaddrinfo('localhost', None)"
    json   netprobe resolve localhost --json
    human  netprobe resolve localhost
    explain  netprobe resolve localhost --explain --json

Targets (issue 8, tightened from issue 2's 2.5x and 3.8x): json <= 2.35x
the floor, human <= 3.6x; (issue 9) explain <= 1.3x json (the answer comes
from /etc/hosts: no DNS import).  ``--check``
exits 1 when a target is missed.  Uses the ``netprobe`` script installed
beside this interpreter (as users run it), else ``python -m netprobe``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from benchlib import netprobe_command

TARGETS = {"json": 2.35, "human": 3.6}
#: Targets against the json run rather than the floor.
TARGETS_VS_JSON = {"explain": 1.3}


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (>= 20)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    netprobe = netprobe_command()
    commands = {
        "floor": [sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', None)"],
        "json": [*netprobe, "resolve", "localhost", "--json"],
        "human": [*netprobe, "resolve", "localhost"],
        "explain": [*netprobe, "resolve", "localhost", "--explain", "--json"],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for argv in commands.values():  # warm the page cache and .pyc files
        wall_time(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(max(args.runs, 20)):
        for name, argv in commands.items():
            times[name].append(wall_time(argv, env))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"netprobe: {' '.join(netprobe)}  ({max(args.runs, 20)} interleaved runs each)")
    ok = True
    for name, value in median.items():
        line = f"{name:7} median {value * 1000:7.1f} ms"
        if name in TARGETS:
            ratio = value / median["floor"]
            met = ratio <= TARGETS[name]
            ok &= met
            verdict = "met" if met else "MISSED"
            line += f"   {ratio:4.2f}x floor (target <= {TARGETS[name]}x: {verdict})"
        if name in TARGETS_VS_JSON:
            ratio = value / median["json"]
            met = ratio <= TARGETS_VS_JSON[name]
            ok &= met
            verdict = "met" if met else "MISSED"
            line += f"   {ratio:4.2f}x json (target <= {TARGETS_VS_JSON[name]}x: {verdict})"
        print(line)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
