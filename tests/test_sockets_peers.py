"""Peers for the kernel-side tests: real processes holding real sockets, and ``ss`` parsed.

``Peer`` starts a Python process (in a test's namespace) that opens the
sockets it is told to, prints what it bound (one JSON line) and holds them
until its stdin closes: its pid is the oracle for ``processes``.  ``ss_rows``
runs iproute2's ``ss`` in the same namespace and parses its rows, the
oracle for everything else.

No tests here; the file is named so that it belongs to the sockets tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from tests.helpers import Namespace, child_env

#: The peer: each spec is "kind,address,port[,option=value...]";
#: kind tcp (listen), tcpbound (bind only), udp, unix (listen), unixdgram, connect (a
#: TCP client to address,port; port "prev": the socket opened before).  Options:
#: backlog, v6only, reuse (SO_REUSEADDR); "name,,,value=X" sets the process's comm.
PEER_CODE = r"""
import json, os, socket, sys
opened, shown = [], []
for spec in sys.argv[1:]:
    kind, address, port, *extra = spec.split(",")
    opts = dict(item.split("=", 1) for item in extra)
    if kind == "name":
        with open("/proc/self/comm", "w") as comm:
            comm.write(opts["value"])
        continue
    if kind in ("unix", "unixdgram"):
        s = socket.socket(socket.AF_UNIX,
                          socket.SOCK_STREAM if kind == "unix" else socket.SOCK_DGRAM)
        s.bind("\0" + address[1:] if address.startswith("@") else address)  # @NAME: abstract
        if kind == "unix":
            s.listen(int(opts.get("backlog", 5)))
        opened.append(s); shown.append({"path": address, "inode": os.fstat(s.fileno()).st_ino})
        continue
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, kind_type)
    if kind == "connect":
        s.connect((address, opened[-1].getsockname()[1] if port == "prev" else int(port)))
    else:
        if family == socket.AF_INET6 and "v6only" in opts:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(opts["v6only"]))
        if "reuse" in opts:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, int(port)))
        if kind == "tcp":
            s.listen(int(opts.get("backlog", 5)))
    opened.append(s)
    shown.append({"local": list(s.getsockname()[:2]), "inode": os.fstat(s.fileno()).st_ino})
print(json.dumps({"pid": os.getpid(), "sockets": shown}), flush=True)
sys.stdin.read()
"""


class Peer:
    """A process holding sockets; ``.pid``, ``.sockets`` (what it bound), ``.stop()``."""

    def __init__(self, specs: Sequence[str], ns: Namespace | None = None) -> None:
        argv = [sys.executable, "-c", PEER_CODE, *specs]
        kwargs: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE,
                                  "env": child_env()}
        self.proc = ns.popen(argv, **kwargs) if ns is not None else subprocess.Popen(argv,
                                                                                     **kwargs)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the peer did not start"
        info = json.loads(line)
        self.pid: int = info["pid"]
        self.sockets: list[dict[str, Any]] = info["sockets"]

    def port(self, index: int = 0) -> int:
        return int(self.sockets[index]["local"][1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


class SsRow(NamedTuple):
    netid: str
    state: str
    recv_q: int
    send_q: int
    local: str
    peer: str
    pids: frozenset[int]
    names: frozenset[str]


#: ss's state names -> the kernel's (what netprobe prints).
SS_STATES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
             "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
             "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "UNCONN": "UNCONN",
             "LISTEN": "LISTEN", "CLOSING": "CLOSING"}
_USERS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')


def ss_rows(ns: Namespace, flags: str, netid: str = "tcp") -> list[SsRow]:
    """``ss -H -n -p FLAGS`` inside the namespace, one SsRow per socket.

    With one protocol ss leaves the Netid column out: ``netid`` is it then.

    A Unix socket's local and peer are "PATH INODE" and "* INODE"; they are
    kept as the path (``*`` for an unnamed one) and the peer inode.
    """
    done = ns.sh(f"ss -H -n -p {flags}")
    assert done.returncode == 0, done.stderr
    rows = []
    for line in done.stdout.decode().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in SS_STATES:
            parts.insert(0, netid)
        users = " ".join(parts[8:] if parts[0].startswith("u_") else parts[6:])
        local, peer = (parts[4], parts[6]) if parts[0].startswith("u_") else (parts[4], parts[5])
        found = _USERS.findall(users)
        rows.append(SsRow(parts[0], SS_STATES.get(parts[1], parts[1]), int(parts[2]),
                          int(parts[3]), local, peer, frozenset(int(p) for _, p in found),
                          frozenset(n for n, _ in found)))
    return rows


def ss_endpoint(text: str) -> tuple[str, int | None]:
    """ss's ``127.0.0.1:80``, ``[::1]:80``, ``*:80`` (IPv6 any, dual-stack), ``0.0.0.0:*``."""
    address, _, port = text.rpartition(":")
    if address.startswith("["):
        address = address[1:-1]
    if address == "*":
        address = "::"
    return address, None if port == "*" else int(port)
