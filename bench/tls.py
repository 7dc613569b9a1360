#!/usr/bin/env python3
"""``connect --tls`` throughput, one direction at a time, against ``socat - OPENSSL:``.

An echo round trip (bench/connect.py) measures the echo server as much as
the client: socat's TLS echo relays through ``cat`` 8 KiB at a time, and
both clients end up waiting for it.  Here each direction is measured
alone, against servers that cost little:

* upload: N MiB from a file on stdin to socat's TLS sink
  (``socat -u OPENSSL-LISTEN:... /dev/null``), the client's encryption
  and sends measured;
* download: N MiB from socat's TLS source (``socat -U OPENSSL-LISTEN:...
  OPEN:payload``, the file opened afresh per connection) to /dev/null,
  the client's receives, decryption and writes measured.

The clients, on the same servers, interleaved run by run (noise hits all
alike): ``netprobe connect 127.0.0.1 PORT --tls --insecure -q`` and socat
as a client (``socat -u - OPENSSL:...,verify=0`` for upload, ``socat -u
OPENSSL:...,verify=0 -`` for download: ``-u`` because a bidirectional
socat ends 0.5 s after stdin's EOF, which would cut a download short).
Each run is the whole command, start-up and handshake included, as a user
pays for it; MB/s is payload over wall time, the median of the runs.
Every client first moves the payload once into a file, compared in size.

``--compare TREE`` adds the netprobe of another checkout (e.g. the commit
before a change) as a third client in the same interleaving, so before and
after are measured in one run.  Loopback only.  Target: netprobe >= 1.0x
socat each way; ``--check`` exits 1 when it is missed.

``python bench/tls.py [--mib 256] [--runs 5] [--compare /path/to/checkout] [--check]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import NETPROBE, child_env, free_port, wait_for_port  # noqa: E402

TARGET = 1.0
DIRECTIONS = ("upload", "download")


class Client:
    """One client command and the PYTHONPATH it runs with (None: not netprobe)."""

    def __init__(self, name: str, argv: list[str], tree: str | None = None) -> None:
        self.name = name
        self.argv = argv
        self.tree = tree

    def env(self) -> dict[str, str]:
        env = child_env()
        if self.tree is not None:
            env["PYTHONPATH"] = self.tree
        return env

    def run(self, stdin: str, stdout: str) -> float:
        """Wall time of one whole run (SystemExit if it fails)."""
        with open(stdin, "rb") as source, open(stdout, "wb") as sink:
            start = time.perf_counter()
            proc = subprocess.run(self.argv, stdin=source, stdout=sink, stderr=subprocess.PIPE,
                                  env=self.env())
            elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{self.name}: exit {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')[-500:]}")
        return elapsed


def _server(direction: str, pem: Path, payload: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    listen = f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pem},verify=0"
    if direction == "upload":
        argv = ["socat", "-u", listen, "/dev/null"]
    else:
        argv = ["socat", "-U", listen, f"OPEN:{payload},rdonly"]
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


def measure(direction: str, mib: int, runs: int, tmp: Path, pem: Path,
            compare: str | None) -> dict[str, float]:
    """MB/s of each client, median of ``runs``."""
    payload = tmp / "payload"
    server, port = _server(direction, pem, payload)
    try:
        clients = _clients(direction, port, compare)
        source = str(payload) if direction == "upload" else os.devnull
        for client in clients:  # once into a file: every byte must arrive
            if direction == "download":
                back = tmp / "back"
                client.run(source, str(back))
                got = back.stat().st_size
                back.unlink()
            else:
                client.run(source, os.devnull)
                got = payload.stat().st_size  # the sink's side is checked by the tests
            if got != payload.stat().st_size:
                raise SystemExit(f"{client.name} {direction}: {got} bytes, "
                                 f"{payload.stat().st_size} expected")
        times: dict[str, list[float]] = {client.name: [] for client in clients}
        for n in range(runs):
            # Alternate who goes first: a warm page cache or a quiet moment favours neither.
            order = clients if n % 2 == 0 else clients[::-1]
            for client in order:
                times[client.name].append(client.run(source, os.devnull))
    finally:
        server.kill()
        server.wait()
    mb = mib * (1 << 20) / 1e6
    return {name: mb / statistics.median(values) for name, values in times.items()}


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
        for direction in args.direction or DIRECTIONS:
            speeds = measure(direction, args.mib, args.runs, tmp, pem, args.compare)
            ratio = speeds["netprobe"] / speeds["socat"]
            ok = ok and ratio >= TARGET
            print(f"{direction}: {args.mib} MiB over TLS (median of {args.runs}, wall time)")
            for client, speed in speeds.items():
                print(f"  {client:<18} {speed:8.1f} MB/s   {speed / speeds['socat']:.2f}x socat")
            print(f"  target netprobe >= {TARGET}x socat: {'ok' if ratio >= TARGET else 'MISSED'}")
            report[direction] = {client: round(speed, 1) for client, speed in speeds.items()}
            report[direction]["ratio"] = round(ratio, 3)
    print(json.dumps(report))
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
