#!/usr/bin/env python3
"""``netprobe listen --echo`` side by side with the textbook C server, socat and ncat.

Everything runs on loopback (127.0.0.1) and is measured with one load
generator of the project's own (``bench/loadgen.c``, compiled here with cc),
so the figures compare servers, not clients:

    stream    one connection, 256 MiB in 64 KiB send()s, echo read concurrently   MB/s
    lines     one connection, 256 MiB as 100-byte lines, one send() a line       MB/s
    rate      connect, one 100-byte round trip, close; again for 3 s             conn/s
    many500   500 connections at once x 100 round trips of 100 bytes             s
    many1000  1000 connections at once x 100 round trips                         s

Servers: netprobe (``netprobe listen PORT --echo``), c-iter (the textbook
iterative server, ``bench/echoserveri.c``), socat (``TCP-LISTEN:...,fork,
backlog=4096 PIPE``) and ncat (``-k --exec /bin/cat``).  ncat blocks writing
to the client while the client is still sending, so the streaming tests give
it a 64 KiB in-flight window (``loadgen -w``); the others run unlimited.

netprobe runs with ``-v`` so that it says which event loop it serves on
(uvloop, a dependency wherever it installs, or asyncio's own under
``NETPROBE_LOOP=asyncio``); the bench prints it in its header and summary.
``-v`` adds no per-client line, so the measured work is the same.

Each rep runs every server in turn (the order rotates each rep); a ratio is
the median over reps of that rep's ratio, so machine noise hits both sides.
netprobe's RSS is sampled from /proc/PID/status during the many-client runs.

Targets (issue 4), as ratios from one run:
    stream >= 2.0x socat;  lines >= 0.5x c-iter;  rate >= 0.6x c-iter;
    many1000: no failures, time <= 0.5x c-iter's, netprobe RSS < 100 MiB.

    python bench/echo.py            # 3 reps, about 4 minutes
    python bench/echo.py --quick    # 1 rep, smaller transfers, about 40 s
    python bench/echo.py --check    # exit 1 when a target is missed
    NETPROBE_LOOP=asyncio python bench/echo.py   # the standard loop (no uvloop)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import netprobe_command

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
ANCHOR, SOCAT = "c-iter", "socat"
MIB = 1 << 20


@dataclass
class Server:
    name: str
    argv: list[str]
    #: loadgen -w per streaming test (bytes in flight); absent = unlimited.
    window: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    rss_kib: list[int] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def build(workdir: Path) -> tuple[Path, Path]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("bench/echo.py needs a C compiler (cc)")
    made = []
    for name in ("loadgen", "echoserveri"):
        out = workdir / name
        subprocess.run([cc, "-O2", "-o", str(out), str(HERE / f"{name}.c")], check=True)
        made.append(out)
    return made[0], made[1]


def loop_reported(logdir: Path, timeout: float = 10) -> str:
    """The event loop netprobe -v says it serves on ("serving (...) on the X event loop")."""
    deadline = time.monotonic() + timeout
    log = logdir / "netprobe.log"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            found = re.search(r"on the (\S+) event loop", log.read_text(errors="replace"))
            if found:
                return found.group(1)
        time.sleep(0.05)
    return "unknown (netprobe did not say)"


def wait_listening(server: Server, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            sys.exit(f"{server.name} exited at start ({server.proc.returncode})")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), 0.5):
            return
        time.sleep(0.05)
    sys.exit(f"{server.name} is not listening on {HOST}:{server.port}")


@contextlib.contextmanager
def running(servers: list[Server], logdir: Path) -> Iterator[None]:
    try:
        for server in servers:
            server.port = free_port()
            argv = [a.replace("{port}", str(server.port)) for a in server.argv]
            log = open(logdir / f"{server.name}.log", "wb")  # noqa: SIM115 (lives with the server)
            server.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            wait_listening(server)
        yield
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                # Its own process group (ncat and socat fork children): end them all.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.proc.pid, signal.SIGTERM)
                try:
                    server.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(server.proc.pid, signal.SIGKILL)
                    server.proc.wait()


class RssSampler:
    """Max VmRSS of a process while a block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        with contextlib.suppress(OSError), open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    self.peak = max(self.peak, int(line.split()[1]))

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@dataclass
class Test:
    name: str
    unit: str
    higher_is_better: bool


TESTS = [
    Test("stream", "MB/s", True),
    Test("lines", "MB/s", True),
    Test("rate", "conn/s", True),
    Test("many500", "s", False),
    Test("many1000", "s", False),
]


