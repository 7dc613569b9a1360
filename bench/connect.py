#!/usr/bin/env python3
"""``netprobe connect``: Happy Eyeballs time-to-connected, and client throughput vs socat.

1. Time to connected when the first of two candidates never answers: a
   name (in a private namespace's /etc/hosts) resolves to [::1] first, where
   a listener with a full accept queue drops every SYN, and to 127.0.0.1,
   where socat listens.  ``connect -z --json`` runs N times sequentially
   (the first attempt waits out --timeout) and N times with
   --happy-eyeballs; the median of the ``connected`` event's ``elapsed_ms``
   is printed.  Target: Happy Eyeballs connects within he-delay + 50 ms.

2. A 256 MiB round trip through a socat echo server (the C-level
   reference), with ``netprobe connect`` as the client and with
   ``socat -t 30 - TCP:...`` as the client, interleaved, median of the runs:
   MB/s of both and their ratio.  Target: netprobe >= 0.8x socat.

3. TLS: the same 256 MiB round trip through socat's TLS echo
   (OPENSSL-LISTEN ... EXEC:cat, an ephemeral ECDSA certificate), with
   ``netprobe connect --tls --insecure`` and ``socat - OPENSSL:...,verify=0``
   as the clients, interleaved.  Target: netprobe >= 0.8x socat (the echo
   server is the bottleneck here: bench/tls.py measures each direction
   alone, against servers that are not).  And the
   handshake alone, in-process, against the same server (``openssl
   s_server``: one process, no fork per connection to add noise): netprobe's
   ``client_handshake`` (context made beforehand, as the CLI does) against a
   bare ``SSLContext.wrap_socket`` handshake, median of N each, interleaved
   and alternating which goes first.
   Target: <= 1.2x.  netprobe's figure is given twice: the handshake as its
   ``tls`` event times it, and the whole call (which also parses the chain
   with cryptography and builds the event).

Needs root (unshare) and socat.  Runs from a clean clone:
``python bench/connect.py [--runs 10] [--mib 256] [--check] [--tls-only]``;
``--check`` exits 1 when a target is missed.
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

from tests.helpers import NETPROBE, Namespace, child_env, free_port, wait_for_port  # noqa: E402

HE_DELAY_MS = 250.0
HE_SLACK_MS = 50.0
THROUGHPUT_TARGET = 0.8
HANDSHAKE_TARGET = 1.2
# The echo server: socat relaying to cat.  Not socat's PIPE address: there one
# process writes into and reads from the same pipe, and a bulk transfer
# deadlocks it as soon as the pipe is full.
ECHO = "EXEC:cat"

# A listener on [::1]:PORT with a full accept queue (backlog 0 plus one
# connection nobody accepts): Linux drops further SYNs, a blackhole on loopback.
BLACKHOLE = r"""
import socket, sys, time
port = int(sys.argv[1])
server = socket.socket(socket.AF_INET6)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind(("::1", port))
server.listen(0)
queued = socket.create_connection(("::1", port))
print("ready", flush=True)
time.sleep(3600)
"""


def time_to_connected(runs: int, timeout: str) -> tuple[float, float]:
    ns = Namespace(hosts="127.0.0.1 localhost\n::1 slow.test\n127.0.0.1 slow.test\n")
    port = 4300
    procs: list[subprocess.Popen[bytes]] = []
    try:
        hole = ns.popen([sys.executable, "-c", BLACKHOLE, str(port)], stdout=subprocess.PIPE)
        procs.append(hole)
        assert hole.stdout is not None and hole.stdout.readline() == b"ready\n"
        procs.append(ns.popen(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                               ECHO], stderr=subprocess.DEVNULL))
        ready = ns.sh(f"for i in $(seq 200); do socat -u /dev/null TCP4:127.0.0.1:{port} "
                      "2>/dev/null && exit 0; sleep 0.05; done; exit 1")
        assert ready.returncode == 0, "socat did not start"
        results: dict[str, list[float]] = {"sequential": [], "happy-eyeballs": []}
        for _ in range(runs):  # interleaved: noise hits both alike
            for mode, extra in (("sequential", []), ("happy-eyeballs", ["--happy-eyeballs"])):
                result = ns.run("connect", "slow.test", str(port), "-z", "--json",
                                "--timeout", timeout, "--he-delay", f"{HE_DELAY_MS:g}ms",
                                *extra)
                if result.status != 0:
                    raise SystemExit(f"{mode}: exit {result.status}: {result.err}")
                connected = [e for e in result.events() if e["event"] == "connected"]
                results[mode].append(float(connected[0]["elapsed_ms"]))
        return (statistics.median(results["sequential"]),
                statistics.median(results["happy-eyeballs"]))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        ns.close()


def _run_client(argv: list[str], payload: Path, sink: str) -> float:
    with payload.open("rb") as stdin, open(sink, "wb") as stdout:
        start = time.perf_counter()
        proc = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                              env=child_env())
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def throughput(mib: int, runs: int) -> tuple[float, float]:
    port = free_port()
    server = subprocess.Popen(["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                               ECHO], stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-") as tmp:
        payload = Path(tmp) / "payload"
        block = os.urandom(1 << 20)
        with payload.open("wb") as f:
            for _ in range(mib):
                f.write(block)
        try:
            wait_for_port(port)
            clients = {
                "netprobe": [*NETPROBE, "connect", "127.0.0.1", str(port), "-q"],
                "socat": ["socat", "-t", "30", "-", f"TCP4:127.0.0.1:{port}"],
            }
            # Once into a file, to be sure each client brings back every byte.
            for name, argv in clients.items():
                sink = Path(tmp) / f"back-{name}"
                _run_client(argv, payload, str(sink))
                if sink.stat().st_size != payload.stat().st_size:
                    raise SystemExit(f"{name}: {sink.stat().st_size} bytes came back, "
                                     f"{payload.stat().st_size} sent")
                sink.unlink()
            times: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(runs):
                for name, argv in clients.items():
                    times[name].append(_run_client(argv, payload, os.devnull))
        finally:
            server.kill()
            server.wait()
    mb = mib * (1 << 20) / 1e6
    return mb / statistics.median(times["netprobe"]), mb / statistics.median(times["socat"])


def _tls_server(tmp: str, s_server: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    from netprobe.tls.certs import ephemeral

    cert, key = ephemeral(["localhost", "127.0.0.1"])
    pem = Path(tmp) / "server.pem"
    pem.write_bytes(key + cert)
    port = free_port()
    if s_server:
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pem),
                "-key", str(pem), "-quiet"]
    else:
        argv = ["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={pem},"
                "verify=0", ECHO]
    server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return server, port


def tls_throughput(mib: int, runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-") as tmp:
        server, port = _tls_server(tmp)
        payload = Path(tmp) / "payload"
        block = os.urandom(1 << 20)
        with payload.open("wb") as f:
            for _ in range(mib):
                f.write(block)
        try:
            clients = {
                "netprobe": [*NETPROBE, "connect", "127.0.0.1", str(port), "--tls",
                             "--insecure", "-q"],
                "socat": ["socat", "-t", "30", "-", f"OPENSSL:127.0.0.1:{port},verify=0"],
            }
            for name, argv in clients.items():
                sink = Path(tmp) / f"back-{name}"
                _run_client(argv, payload, str(sink))
                if sink.stat().st_size != payload.stat().st_size:
                    raise SystemExit(f"{name} over TLS: {sink.stat().st_size} bytes came back, "
                                     f"{payload.stat().st_size} sent")
                sink.unlink()
            times: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(runs):
                for name, argv in clients.items():
                    times[name].append(_run_client(argv, payload, os.devnull))
        finally:
            server.kill()
            server.wait()
    mb = mib * (1 << 20) / 1e6
    return mb / statistics.median(times["netprobe"]), mb / statistics.median(times["socat"])


class TlsEvent:
    """A trace that keeps the handshake time of the ``tls`` event."""

    elapsed_ms = 0.0

    def __call__(self, event: str, fields: dict[str, object]) -> None:
        if event == "tls":
            self.elapsed_ms = float(fields["elapsed_ms"])  # type: ignore[arg-type]


def handshake_times(runs: int) -> tuple[float, float, float]:
    """Medians in ms: bare ssl, netprobe's handshake (its tls event), netprobe's whole call."""
    import socket
    import ssl

    from netprobe.tls.channel import client_handshake
    from netprobe.tls.context import TlsOptions, client_context

    options = TlsOptions(insecure=True)
    ours_context = client_context(options)
    bare_context = ssl.create_default_context()
    bare_context.check_hostname = False
    bare_context.verify_mode = ssl.CERT_NONE
    bare: list[float] = []
    ours: list[float] = []
    whole: list[float] = []
    with tempfile.TemporaryDirectory(prefix="netprobe-bench-") as tmp:
        server, port = _tls_server(tmp, s_server=True)

        def bare_handshake() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                start = time.perf_counter()
                with bare_context.wrap_socket(sock, server_hostname="localhost"):
                    bare.append((time.perf_counter() - start) * 1000)

        def our_handshake() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                recorder = TlsEvent()
                start = time.perf_counter()
                client_handshake(sock, "localhost", options, ours_context, timeout=10,
                                 where="bench", trace=recorder)
                whole.append((time.perf_counter() - start) * 1000)
                ours.append(recorder.elapsed_ms)

        try:
            our_handshake()  # once first: cryptography's import is not a handshake's cost
            whole.clear()
            ours.clear()
            for n in range(runs):
                for measure in ((bare_handshake, our_handshake) if n % 2
                                else (our_handshake, bare_handshake)):
                    measure()
        finally:
            server.kill()
            server.wait()
    return statistics.median(bare), statistics.median(ours), statistics.median(whole)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each connect mode")
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=256, help="MiB echoed per throughput run")
    parser.add_argument("--timeout", default="2", help="--timeout of the sequential runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--tls-only", action="store_true", help="only the TLS measurements")
    parser.add_argument("--handshakes", type=int, default=200, help="TLS handshakes of each kind")
    args = parser.parse_args()
    if args.tls_only:
        return 0 if tls_report(args) or not args.check else 1

    sequential, happy = time_to_connected(args.runs, args.timeout)
    he_ok = happy <= HE_DELAY_MS + HE_SLACK_MS
    print(f"time to connected, first candidate blackholed (median of {args.runs}):")
    print(f"  sequential (--timeout {args.timeout}) {sequential:9.1f} ms")
    print(f"  --happy-eyeballs (he-delay {HE_DELAY_MS:g} ms) {happy:9.1f} ms"
          f"   target <= {HE_DELAY_MS + HE_SLACK_MS:g} ms: {'ok' if he_ok else 'MISSED'}"
          f"   ({sequential / happy:.1f}x faster)")

    ours, socat = throughput(args.mib, args.throughput_runs)
    ratio = ours / socat
    tp_ok = ratio >= THROUGHPUT_TARGET
    print(f"{args.mib} MiB echo round trip through socat (median of {args.throughput_runs}):")
    print(f"  netprobe connect {ours:8.1f} MB/s")
    print(f"  socat - TCP:     {socat:8.1f} MB/s")
    print(f"  ratio {ratio:.2f}x   target >= {THROUGHPUT_TARGET}x: {'ok' if tp_ok else 'MISSED'}")
    print(json.dumps({"sequential_ms": round(sequential, 3), "happy_eyeballs_ms": round(happy, 3),
                      "netprobe_mb_s": round(ours, 1), "socat_mb_s": round(socat, 1),
                      "ratio": round(ratio, 3)}))
    tls_ok = tls_report(args)
    return 0 if (he_ok and tp_ok and tls_ok) or not args.check else 1


def tls_report(args: argparse.Namespace) -> bool:
    ours, socat = tls_throughput(args.mib, args.throughput_runs)
    ratio = ours / socat
    tp_ok = ratio >= THROUGHPUT_TARGET
    print(f"{args.mib} MiB echo round trip through socat's TLS echo "
          f"(median of {args.throughput_runs}):")
    print(f"  netprobe connect --tls {ours:8.1f} MB/s")
    print(f"  socat - OPENSSL:       {socat:8.1f} MB/s")
    print(f"  ratio {ratio:.2f}x   target >= {THROUGHPUT_TARGET}x: {'ok' if tp_ok else 'MISSED'}")
    bare, handshake, whole = handshake_times(args.handshakes)
    hs_ok = handshake <= HANDSHAKE_TARGET * bare
    print(f"TLS handshake in-process, same server (median of {args.handshakes}):")
    print(f"  bare ssl wrap_socket            {bare:7.3f} ms")
    print(f"  netprobe handshake (tls event)  {handshake:7.3f} ms   ratio {handshake / bare:.2f}x"
          f"   target <= {HANDSHAKE_TARGET}x: {'ok' if hs_ok else 'MISSED'}")
    print(f"  netprobe whole call (+ chain parsed, event built) {whole:7.3f} ms   "
          f"ratio {whole / bare:.2f}x")
    print(json.dumps({"tls_netprobe_mb_s": round(ours, 1), "tls_socat_mb_s": round(socat, 1),
                      "tls_ratio": round(ratio, 3), "handshake_bare_ms": round(bare, 3),
                      "handshake_netprobe_ms": round(handshake, 3),
                      "handshake_netprobe_whole_ms": round(whole, 3)}))
    return tp_ok and hs_ok


if __name__ == "__main__":
    sys.exit(main())
