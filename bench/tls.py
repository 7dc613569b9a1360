#!/usr/bin/env python3
"""``connect --tls`` throughput, one direction at a time, against ``socat - OPENSSL:``.

An echo round trip (bench/connect.py) measures the echo server as much as
the client: socat's TLS echo relays through ``cat`` 8 KiB at a time, and
both clients end up waiting for it.  Here each direction is measured
alone, against socat servers that move 128 KiB a read (``-b``), so that
they cost less than the clients:

* upload: N MiB from a file on stdin to socat's TLS sink
  (``socat -u OPENSSL-LISTEN:... /dev/null``): the client's reads,
  encryption and sends;
* download: N MiB from socat's TLS source (``socat -U OPENSSL-LISTEN:...
  OPEN:payload``, the file opened afresh per connection) to /dev/null:
  the client's receives, decryption and writes.

The clients, on the same servers, interleaved run by run and alternating
who goes first (noise hits all alike): ``netprobe connect 127.0.0.1 PORT
--tls --insecure -q`` and socat as a client (``socat -u - OPENSSL:...``
for upload, ``socat -u OPENSSL:... -`` for download: ``-u`` because a
bidirectional socat ends 0.5 s after stdin's EOF, which would cut a
download short).  Every client first moves the payload once into a file,
compared in size.

Each run is the whole command, as a user pays for it.  Two figures per
client, medians of the runs: the whole command (payload over wall time:
start-up, handshake and teardown included, where a Python program's ~0.1 s
start-up weighs against socat's ~0.02 s), and the data phase (payload over
the whole command's time minus that of the same command moving nothing,
against a server with an empty file or with empty stdin).  The target,
netprobe >= 1.0x socat each way, holds for both figures: the whole command
is what a user pays (issue 17), the data phase is where netprobe's relay
stands alone.  ``--check`` exits 1 when either is missed.

Beside each client's figures: the server's CPU time per run moving the
payload (its connection's forked child, user + system, 10 ms ticks).  A
client faster than the server waits for it: when the data phase is no
longer than that, the server is what bounds it, not the client.

``--compare TREE`` adds the netprobe of another checkout (e.g. the commit
before a change) as a third client in the same interleaving, so before and
after are measured in one run.  Loopback only.

``python bench/tls.py [--mib 256] [--runs 5] [--compare /path/to/checkout] [--check]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import NETPROBE, child_env, free_port, wait_for_port  # noqa: E402

TARGET = 1.0
#: The servers' read size (socat -b).
SERVER_BLOCK = 128 * 1024
DIRECTIONS = ("upload", "download")


class Run(NamedTuple):
    """One run of a client: wall time and the CPU time it used (user + system), seconds."""

    wall: float
    cpu: float


def served_cpu(pid: int) -> float:
    """CPU seconds of the server's finished connections (its reaped children's, /proc)."""
    task = Path(f"/proc/{pid}/task/{pid}/children")
    for _ in range(200):  # the forked child may still be exiting after the client did
        if not task.read_text().split():
            break
        time.sleep(0.005)
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime


class Client:
    """One client command and the PYTHONPATH it runs with (None: not netprobe)."""

    def __init__(self, name: str, argv: list[str], tree: str | None = None) -> None:
        self.name = name
        self.argv = argv
        self.tree = tree

    def env(self) -> dict[str, str]:
        # As bench/startup.py does: none of this shell's PYTHON* settings
        # (PYTHONDONTWRITEBYTECODE would make every run compile netprobe).
        env = {k: v for k, v in child_env().items() if not k.startswith("PYTHON")}
        if self.tree is not None:
            env["PYTHONPATH"] = self.tree
        return env

    def run(self, stdin: str, stdout: str) -> Run:
        """One whole run (SystemExit if it fails)."""
        with open(stdin, "rb") as source, open(stdout, "wb") as sink:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            # In the tree's own directory: ``python -m`` looks in the working
            # directory first, so elsewhere it could run another checkout.
            proc = subprocess.run(self.argv, stdin=source, stdout=sink, stderr=subprocess.PIPE,
                                  env=self.env(), cwd=self.tree)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{self.name}: exit {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')[-500:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Run(wall, cpu)


def _server(direction: str, pem: Path, source: Path) -> tuple[subprocess.Popen[bytes], int]:
    """socat's TLS sink (upload) or source of ``source`` (download), on a free port."""
    port = free_port()
    listen = f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pem},verify=0"
    # -b: the servers move 128 KiB a read (socat's default is 8 KiB), so that
    # they cost less than the clients measured.
    if direction == "upload":
        argv = ["socat", "-b", str(SERVER_BLOCK), "-u", listen, "/dev/null"]
    else:
        argv = ["socat", "-b", str(SERVER_BLOCK), "-U", listen, f"OPEN:{source},rdonly"]
    server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server, port


def _clients(direction: str, port: int, compare: str | None) -> list[Client]:
    netprobe_args = ["connect", "127.0.0.1", str(port), "--tls", "--insecure", "-q"]
    tls = f"OPENSSL:127.0.0.1:{port},verify=0"
    socat = (["socat", "-u", "-", tls] if direction == "upload"
             else ["socat", "-u", tls, "-"])
    clients = [Client("netprobe", [*NETPROBE, *netprobe_args], str(ROOT)),
               Client("socat", socat)]
    if compare is not None:
        clients.append(Client("netprobe@compare", [*NETPROBE, *netprobe_args], compare))
    return clients


class Speed(NamedTuple):
    """A client's figures: MB/s of the whole command, of the data phase, the data phase's
    CPU, and the wall time of the command moving nothing."""

    whole: float
    data: float
    cpu_ms: float
    empty_ms: float
    server_ms: float