def run_test(loadgen: Path, server: Server, test: str, sizes: dict[str, str],
             is_netprobe: bool) -> dict[str, object]:
    args: list[str] = [str(loadgen)]
    if test in ("stream", "lines"):
        window = server.window.get(test)
        args += ["-t", sizes["tp_t"]] + (["-w", window] if window else [])
        args += [HOST, str(server.port), test, sizes["total"], "64K" if test == "stream" else "100"]
    elif test == "rate":
        args += [HOST, str(server.port), "rate", sizes["rate_s"], "100"]
    else:
        conns = test.removeprefix("many")
        args += ["-t", sizes["conc_t"], HOST, str(server.port), "many", conns, "100", "100"]
    sampler = RssSampler(server.proc.pid) if is_netprobe and server.proc else None
    with sampler or contextlib.nullcontext():
        proc = subprocess.run(args, capture_output=True, timeout=300)
    try:
        result: dict[str, object] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = {"ok": False, "error": proc.stderr.decode()[-200:]}
    if sampler is not None:
        result["rss_kib"] = sampler.peak
    return result


def value_of(test: str, result: dict[str, object]) -> float | None:
    if not result.get("ok"):
        return None
    key = {"stream": "mbps", "lines": "mbps", "rate": "cps"}.get(test, "secs")
    return float(result[key])  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 rep, 64 MiB, 1 s rate")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--netprobe", default=None, help="netprobe command (default: beside "
                        "this python, else on PATH, else python -m netprobe)")
    parser.add_argument("--servers", default="netprobe,c-iter,socat,ncat")
    parser.add_argument("--tests", default=",".join(t.name for t in TESTS))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--raw", type=Path, default=None, help="write every result as JSON")
    opts = parser.parse_args()
    reps = opts.reps or (1 if opts.quick else 3)
    sizes = ({"total": "64M", "rate_s": "1", "conc_t": "10", "tp_t": "30"} if opts.quick
             else {"total": "256M", "rate_s": "3", "conc_t": "15", "tp_t": "60"})
    for tool in ("socat", "ncat"):
        if tool in opts.servers and not shutil.which(tool):
            sys.exit(f"bench/echo.py needs {tool} (apt-get install {tool})")

    netprobe = netprobe_command(opts.netprobe)
    catalogue = {
        "netprobe": Server("netprobe", [*netprobe, "-v", "listen", "{port}", "--echo"]),
        "c-iter": Server("c-iter", ["@echoserveri", "{port}", HOST]),
        "socat": Server("socat", ["socat", f"TCP-LISTEN:{{port}},bind={HOST},fork,reuseaddr,"
                                  "backlog=4096", "PIPE"], window={"lines": "64K"}),
        "ncat": Server("ncat", ["ncat", "-l", HOST, "{port}", "-k", "--exec", "/bin/cat"],
                       window={"stream": "64K", "lines": "64K"}),
    }
    wanted = [n for n in opts.servers.split(",") if n]
    servers = [catalogue[n] for n in wanted]
    tests = [t for t in TESTS if t.name in opts.tests.split(",")]
    asked = os.environ.get("NETPROBE_LOOP", "") or "default"
    print(f"bench/echo.py: reps={reps} size={sizes['total']} netprobe={' '.join(netprobe)} "
          f"NETPROBE_LOOP={asked}", flush=True)

    results: dict[str, dict[str, list[dict[str, object]]]] = {
        t.name: {s.name: [] for s in servers} for t in tests}
    started = time.monotonic()
    loop_name = "n/a"
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-") as tmp:
        workdir = Path(tmp)
        loadgen, echoserveri = build(workdir)
        for server in servers:
            server.argv = [str(echoserveri) if a == "@echoserveri" else a for a in server.argv]
        with running(servers, workdir):
            if "netprobe" in wanted:
                loop_name = loop_reported(workdir)
                print(f"netprobe serves on the {loop_name} event loop", flush=True)
            for rep in range(reps):
                for test in tests:
                    order = servers[rep % len(servers):] + servers[:rep % len(servers)]
                    for server in order:
                        if test.name in server.failed:
                            continue  # it failed this test already: do not wait on it again
                        result = run_test(loadgen, server, test.name, sizes,
                                          server.name == "netprobe")
                        results[test.name][server.name].append(result)
                        if not result.get("ok") and test.name.startswith("many"):
                            server.failed.add(test.name)
                        value = value_of(test.name, result)
                        shown = f"{value:.4g} {test.unit}" if value is not None else (
                            f"FAILED ({result.get('error', '?')}, "
                            f"{result.get('completed', '-')} completed)")
                        rss = f"  rss {int(result['rss_kib']) // 1024} MiB" \
                            if "rss_kib" in result else ""  # type: ignore[call-overload]
                        print(f"  rep {rep + 1} {test.name:9} {server.name:9} {shown}{rss}",
                              flush=True)
    elapsed = time.monotonic() - started
    if opts.raw:
        opts.raw.write_text(json.dumps(results, indent=1))
    return report(tests, servers, results, reps, elapsed, opts.check, loop_name)


