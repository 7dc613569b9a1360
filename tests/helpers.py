"""Shared test helpers: run the CLI as users do, free ports, private namespaces.

Network rule: tests talk to loopback only, or to addresses inside a network
namespace they made themselves.  ``Namespace`` makes one (``unshare --net
--mount``) with its own /etc/hosts and /etc/resolv.conf bind-mounted, so the
system resolver path runs end to end without ever leaving the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

NETPROBE = [sys.executable, "-m", "netprobe"]
#: Run a command as an unprivileged user (the tests run as root, which bypasses modes).
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
#: The checkout under test: children find netprobe here even where their working
#: directory is not the checkout (``nsenter --mount`` starts them in ``/``).
PROJECT = str(Path(__file__).resolve().parents[1])


class Result(NamedTuple):
    status: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        """stdout as JSON Lines (fails the test if a line does not parse)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"COLUMNS": "200", "PYTHONUTF8": "1"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run(*args: str, input: bytes | str | None = None, timeout: float = 60,
        env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> Result:
    """Run ``netprobe ARGS`` as a subprocess; stdout/stderr decoded as UTF-8."""
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [*prefix, *NETPROBE, *args], input=data, capture_output=True, timeout=timeout,
        env=child_env(env),
    )
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"))


def imported_by(*args: str, timeout: float = 60) -> set[str]:
    """Every module ``netprobe ARGS`` imports (python -X importtime); the run must succeed."""
    proc = subprocess.run([NETPROBE[0], "-X", "importtime", *NETPROBE[1:], *args],
                          capture_output=True, env=child_env(), timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.decode().splitlines()
            if line.startswith("import time:") and "|" in line}


#: netprobe's entry point in a child that writes on stderr, at exit, every module imported
#: since the interpreter started its command (-X importtime does not see
#: importlib.import_module, which the quick path uses).  What the interpreter's start-up
#: imported is not netprobe's: an editable install's finder (a .pth file, as .ci/run's
#: ``pip install -e``) imports re and typing before any of netprobe runs.
MODULES_AT_EXIT = """
import sys
before = set(sys.modules)
import atexit
atexit.register(lambda: sys.stderr.write(
    "modules: " + " ".join(sorted(set(sys.modules) - before)) + "\\n"))
sys.argv[1:] = sys.argv[2:]
from netprobe.__main__ import main
main()
"""