class Runs:
    """The runs of each client: moving the payload, and moving nothing."""

    def __init__(self, clients: list[Client]) -> None:
        self.full: dict[str, list[Run]] = {client.name: [] for client in clients}
        self.empty: dict[str, list[Run]] = {client.name: [] for client in clients}
        #: The server's CPU seconds for each run moving the payload.
        self.served: dict[str, list[float]] = {client.name: [] for client in clients}

    def speeds(self, mib: int) -> dict[str, Speed]:
        mb = mib * (1 << 20) / 1e6
        out = {}
        for name, runs in self.full.items():
            whole = statistics.median(run.wall for run in runs)
            fixed = statistics.median(run.wall for run in self.empty[name])
            cpu = (statistics.median(run.cpu for run in runs)
                   - statistics.median(run.cpu for run in self.empty[name]))
            out[name] = Speed(mb / whole, mb / max(whole - fixed, 1e-6), cpu * 1000,
                              fixed * 1000, statistics.median(self.served[name]) * 1000)
        return out


def _check_every_byte(direction: str, client: Client, stdin: str, tmp: Path,
                      size: int) -> None:
    back = tmp / "back"
    client.run(stdin, str(back) if direction == "download" else os.devnull)
    got = back.stat().st_size if direction == "download" else size
    back.unlink(missing_ok=True)
    if got != size:
        raise SystemExit(f"{client.name} {direction}: {got} bytes, {size} expected")


def measure(direction: str, mib: int, runs: int, tmp: Path, pem: Path,
            compare: str | None) -> dict[str, Speed]:
    """Each client's speeds, medians of ``runs``, runs interleaved."""
    payload, empty = tmp / "payload", tmp / "empty"
    full_server, full_port = _server(direction, pem, payload)
    empty_server, empty_port = _server(direction, pem, empty)
    try:
        with_data = _clients(direction, full_port, compare)
        without = _clients(direction, empty_port, compare)
        stdin_full = str(payload) if direction == "upload" else os.devnull
        for client in with_data:  # warms .pyc files and the page cache too
            _check_every_byte(direction, client, stdin_full, tmp, payload.stat().st_size)
        results = Runs(with_data)
        for n in range(runs):
            # Alternate who goes first: a quiet moment favours no one.
            pairs = list(zip(with_data, without, strict=True))
            for client, idle in pairs if n % 2 == 0 else pairs[::-1]:
                served = served_cpu(full_server.pid)
                results.full[client.name].append(client.run(stdin_full, os.devnull))
                results.served[client.name].append(served_cpu(full_server.pid) - served)
                results.empty[idle.name].append(idle.run(os.devnull, os.devnull))
    finally:
        for server in (full_server, empty_server):
            server.kill()
            server.wait()
    return results.speeds(mib)


def report_direction(direction: str, speeds: dict[str, Speed], args: argparse.Namespace,
                     report: dict[str, dict[str, float]]) -> bool:
    """Print one direction's figures, add them to ``report``; whether the target is met."""
    socat = speeds["socat"]
    ratio = speeds["netprobe"].data / socat.data
    ratio_whole = speeds["netprobe"].whole / socat.whole
    print(f"{direction}: {args.mib} MiB over TLS, median of {args.runs} runs "
          "(the whole command; the data phase, start-up subtracted)")
    for client, speed in speeds.items():
        print(f"  {client:<17} whole {speed.whole:7.1f} MB/s {speed.whole / socat.whole:5.2f}x"
              f"   data phase {speed.data:7.1f} MB/s {speed.data / socat.data:5.2f}x"
              f"   data phase CPU {speed.cpu_ms:6.0f} ms   moving nothing {speed.empty_ms:5.0f} ms"
              f"   server CPU {speed.server_ms:4.0f} ms")
    for what, value in (("whole command", ratio_whole), ("data phase", ratio)):
        print(f"  target: {what} >= {TARGET}x socat: {'ok' if value >= TARGET else 'MISSED'}")
    figures = report[direction] = {}
    for client, speed in speeds.items():
        figures[f"{client}_whole"] = round(speed.whole, 1)
        figures[f"{client}_data"] = round(speed.data, 1)
        figures[f"{client}_cpu_ms"] = round(speed.cpu_ms)
        figures[f"{client}_empty_ms"] = round(speed.empty_ms)
        figures[f"{client}_server_ms"] = round(speed.server_ms)
    figures["ratio_whole"] = round(ratio_whole, 3)
    figures["ratio_data"] = round(ratio, 3)
    return ratio >= TARGET and ratio_whole >= TARGET


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB moved per run")
    parser.add_argument("--runs", type=int, default=5, help="runs of each client per direction")
    parser.add_argument("--compare", metavar="TREE",
                        help="also run the netprobe of this checkout (before/after)")
    parser.add_argument("--direction", choices=DIRECTIONS, action="append",
                        help="only this direction (repeatable; default both)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    from netprobe.tls.certs import ephemeral

    report: dict[str, dict[str, float]] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-tls-") as name:
        tmp = Path(name)
        cert, key = ephemeral(["localhost", "127.0.0.1"])
        pem = tmp / "server.pem"
        pem.write_bytes(key + cert)
        block = os.urandom(1 << 20)
        with (tmp / "payload").open("wb") as f:
            for i in range(args.mib):
                f.write(block[i:] + block[:i])
        (tmp / "empty").write_bytes(b"")
        for direction in args.direction or DIRECTIONS:
            speeds = measure(direction, args.mib, args.runs, tmp, pem, args.compare)
            ok = report_direction(direction, speeds, args, report) and ok
    print(json.dumps(report))
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