def ratio_median(test: Test, results: dict[str, list[dict[str, object]]], name: str,
                 anchor: str) -> float | None:
    """Median over reps of value(name)/value(anchor) (time tests: anchor/name, so >1 is
    better)."""
    ratios = []
    for mine, theirs in zip(results.get(name, []), results.get(anchor, []), strict=False):
        a, b = value_of(test.name, mine), value_of(test.name, theirs)
        if a and b:
            ratios.append(a / b if test.higher_is_better else b / a)
    return statistics.median(ratios) if ratios else None


def report(tests: list[Test], servers: list[Server],
           results: dict[str, dict[str, list[dict[str, object]]]], reps: int, elapsed: float,
           check: bool, loop_name: str) -> int:
    print(f"\nnetprobe event loop: {loop_name}")
    print(f"median (min..max) over {reps} rep(s); 'x c-iter' and 'x socat' are medians of "
          "same-rep ratios, >1 = better than that server (for times: its time / this time)")
    print(f"{'test':9} {'server':9} {'ok':>5} {'median':>10} {'min..max':>20} "
          f"{'x c-iter':>9} {'x socat':>8}  notes")
    for test in tests:
        for server in servers:
            runs = results[test.name][server.name]
            values = [v for r in runs if (v := value_of(test.name, r)) is not None]
            ok = f"{len(values)}/{len(runs)}"
            if values:
                med = f"{statistics.median(values):.4g}"
                span = f"({min(values):.4g}..{max(values):.4g})"
            else:
                med, span = "-", ""
            vs_c = ratio_median(test, results[test.name], server.name, ANCHOR)
            vs_s = ratio_median(test, results[test.name], server.name, SOCAT)
            notes = test.unit
            if test.name in server.window:
                notes += f"; {server.window[test.name]} in flight"
            failures = [r for r in runs if not r.get("ok")]
            if failures:
                notes += f"; failed: {failures[0].get('error', '?')}"
                if "completed" in failures[0]:
                    notes += f" ({failures[0]['completed']} of {failures[0].get('connections')})"
            rss = [int(r["rss_kib"]) for r in runs if "rss_kib" in r]  # type: ignore[call-overload]
            if rss and test.name.startswith("many"):
                notes += f"; RSS max {max(rss) / 1024:.1f} MiB"
            print(f"{test.name:9} {server.name:9} {ok:>5} {med:>10} {span:>20} "
                  f"{vs_c if vs_c is not None else float('nan'):>9.2f} "
                  f"{vs_s if vs_s is not None else float('nan'):>8.2f}  {notes}")
    print(f"\nbench time {elapsed:.0f} s")
    return targets(tests, results, check)


def targets(tests: list[Test], results: dict[str, dict[str, list[dict[str, object]]]],
            check: bool) -> int:
    by_name = {t.name: t for t in tests}
    lines: list[tuple[str, bool | None, str]] = []

    def ratio(test: str, anchor: str) -> float | None:
        if test not in by_name or anchor not in results[test] or "netprobe" not in results[test]:
            return None
        return ratio_median(by_name[test], results[test], "netprobe", anchor)

    def add(label: str, value: float | None, good: bool | None, shown: str) -> None:
        lines.append((label, good if value is not None else None, shown))

    r = ratio("stream", SOCAT)
    add("stream >= 2.0x socat", r, r is not None and r >= 2.0, f"{r:.2f}x" if r else "n/a")
    r = ratio("lines", ANCHOR)
    add("lines >= 0.5x c-iter", r, r is not None and r >= 0.5, f"{r:.2f}x" if r else "n/a")
    r = ratio("rate", ANCHOR)
    add("rate >= 0.6x c-iter", r, r is not None and r >= 0.6, f"{r:.2f}x" if r else "n/a")
    if "many1000" in results and "netprobe" in results["many1000"]:
        runs = results["many1000"]["netprobe"]
        failed = sum(1 for run in runs if not run.get("ok"))
        add("many1000: zero failures", 1.0, failed == 0, f"{failed} failed run(s)")
        r = ratio("many1000", ANCHOR)
        time_ratio = 1 / r if r else None
        add("many1000: time <= 0.5x c-iter", time_ratio,
            time_ratio is not None and time_ratio <= 0.5,
            f"{time_ratio:.2f}x c-iter's time" if time_ratio else "n/a")
        rss = max((int(run.get("rss_kib", 0)) for run in runs), default=0)  # type: ignore[call-overload]
        add("many1000: netprobe RSS < 100 MiB", float(rss), rss < 100 * 1024,
            f"{rss / 1024:.1f} MiB")
    print("\ntargets (issue 4):")
    missed = 0
    for label, good, shown in lines:
        mark = "n/a " if good is None else "ok  " if good else "MISS"
        missed += good is False
        print(f"  {mark} {label:36} {shown}")
    return 1 if check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