def modules_of(*args: str) -> set[str]:
    """Every module ``netprobe ARGS`` imports (the entry point as the script runs it), those
    the interpreter's own start-up imported before it left out."""
    proc = subprocess.run([NETPROBE[0], "-c", MODULES_AT_EXIT, "--", *args],
                          capture_output=True, env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    [line] = [x for x in proc.stderr.decode().splitlines() if x.startswith("modules: ")]
    return set(line.split()[1:])


def interrupted_once_connected(*args: str) -> tuple[int, bytes]:
    """``netprobe ARGS`` (a connect that stays open) sent SIGINT once it says it connected:
    (its status, what it wrote on stderr after that line)."""
    proc = subprocess.Popen([*NETPROBE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    assert proc.stderr is not None and proc.stdin is not None
    line = b""
    while b"connected 127.0.0.1" not in line:
        line = proc.stderr.readline()
        assert line, "netprobe ended before connecting"
    proc.send_signal(signal.SIGINT)
    status = proc.wait(timeout=30)
    rest = proc.stderr.read()
    proc.stdin.close()
    return status, rest


def on_terminal(*args: str, env: dict[str, str],
                stdin: int | None = None) -> tuple[int, str]:
    """``netprobe ARGS`` with stdout and stderr on one pseudo-terminal: (status, screen).

    ``stdin``: what the child reads (``subprocess.DEVNULL`` for nothing), else the test's."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([*NETPROBE, *args], stdin=stdin, stdout=follower,
                            stderr=follower, env=child_env(env))
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    status = proc.wait(timeout=30)
    os.close(leader)
    return status, b"".join(chunks).decode()


# Design decision: a child's output is read up to a marker by read_until, never
# by readline() before communicate().
#
# readline() on Popen's buffered pipe reads the pipe in chunks and keeps what
# lies past the line in the file object's buffer; communicate() with a
# timeout reads the descriptor itself and never sees that buffer.  Whatever
# netprobe had written just after the marker (the event loop's own listen()
# comes a millisecond after "listening") was then lost
# whenever the test read late: the --syscalls tests saw a call strace saw
# and the output seemed to lack.  read_until reads the descriptor directly
# and returns every byte it read, so output + communicate()'s is all of it.


def read_until(stream: Any, marker: bytes) -> bytes:
    """What a child wrote to ``stream`` (its stdout or stderr pipe) up to a line with
    ``marker``, or to the end; may go on past that line.  Follow with communicate()."""
    seen = b""
    while True:
        chunk = os.read(stream.fileno(), 65536)
        seen += chunk
        if not chunk or any(marker in line for line in seen.split(b"\n")[:-1]):
            return seen


def free_port(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(family, kind) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")


def have(program: str) -> bool:
    return shutil.which(program) is not None


def child_pids(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, each parent before its children."""
    found: list[int] = []
    for child in child_pids(pid):
        found += [child, *descendants(child)]
    return found


class Recorder:
    """A trace callback that keeps every event, for tests of the core.

    ``syscall`` events (``--syscalls``, one per system call) are kept only
    when asked for: tests of the other events' order need not list them.
    """

    def __init__(self, syscalls: bool = False) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.syscalls = syscalls

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if event == "syscall" and not self.syscalls:
            return
        self.events.append((event, fields))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.events if event == name]


class Namespace:
    """A private network + mount namespace with its own hosts and resolv.conf.

    A holder process (``sleep``) keeps the namespace alive; commands enter it
    with ``nsenter``.  Inside, only ``lo`` exists: nothing can leave the box.
    """

    def __init__(self, hosts: str = "127.0.0.1 localhost\n",
                 resolv: str = "nameserver 127.0.0.1\n", *,
                 etc: dict[str, str] | None = None,
                 addresses: Sequence[str] = ()) -> None:
        """``etc``: more files for /etc (``{"gai.conf": "..."}``), bind-mounted over
        the real ones (they must exist there); ``addresses``: added to ``lo``
        (``2001:db8::1/64``), so that destinations outside loopback have a
        source address.  A file is rewritten in place with ``write_etc``."""
        self.dir = Path(tempfile.mkdtemp(prefix="netprobe-ns-"))
        files = {"hosts": hosts, "resolv.conf": resolv, **(etc or {})}
        for name, text in files.items():
            (self.dir / name).write_text(text)
        mounts = "".join(f"mount --bind {self.dir}/{name} /etc/{name}; " for name in files)
        # nodad: a documentation address must be usable at once, not "tentative".
        adds = "".join(
            f"ip addr add {a} dev lo{' nodad' if ':' in a else ''}; " for a in addresses)
        setup = (
            f"set -e; ip link set lo up; {adds}{mounts}"
            "echo ready; exec sleep 100000"
        )
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "sh", "-c", setup],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            err = self.holder.stderr.read() if self.holder.stderr else b""
            raise RuntimeError(f"could not make a namespace: {err!r}")
        # `sh -c ... exec sleep` keeps the pid: it is the namespace's holder.
        self.started: list[subprocess.Popen[bytes]] = []
        self.prefix = ["nsenter", "--target", str(self.holder.pid), "--net", "--mount", "--"]

    def write_etc(self, name: str, text: str) -> None:
        """Rewrite a bind-mounted /etc file in place (same inode: the mount sees it)."""
        with open(self.dir / name, "w", encoding="utf-8") as handle:
            handle.write(text)

    def run(self, *args: str, **kwargs: Any) -> Result:
        """``netprobe ARGS`` inside the namespace."""
        return run(*args, prefix=self.prefix, **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Any program inside the namespace (a server, dnsmasq, ...)."""
        kwargs.setdefault("env", child_env())
        proc = subprocess.Popen([*self.prefix, *argv], **kwargs)
        self.started.append(proc)
        return proc

    def sh(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.prefix, "sh", "-c", script], capture_output=True,
                              timeout=timeout)

    def close(self) -> None:
        """Stop what was started inside (nsenter's children too), then the namespace."""
        for proc in self.started:
            for pid in child_pids(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for_udp_echo(port: int, host: str = "127.0.0.1") -> None:
    """Until a UDP echo server on ``host:port`` sends a datagram back (5 s at most)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        for _ in range(100):
            probe.sendto(b"ping", (host, port))
            with contextlib.suppress(OSError):
                if probe.recv(100) == b"ping":
                    return
            time.sleep(0.05)
    raise RuntimeError(f"no UDP echo on {host}:{port}")


def write_payload(path: Path, mib: int, tail: bytes = b"") -> Path:
    """``mib`` MiB of random binary at ``path`` (each MiB one block rotated, so no two
    alike), then ``tail``: a payload to move through a connection and compare."""
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for i in range(mib):
            f.write(block[i:] + block[:i])
        f.write(tail)
    return path
