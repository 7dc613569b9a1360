#!/usr/bin/env python3
"""``netprobe listen unix:PATH --echo`` beside socat and a bare asyncio server, on Unix sockets.

One load generator for every server (the reference ``echoload``, which
takes ``unix:PATH`` as its HOST, compiled here with cc; the project's own
``bench/loadgen.c`` speaks TCP only), one run, three tests:

    stream   one connection, 256 MiB in 64 KiB send()s, echo read concurrently  MB/s
    rate     connect, one 100-byte round trip, close; again for 3 s            conn/s
    many500  500 connections at once x 20 round trips of 100 bytes, verified   s

Servers, each on its own socket file in a private directory:
    netprobe  ``netprobe -v listen unix:PATH --echo``
    socat     ``socat UNIX-LISTEN:PATH,fork,backlog=4096 EXEC:cat`` (socat's PIPE
              deadlocks on large transfers: it stops reading while it writes)
    asyncio   ``asyncio.start_unix_server``, read 64 KiB / write / drain (this file,
              ``--serve-asyncio PATH``): what a few lines of plain Python do.

Targets (issue 20), as ratios from the one run:
    stream >= 1.0x socat;  rate >= 1.0x asyncio;  many500: every connection verified.

    python bench/unix.py            # about 30 s
    python bench/unix.py --check    # exit 1 when a target is missed
    python bench/unix.py --echoload ../shared/bench/echoload.c
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchlib import netprobe_command

HERE = Path(__file__).resolve().parent
#: Where the reference load generator is looked for (the repository's neighbours).
ECHOLOAD = [HERE.parent.parent / "shared" / "bench" / "echoload.c",
            HERE.parent.parent.parent / "shared" / "bench" / "echoload.c"]
TESTS = {"stream": "MB/s", "rate": "conn/s", "many500": "s"}


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve_asyncio(path: str) -> None:
    server = await asyncio.start_unix_server(_echo, path, backlog=4096)
    async with server:
        await server.serve_forever()


def serve_asyncio(path: str) -> None:
    """The bare asyncio Unix echo server (the reference for the connection rate)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_asyncio(path))


def build(workdir: Path, source: Path | None) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench/unix.py needs a C compiler (cc)")
    found = source or next((p for p in ECHOLOAD if p.exists()), None)
    if found is None:
        sys.exit("bench/unix.py needs the reference echoload.c (--echoload PATH)")
    out = workdir / "echoload"
    subprocess.run([cc, "-O2", "-o", str(out), str(found)], check=True)
    return out


def wait_listening(name: str, proc: subprocess.Popen[bytes], path: str,
                   timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited at start ({proc.returncode})")
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.connect(path)
            return
        time.sleep(0.05)
    sys.exit(f"{name} is not listening on {path}")


@contextlib.contextmanager
def running(servers: dict[str, list[str]], workdir: Path) -> Iterator[dict[str, int]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in servers.items():
            log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 (lives with the server)
            procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            wait_listening(name, procs[name], str(workdir / f"{name}.sock"))
        yield {name: proc.pid for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                # Its own process group (socat forks a cat per client): end them all.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def run_test(echoload: Path, path: str, test: str) -> dict[str, str]:
    host = f"unix:{path}"
    args = {"stream": ["-T", "120", host, "-", "throughput", "256M", "64K", "chunk"],
            "rate": [host, "-", "rate", "3", "100"],
            "many500": ["-T", "60", host, "-", "concurrency", "500", "20", "100"]}[test]
    proc = subprocess.run([str(echoload), *args], capture_output=True, timeout=300, text=True)
    line = (proc.stdout.strip().splitlines() or [""])[-1]
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    fields["exit"] = str(proc.returncode)
    return fields


def value(test: str, fields: dict[str, str]) -> float | None:
    if fields.get("verified") != "ok" or fields.get("exit") != "0":
        return None
    return float(fields[{"stream": "MBps", "rate": "cps", "many500": "secs"}[test]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--netprobe", default=None, help="netprobe command (default: beside "
                        "this python, else on PATH, else python -m netprobe)")
    parser.add_argument("--echoload", type=Path, default=None, help="echoload.c to build")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--serve-asyncio", metavar="PATH", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve_asyncio:
        serve_asyncio(opts.serve_asyncio)
        return 0
    if not shutil.which("socat"):
        sys.exit("bench/unix.py needs socat (apt-get install socat)")
    netprobe = netprobe_command(opts.netprobe)
    results: dict[str, dict[str, dict[str, str]]] = {test: {} for test in TESTS}
    with tempfile.TemporaryDirectory(prefix="netprobe-unix-bench-") as tmp:
        workdir = Path(tmp)
        echoload = build(workdir, opts.echoload)
        servers = {
            "netprobe": [*netprobe, "-v", "listen", f"unix:{workdir}/netprobe.sock", "--echo"],
            "socat": ["socat", f"UNIX-LISTEN:{workdir}/socat.sock,fork,backlog=4096",
                      "EXEC:cat"],
            "asyncio": [sys.executable, __file__, "--serve-asyncio", f"{workdir}/asyncio.sock"],
        }
        print(f"bench/unix.py: netprobe={' '.join(netprobe)} "
              f"NETPROBE_LOOP={os.environ.get('NETPROBE_LOOP') or 'default'}", flush=True)
        with running(servers, workdir):
            loop = re.search(r"on the (\S+) event loop",
                             (workdir / "netprobe.log").read_text(errors="replace"))
            print(f"netprobe serves on the {loop.group(1) if loop else '?'} event loop")
            for test, unit in TESTS.items():
                for name in servers:
                    fields = run_test(echoload, str(workdir / f"{name}.sock"), test)
                    results[test][name] = fields
                    got = value(test, fields)
                    shown = f"{got:.5g} {unit}" if got is not None else \
                        f"FAILED ({fields.get('error') or fields.get('last_error') or '?'}; " \
                        f"completed {fields.get('completed', '-')})"
                    print(f"  {test:8} {name:9} {shown}", flush=True)
    return targets(results, opts.check)


def targets(results: dict[str, dict[str, dict[str, str]]], check: bool) -> int:
    def ratio(test: str, anchor: str) -> float | None:
        mine, theirs = value(test, results[test]["netprobe"]), value(test, results[test][anchor])
        return mine / theirs if mine and theirs else None

    stream, rate = ratio("stream", "socat"), ratio("rate", "asyncio")
    many = results["many500"]["netprobe"]
    lines = [
        ("stream >= 1.0x socat", stream is not None and stream >= 1.0,
         f"{stream:.2f}x" if stream else "n/a"),
        ("rate >= 1.0x asyncio", rate is not None and rate >= 1.0,
         f"{rate:.2f}x" if rate else "n/a"),
        ("many500 x 20: every connection verified", value("many500", many) is not None,
         f"{many.get('completed', '?')}/500 completed, {many.get('mismatches', '?')} "
         f"mismatches, {many.get('secs', '?')} s"),
    ]
    print("\ntargets (issue 20):")
    missed = 0
    for label, good, shown in lines:
        missed += not good
        print(f"  {'ok  ' if good else 'MISS'} {label:40} {shown}")
    return 1 if check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
