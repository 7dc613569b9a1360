#!/usr/bin/env python3
"""``netprobe sockets`` with 10 000 TCP sockets open on loopback, against ``ss -tanp``.

A holder process opens N/2 connections to a loopback listener of its own and
accepts them (N sockets, plus the listener), then the two commands run
interleaved, so machine noise hits both alike:

    ss        ss -tanp                                  (every TCP socket, with processes)
    netprobe  netprobe sockets --all --tcp --json       (the same rows)
    listening netprobe sockets --json                   (the default: listeners only)

Targets (issue 19): netprobe within 2x ss's median wall time, measured in
the same run, and its peak RSS under 100 MiB.  ``--check`` exits 1 when a
target is missed.  Loopback only, in a network namespace of its own when
run as root (``unshare --net``), so that the machine's other sockets (a
test run's thousands of TIME_WAIT remnants) do not count; ``--host`` not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import netprobe_command

RATIO_TARGET = 2.0
RSS_TARGET_MIB = 100.0

HOLDER = r"""
import resource, socket, sys
pairs = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
wanted = 2 * pairs + 64
# Raising the hard limit needs root (CAP_SYS_RESOURCE); the soft one never does.
resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted) if hard >= 0 else hard))
server = socket.create_server(("127.0.0.1", 0), backlog=4096)
held = []
for _ in range(pairs):
    held.append(socket.create_connection(server.getsockname()))
    held.append(server.accept()[0])
print(server.getsockname()[1], flush=True)
sys.stdin.read()
"""


#: GNU time: the peak RSS of the command alone.  A child of this script would
#: count this script's own memory too (fork copies it, and exec keeps the old
#: high-water mark); time's is a few hundred KiB.
GNU_TIME = shutil.which("time") or "/usr/bin/time"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float | None, int]:
    """(wall seconds, peak RSS in MiB or None without GNU time, lines written) of one run."""
    measured = os.path.exists(GNU_TIME)
    # Output to a file (as a CI job keeps it), not a pipe this script would have to drain
    # while it runs, competing with it for the CPU.
    with tempfile.NamedTemporaryFile("r") as report, tempfile.TemporaryFile() as output:
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", report.name, *argv] if measured else argv
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=output, stderr=subprocess.DEVNULL, env=env,
                              check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
        peak = float(report.read().split()[-1]) / 1024.0 if measured else None
        output.seek(0)
        lines = output.read().count(b"\n")
    return wall, peak, lines


def in_own_namespace() -> None:
    """Re-run this script in a network namespace of its own (root, unshare): only the
    held sockets are in its table, whatever else runs on the machine."""
    if os.environ.get("NETPROBE_BENCH_NETNS") == "1" or os.geteuid() != 0 \
            or shutil.which("unshare") is None or "--host" in sys.argv:
        return
    os.environ["NETPROBE_BENCH_NETNS"] = "1"
    script = 'ip link set lo up && exec "$0" "$@"'
    os.execvp("unshare", ["unshare", "--net", "sh", "-c", script, sys.executable,
                          *sys.argv])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10000, help="TCP sockets to hold")
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    parser.add_argument("--netprobe", help="the netprobe command (default: the installed one)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--host", action="store_true",
                        help="in this namespace (the machine's other sockets count too)")
    args = parser.parse_args()
    in_own_namespace()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(args.sockets // 2)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    port = holder.stdout.readline().decode().strip()
    netprobe = netprobe_command(args.netprobe)
    commands = {
        "ss": ["ss", "-tanp"],
        "netprobe": [*netprobe, "sockets", "--all", "--tcp", "--json"],
        "listening": [*netprobe, "sockets", "--json"],
    }
    env = dict(os.environ)
    try:
        for argv in commands.values():  # warm the page cache and .pyc files
            timed(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        rss: dict[str, float | None] = dict.fromkeys(commands, None)
        rows: dict[str, int] = {}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, peak, lines = timed(argv, env)
                walls[name].append(wall)
                if peak is not None:
                    rss[name] = max(rss[name] or 0.0, peak)
                rows[name] = lines
    finally:
        holder.stdin.close()
        holder.wait()
    median = {name: statistics.median(values) for name, values in walls.items()}
    ratio = median["netprobe"] / median["ss"]
    print(f"{args.sockets} TCP sockets held on 127.0.0.1:{port}; {args.runs} interleaved "
          f"runs each; netprobe: {' '.join(netprobe)}")
    for name, argv in commands.items():
        peak = rss[name]
        shown = f"{peak:5.1f} MiB" if peak is not None else "n/a (no GNU time)"
        print(f"{name:9} median {median[name] * 1000:7.1f} ms  peak RSS {shown}"
              f"  {rows[name]:6} lines  ({' '.join(argv)})")
    met_ratio = ratio <= RATIO_TARGET
    netprobe_peak = rss["netprobe"]
    met_rss = netprobe_peak is not None and netprobe_peak < RSS_TARGET_MIB
    rss_text = f"{netprobe_peak:.1f} MiB" if netprobe_peak is not None else "not measured"
    print(f"netprobe / ss = {ratio:.2f}x (target <= {RATIO_TARGET}x: "
          f"{'met' if met_ratio else 'MISSED'}); RSS {rss_text} "
          f"(target < {RSS_TARGET_MIB:g} MiB: {'met' if met_rss else 'MISSED'})")
    return 0 if (met_ratio and met_rss) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
