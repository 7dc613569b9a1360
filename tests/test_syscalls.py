"""``--syscalls``: the calls netprobe reports are the calls the kernel saw (strace is the oracle).

The structures of ``resolve --syscalls`` are checked against
``socket.getaddrinfo`` and, for the fields Python does not return
(ai_flags, ai_addrlen), against the C library itself through ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from netprobe.render import syscalls as c_form
from tests.dnsmasq import Dnsmasq, DnsNamespace
from tests.helpers import (
    NETPROBE,
    Namespace,
    Result,
    child_env,
    descendants,
    free_port,
    read_until,
    run,
    wait_for_port,
)
from tests.strace_oracle import (
    NAME_CALLS,
    Call,
    Traced,
    parse_strace,
    popen_traced,
    reported_calls,
    traced,
)
from tests.test_connect import ns_echo
from tests.tls_pki import Pki, socat_echo

NsFactory = Callable[..., Namespace]

# --- resolve: the struct addrinfo chain ---------------------------------------------------


class _AddrInfo(ctypes.Structure):
    pass


_AddrInfo._fields_ = [
    ("ai_flags", ctypes.c_int), ("ai_family", ctypes.c_int), ("ai_socktype", ctypes.c_int),
    ("ai_protocol", ctypes.c_int), ("ai_addrlen", ctypes.c_uint32),
    ("ai_addr", ctypes.c_void_p), ("ai_canonname", ctypes.c_char_p),
    ("ai_next", ctypes.POINTER(_AddrInfo)),
]


def c_getaddrinfo(host: str | None, service: str | None, flags: int,
                  socktype: int = 0) -> list[tuple[int, int, bytes]]:
    """(ai_flags, ai_addrlen, the sockaddr's bytes) of each node, from glibc itself."""
    libc = ctypes.CDLL(None)
    hints = _AddrInfo()
    hints.ai_flags = flags
    hints.ai_socktype = socktype
    res = ctypes.POINTER(_AddrInfo)()
    assert libc.getaddrinfo(host.encode() if host else None,
                            service.encode() if service else None,
                            ctypes.byref(hints), ctypes.byref(res)) == 0
    nodes = []
    node = res
    while node:
        entry = node.contents
        nodes.append((entry.ai_flags, entry.ai_addrlen,
                      ctypes.string_at(entry.ai_addr, entry.ai_addrlen)))
        node = entry.ai_next
    libc.freeaddrinfo(res)
    return nodes


def syscall_events(result: Result) -> list[dict[str, Any]]:
    return [e for e in result.events() if e["event"] == "syscall"]


FLAG_BITS = {"AI_PASSIVE": socket.AI_PASSIVE, "AI_CANONNAME": socket.AI_CANONNAME,
             "AI_NUMERICHOST": socket.AI_NUMERICHOST, "AI_NUMERICSERV": socket.AI_NUMERICSERV,
             "AI_ADDRCONFIG": socket.AI_ADDRCONFIG}


@pytest.mark.parametrize(("host", "service", "options", "socktype", "flags"), [
    ("localhost", "http", [], 0, 0),
    ("127.0.0.1", "8000", ["--socktype", "any"], 0, 0),
    ("::1", "443", ["--canonname", "--socktype", "stream"], socket.SOCK_STREAM,
     socket.AI_CANONNAME),
    ("", "65535", ["--passive", "--numeric-serv"], 0, socket.AI_PASSIVE | socket.AI_NUMERICSERV),
    ("fe80::1%1", "22", ["--numeric-host"], 0, socket.AI_NUMERICHOST),
])
def test_resolve_addrinfo_chain_is_what_getaddrinfo_returned(
        host: str, service: str, options: list[str], socktype: int, flags: int) -> None:
    result = run("resolve", host, service, *options, "--json", "--syscalls")
    assert result.status == 0, result.err
    events = syscall_events(result)
    assert [e["call"] for e in events] == ["getaddrinfo", "freeaddrinfo"]
    assert [e["n"] for e in events] == [1, 2]
    call = events[0]
    assert set(call) >= {"n", "call", "args", "result", "errno", "elapsed_us", "fd"}
    assert (call["result"], call["errno"], call["fd"]) == (0, None, None)
    assert call["args"]["node"] == (host or None) and call["args"]["service"] == service
    chain = call["args"]["res"]
    python = socket.getaddrinfo(host or None, service, 0, socktype, 0, flags)
    native = c_getaddrinfo(host or None, service, flags, socktype)
    assert len(chain) == len(python) == len(native) >= 1
    for node, (family, kind, protocol, canonname, address), (c_flags, c_len, raw) in zip(
            chain, python, native, strict=True):
        assert node["ai_family"] == family.name
        assert node["ai_socktype"] == kind.name
        assert node["ai_protocol"] == {6: "IPPROTO_TCP", 17: "IPPROTO_UDP"}.get(protocol, 0)
        assert node["ai_canonname"] == (canonname or None)
        assert node["ai_addrlen"] == c_len
        assert sum(FLAG_BITS[name] for name in node["ai_flags"]) == c_flags
        addr = node["ai_addr"]
        assert (addr["address"], addr["port"]) == address[:2]
        if family == socket.AF_INET6:
            assert (addr["flowinfo"], addr["scope_id"]) == address[2:]
        # The bytes the renderer shows are the structure's bytes in memory.
        shown = bytes.fromhex("".join(data.replace(" ", "")
                                      for _, _, data in c_form.sockaddr_fields(addr)))
        assert shown == raw[:len(shown)]
    # The human form: each sockaddr field by field with its network-order bytes.
    human = run("resolve", host, service, *options, "--syscalls")
    assert human.status == 0
    port = python[0][4][1]
    shown_ports = [line for line in human.err.splitlines()
                   if ".sin_port " in line or ".sin6_port " in line]
    assert len(shown_ports) == len(chain)
    for line in shown_ports:
        assert f"htons({port})," in line
        assert line.rstrip().endswith(f"/* {struct.pack('!H', port).hex(' ')} */")
    assert human.err.count("struct addrinfo") == len(chain)
    assert human.err.rstrip().splitlines()[-1].endswith("ms")


def test_resolve_port_bytes_are_network_order_for_every_port() -> None:
    for port in (0, 1, 80, 255, 256, 443, 8080, 65535):
        rows = c_form.sockaddr_fields({"family": "AF_INET", "port": port,
                                       "address": "192.0.2.1"})
        assert rows[1] == ("sin_port", f"htons({port})", struct.pack("!H", port).hex(" "))
        assert rows[2][2] == "c0 00 02 01"


def test_resolve_failure_is_shown_with_its_eai_name() -> None:
    result = run("resolve", "nosuch.invalid", "--numeric-host", "--json", "--syscalls")
    assert result.status == 3
    (call,) = syscall_events(result)
    assert (call["call"], call["errno"], call["args"]["res"]) == ("getaddrinfo", "EAI_NONAME",
                                                                 None)
    assert call["result"] == socket.EAI_NONAME
    human = run("resolve", "nosuch.invalid", "--numeric-host", "--syscalls")
    assert f"= EAI_NONAME ({socket.EAI_NONAME})" in human.err
    assert "res = NULL" in human.err


def test_without_the_flag_no_syscall_is_shown() -> None:
    result = run("resolve", "localhost", "80", "--json")
    assert result.status == 0
    assert syscall_events(result) == []
    human = run("resolve", "localhost", "80")
    assert "getaddrinfo(" not in human.err and "struct addrinfo" not in human.err


def test_reverse_shows_getnameinfo_and_its_sockaddr() -> None:
    result = run("reverse", "::1", "443", "--numeric-serv", "--json", "--syscalls")
    assert result.status == 0, result.err
    events = syscall_events(result)
    # ADDR is parsed by a getaddrinfo of its own (AI_NUMERICHOST), then getnameinfo.
    assert [e["call"] for e in events] == ["getaddrinfo", "freeaddrinfo", "getnameinfo"]
    assert events[0]["args"]["hints"]["ai_flags"] == ["AI_NUMERICHOST", "AI_NUMERICSERV"]
    args = events[2]["args"]
    host, serv = socket.getnameinfo(("::1", 443, 0, 0), socket.NI_NUMERICSERV)
    assert (args["host"], args["serv"]) == (host, serv)
    assert args["addr"] == {"family": "AF_INET6", "port": 443, "flowinfo": 0, "address": "::1",
                            "scope_id": 0}
    assert (args["addrlen"], args["flags"]) == (28, ["NI_NUMERICSERV"])
    human = run("reverse", "127.0.0.1", "80", "--syscalls")
    assert human.status == 0
    assert ('getnameinfo({sin_family=AF_INET, sin_port=htons(80), '
            'sin_addr=inet_addr("127.0.0.1")}, 16, host, 1025, serv, 32, 0) = 0') in human.err
    assert re.search(r"\.sin_port\s+= htons\(80\),\s+/\* 00 50 \*/", human.err)
    assert re.search(r"\.sin_addr\s+= inet_addr\(\"127\.0\.0\.1\"\),\s+/\* 7f 00 00 01 \*/",
                     human.err)


# --- listen: strace is the oracle -----------------------------------------------------------


def traced_listen(args: list[str], client: Any, loop: str, tmp_path: Path) -> tuple[
        Result, list[Any], list[Any]]:
    """``listen ARGS`` under strace; ``client()`` runs once it listens."""
    log = tmp_path / "strace.txt"
    proc = popen_traced(["listen", *args], log, env={"NETPROBE_LOOP": loop})
    assert proc.stdout is not None
    seen = read_until(proc.stdout, b'"event":"listening"')
    try:
        client()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = Result(proc.returncode, (seen + out).decode(), err.decode())
    return result, reported_calls(result), parse_strace(log.read_text())


def show(reported: list[Any], seen: list[Any]) -> str:
    rows = [f"{'!' if a != b else ' '} {a} | {b}" for a, b in
            zip(reported + [None] * len(seen), seen + [None] * len(reported), strict=False)]
    return "\n".join(rows[: max(len(reported), len(seen))])


def echo_client(port: int, host: str = "127.0.0.1") -> None:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"hi\n")
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(100):
            received += chunk
    assert received == b"hi\n"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_listen_with_one_client_reports_what_strace_sees(loop: str, tmp_path: Path) -> None:
    port = free_port()
    result, reported, seen = traced_listen(
        [str(port), "--bind", "127.0.0.1", "--echo", "--count", "1"],
        lambda: echo_client(port), loop, tmp_path)
    assert result.status == 0, result.err
    assert reported == seen, show(reported, seen)
    calls = [r[0] for r in reported]
    # asyncio's accept loop goes on until accept4() fails with EAGAIN; libuv's does not.
    again = ["accept4"] if loop == "asyncio" else []
    assert calls == ["socket", "setsockopt", "bind", "listen", "listen", "accept4", *again,
                     "setsockopt", "close", "close"]
    # The loop's calls say so.
    by = {e["call"]: e.get("by") for e in syscall_events(result) if e["call"] == "accept4"}
    assert by == {"accept4": loop}
    # Its reads and writes on the client's socket: bytes only, before the close.
    events = result.events()
    summary = next(i for i, e in enumerate(events) if e["event"] == "syscall_summary")
    assert events[summary]["recv"] == events[summary]["send"] == {"calls": None, "bytes": 3}
    assert events[summary + 1]["call"] == "close"
    assert events[summary + 1]["fd"] == events[summary]["fd"]


def test_listen_every_candidate_reports_what_strace_sees(tmp_path: Path) -> None:
    # NULL host, port 0: one socket per family, IPV6_V6ONLY on the IPv6 one,
    # getsockopt(IPV6_V6ONLY) read back; one client on IPv4.
    holder: dict[str, int] = {}

    def client() -> None:
        echo_client(holder["port"])

    log = tmp_path / "strace.txt"
    proc = popen_traced(["listen", "0", "--echo", "--count", "1"], log)
    assert proc.stdout is not None
    early = read_until(proc.stdout, b'"event":"listening"')
    listening = json.loads(next(line for line in early.splitlines()
                                if b'"event":"listening"' in line))
    holder["port"] = listening["sockets"][0]["port"]
    try:
        client()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = Result(proc.returncode, (early + out).decode(), err.decode())
    assert result.status == 0, result.err
    reported, seen = reported_calls(result), parse_strace(log.read_text())
    assert reported == seen, show(reported, seen)
    families = [r[2][0] for r in reported if r[0] == "socket"]
    assert len(families) == len(listening["sockets"]) >= 1
    if "AF_INET6" in families:
        assert ("setsockopt", "IPPROTO_IPV6", "IPV6_V6ONLY") in {
            (r[0], *r[2][:2]) for r in reported} or len(families) == 1
        assert any(r[0] == "getsockopt" and r[2][1] == "IPV6_V6ONLY" for r in reported)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_listen_udp_reports_what_strace_sees(loop: str, tmp_path: Path) -> None:
    port = free_port(kind=socket.SOCK_DGRAM)

    def client() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(b"hi", ("127.0.0.1", port))
            assert sock.recvfrom(10)[0] == b"hi"

    result, reported, seen = traced_listen(
        [str(port), "--bind", "127.0.0.1", "--udp", "--echo", "--count", "1"], client, loop,
        tmp_path)
    assert result.status == 0, result.err
    assert reported == seen, show(reported, seen)
    assert [r[0] for r in reported][-1] == "close"


def test_listen_human_roadmap() -> None:
    # The server's roadmap in C: socket, setsockopt, bind, listen, accept, close.
    port = free_port()
    proc = subprocess.Popen(
        [*NETPROBE, "listen", str(port), "--bind", "127.0.0.1", "--echo", "--count", "1",
         "--syscalls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stderr is not None
    seen = read_until(proc.stderr, b"listening on")
    assert b"listening on" in seen, seen
    echo_client(port)
    _out, err = proc.communicate(timeout=30)
    text = seen.decode() + err.decode()
    assert proc.returncode == 0, text
    order = ["socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3",
             "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0",
             f'bind(3, {{sin_family=AF_INET, sin_port=htons({port}), '
             f'sin_addr=inet_addr("127.0.0.1")}}, 16) = 0',
             "listen(3, 4096) = 0", "accept4(3, ", "close(3) = 0"]
    positions = [text.find(item) for item in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), text
    assert re.search(r"^\s+\d+ getaddrinfo\(\"127\.0\.0\.1\", \"\d+\"", text, re.MULTILINE)


# --- connect: strace is the oracle -------------------------------------------------------------

ECHO = "SYSTEM:cat"

# A listener whose accept queue is full: the kernel drops further SYNs, so
# a connect to it neither succeeds nor fails until the timeout.
SILENT = r"""
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
server = socket.socket(family)
if family == socket.AF_INET6:
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(0)
queued = socket.create_connection((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
time.sleep(3600)
"""


def agree(traced_run: Traced) -> list[Call]:
    """The two accounts are the same; returns them."""
    assert traced_run.reported == traced_run.seen, traced_run.explain()
    return traced_run.reported


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        # socat's fork children (one per UDP peer) outlive their parent: kill
        # the whole tree, children first, so no echo server is left behind.
        for pid in reversed(descendants(proc.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


@pytest.fixture
def echo_port(spawned: list[subprocess.Popen[bytes]]) -> int:
    port = free_port()
    spawned.append(subprocess.Popen(
        ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", ECHO],
        stderr=subprocess.DEVNULL))
    wait_for_port(port)
    return port


def silent(host: str, spawned: list[subprocess.Popen[bytes]],
           prefix: Sequence[str] = ()) -> int:
    port = free_port(socket.AF_INET6 if ":" in host else socket.AF_INET)
    proc = subprocess.Popen([*prefix, sys.executable, "-c", SILENT, host, str(port)],
                            stdout=subprocess.PIPE)
    spawned.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return port


def wait_for_udp(port: int, timeout: float = 10) -> None:
    """Until something is bound to PORT/udp (socat has no readiness signal); asks ss,
    which does not disturb the server the way a probing bind() could."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(["ss", "-Hlun", f"sport = :{port}"], capture_output=True)
        if listed.stdout.strip():
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing bound to port {port}/udp")


def test_connect_open_port(echo_port: int) -> None:
    run_ = traced("connect", "127.0.0.1", str(echo_port), input="hi\n")
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    # Non-blocking from socket() (no ioctl), and the second connect() is the verdict:
    # the loopback handshake is done before the first returns (no poll, no SO_ERROR).
    assert [c[0] for c in calls] == ["socket", "connect", "connect", "shutdown", "close"]
    assert calls[0][2] == ("AF_INET", "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK", "IPPROTO_TCP")
    assert calls[1][3:] == (-1, "EINPROGRESS")
    assert calls[2][3:] == (0, None)
    # Nor later: the data phase finds the socket non-blocking already.
    assert not [e for e in run_.result.events()
                if e["event"] == "syscall" and e["call"] == "ioctl"]
    # Reads and writes are summed up per descriptor, one by one with -v.
    events = run_.result.events()
    summary = next(e for e in events if e["event"] == "syscall_summary")
    assert (summary["fd"], summary["send"]["bytes"], summary["recv"]["bytes"]) == (3, 3, 3)
    assert not any(e["event"] == "syscall" and e["call"] in ("recv", "send") for e in events)
    verbose = run("connect", "127.0.0.1", str(echo_port), "--json", "--syscalls", "-v",
                  input="hi\n")
    sends = [e for e in verbose.events() if e["event"] == "syscall" and e["call"] == "send"]
    assert [e["result"] for e in sends] == [3]


def test_connect_refused_port() -> None:
    port = free_port()
    run_ = traced("connect", "127.0.0.1", str(port))
    assert run_.result.status == 4
    calls = agree(run_)
    # The RST is handled before the first connect() returns: the second says it.
    assert [c[0] for c in calls] == ["socket", "connect", "connect", "close"]
    assert calls[1][3:] == (-1, "EINPROGRESS") and calls[2][3:] == (-1, "ECONNREFUSED")
    human = run("connect", "127.0.0.1", str(port), "--syscalls")
    assert ("= -1 EINPROGRESS (Operation now in progress)" in human.err)
    assert "= -1 ECONNREFUSED (Connection refused)" in human.err
    assert "SO_ERROR" not in human.err


def test_connect_silent_port_times_out(spawned: list[subprocess.Popen[bytes]]) -> None:
    port = silent("127.0.0.1", spawned)
    run_ = traced("connect", "127.0.0.1", str(port), "--timeout", "1")
    assert run_.result.status == 5, run_.result.err
    calls = agree(run_)
    # The second connect() says the first is still under way (EALREADY), then
    # poll waits; no getsockopt: poll ran out of time, the socket was closed unconnected.
    assert [c[0] for c in calls] == ["socket", "connect", "connect", "close"]
    assert calls[2][3:] == (-1, "EALREADY")
    polls = [e for e in run_.result.events() if e["event"] == "syscall" and e["call"] == "poll"]
    assert len(polls) == 1 and polls[0]["result"] == 0
    assert 900 <= polls[0]["elapsed_us"] / 1000 < 5000


#: A listener whose queue is full when the client's SYN comes (dropped, as above), and
#: that accepts the queued connection a moment later: the client's SYN sent again
#: (after a second) is answered: a peer that answers late, as a remote one does.
#: Accepts (making room in its queue) only once netprobe's SYN is waiting: a socket to
#: its port in SYN-SENT (state 02 in /proc/net/tcp), then 0.3 s for the two connect()s
#: to be made.  Not a fixed delay from start-up, which a loaded machine can outlast.
LATE = SILENT.replace("time.sleep(3600)", """deadline = time.monotonic() + 30
port = f":{int(sys.argv[2]):04X} "
while time.monotonic() < deadline:
    with open("/proc/net/tcp") as table:
        if any(f.split()[2].endswith(port.strip()) and f.split()[3] == "02"
               for f in list(table)[1:]):
            break
    time.sleep(0.005)
time.sleep(0.3)
server.accept()
while True:
    server.accept()""")


def test_connect_late_answer_polls_then_reads_so_error(
        spawned: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", LATE, "127.0.0.1", str(port)],
                            stdout=subprocess.PIPE)
    spawned.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    run_ = traced("connect", "127.0.0.1", str(port), "--timeout", "5", "-z")
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    # Still under way at the second connect(): then the textbook's poll and SO_ERROR.
    assert [c[0] for c in calls] == ["socket", "connect", "connect", "getsockopt", "close"]
    assert calls[1][3:] == (-1, "EINPROGRESS") and calls[2][3:] == (-1, "EALREADY")
    assert calls[3][2] == ("SOL_SOCKET", "SO_ERROR", 0, 4)
    polls = [e for e in run_.result.events() if e["event"] == "syscall" and e["call"] == "poll"]
    assert [e["result"] for e in polls] == [1]


def test_connect_source_binds_first(echo_port: int) -> None:
    run_ = traced("connect", "127.0.0.1", str(echo_port), "--source", "127.0.0.1", "-z")
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "setsockopt", "bind", "connect", "connect",
                                     "close"]
    assert calls[1][2] == ("IPPROTO_IP", "IP_BIND_ADDRESS_NO_PORT", 1, 4)
    assert calls[2][2] == (("AF_INET", "127.0.0.1", 0), 16)


def test_connect_udp(spawned: list[subprocess.Popen[bytes]]) -> None:
    port = free_port(kind=socket.SOCK_DGRAM)
    spawned.append(subprocess.Popen(["socat", f"UDP4-LISTEN:{port},bind=127.0.0.1,fork", ECHO],
                                    stderr=subprocess.DEVNULL))
    wait_for_udp(port)
    run_ = traced("connect", "127.0.0.1", str(port), "--udp", "--timeout", "1", input="hi\n")
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "connect", "close"]
    assert calls[0][2] == ("AF_INET", "SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK", "IPPROTO_UDP")
    assert calls[1][3:] == (0, None)  # a datagram socket connects at once


def test_connect_udp_check_closed_port() -> None:
    port = free_port(kind=socket.SOCK_DGRAM)
    run_ = traced("connect", "127.0.0.1", str(port), "--udp", "-z")
    assert run_.result.status == 4, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "connect", "close"]
    recv = [e for e in run_.result.events() if e["event"] == "syscall" and e["call"] == "recv"]
    assert [e["errno"] for e in recv] == []  # summed up without -v
    verbose = run("connect", "127.0.0.1", str(port), "--udp", "-z", "--json", "--syscalls", "-v")
    recv = [e for e in verbose.events() if e["event"] == "syscall" and e["call"] == "recv"]
    assert [e["errno"] for e in recv] == ["ECONNREFUSED"]


DUAL_HOSTS = "127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n"


def test_connect_sequential_dual_refused_then_connected(namespace: NsFactory) -> None:
    ns = namespace(hosts=DUAL_HOSTS)
    port = 4242
    ns_echo(ns, port)
    run_ = traced("connect", "dual.test", str(port), "-z", prefix=ns.prefix)
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    assert [(c[0], c[1]) for c in calls] == [
        ("socket", 3), ("connect", 3), ("connect", 3), ("close", 3),
        ("socket", 3), ("connect", 3), ("connect", 3), ("close", 3)]
    assert calls[0][2][0] == "AF_INET6" and calls[4][2][0] == "AF_INET"


def test_connect_happy_eyeballs_interleaved(namespace: NsFactory,
                                            spawned: list[subprocess.Popen[bytes]]) -> None:
    ns = namespace(hosts=DUAL_HOSTS)
    port = 4243
    ns_echo(ns, port)
    proc = ns.popen([sys.executable, "-c", SILENT, "::1", str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    run_ = traced("connect", "dual.test", str(port), "-z", "--happy-eyeballs", "--he-delay",
                  "200ms", "--timeout", "5", prefix=ns.prefix)
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    # Both attempts overlap: the IPv6 one is still in progress when the IPv4
    # one starts, wins, and the IPv6 one is closed (cancelled).
    six, four = calls[0][1], calls[2][1]  # (fd 3 is the selector's epoll descriptor)
    assert [(c[0], c[1]) for c in calls] == [
        ("socket", six), ("connect", six), ("socket", four), ("connect", four),
        ("getsockopt", four), ("close", six), ("close", four)], run_.explain()
    assert calls[1][3:] == calls[3][3:] == (-1, "EINPROGRESS")
    assert calls[0][2][0] == "AF_INET6" and calls[2][2][0] == "AF_INET"


def test_connect_happy_eyeballs_refused_starts_next_at_once(namespace: NsFactory) -> None:
    ns = namespace(hosts=DUAL_HOSTS)
    port = 4244
    ns_echo(ns, port)
    run_ = traced("connect", "dual.test", str(port), "-z", "--happy-eyeballs",
                  prefix=ns.prefix)
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    names = [c[0] for c in calls]
    assert names[:2] == ["socket", "connect"] and "getsockopt" in names
    assert names[-1] == "close"


def test_listen_names_reports_getnameinfo(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*NETPROBE, "listen", str(port), "--bind", "127.0.0.1", "--names", "--echo", "--count",
         "1", "--json", "--syscalls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env())
    assert proc.stdout is not None
    seen = read_until(proc.stdout, b'"event":"listening"')
    echo_client(port)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = Result(0, (seen + out).decode(), "").events()
    accepted = next(e for e in events if e["event"] == "accepted")["client"]
    names = [e for e in events if e["event"] == "syscall" and e["call"] == "getnameinfo"]
    assert len(names) == 1
    assert names[0]["args"]["addr"] == {"family": "AF_INET", "port": accepted["port"],
                                        "address": "127.0.0.1"}
    assert names[0]["args"]["host"] == accepted["host"]
    calls = [e["call"] for e in events if e["event"] == "syscall"]
    # accept4 first, then the lookup, then the client's close.
    assert calls.index("accept4") < calls.index("getnameinfo") < len(calls) - 1


def test_c_form_lines() -> None:
    six = {"family": "AF_INET6", "port": 8000, "flowinfo": 0, "address": "::", "scope_id": 0}
    assert c_form.call_c({"call": "bind", "args": {"sockfd": 3, "addr": six, "addrlen": 28},
                          "result": 0, "errno": None}) == (
        'bind(3, {sin6_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), '
        'sin6_addr=inet_pton(AF_INET6, "::"), sin6_scope_id=0}, 28) = 0')
    assert c_form.call_c({"call": "connect", "args": {
        "sockfd": 3, "addr": {"family": "AF_INET", "port": 8000, "address": "127.0.0.1"},
        "addrlen": 16}, "result": -1, "errno": "ECONNREFUSED"}) == (
        'connect(3, {sin_family=AF_INET, sin_port=htons(8000), '
        'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)')
    assert c_form.call_c({"call": "setsockopt", "args": {
        "sockfd": 3, "level": "SOL_SOCKET", "optname": "SO_REUSEADDR", "optval": 1,
        "optlen": 4}, "result": 0, "errno": None}) == (
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0")
    assert c_form.call_c({"call": "shutdown", "args": {"sockfd": 4, "how": "SHUT_WR"},
                          "result": 0, "errno": None}) == "shutdown(4, SHUT_WR) = 0"
    rows = c_form.sockaddr_fields(six)
    assert [r[0] for r in rows] == ["sin6_family", "sin6_port", "sin6_flowinfo", "sin6_addr",
                                    "sin6_scope_id"]
    assert rows[1][2] == "1f 40" and rows[3][2] == " ".join(["00"] * 16)


@pytest.mark.parametrize(("extra", "status", "calls"), [
    # No time limit: one blocking connect(), refused at once.
    (["--timeout", "0"], 4, ["socket", "connect", "close"]),
    # --wait: every round is its own socket, connect, connect (the verdict), close.
    (["--wait", "1.2", "--interval", "0.5"], 5, ["socket", "connect", "connect", "close"]),
])
def test_connect_refused_variants(extra: list[str], status: int, calls: list[str]) -> None:
    run_ = traced("connect", "127.0.0.1", str(free_port()), *extra)
    assert run_.result.status == status, run_.result.err
    names = [c[0] for c in agree(run_)]
    rounds = len([e for e in run_.result.events() if e["event"] == "round"]) or 1
    assert names == calls * rounds


def test_listen_port_in_use_reports_the_failing_bind() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        run_ = traced("listen", str(port), "--bind", "127.0.0.1", timeout=30)
        human = run("listen", str(port), "--bind", "127.0.0.1", "--syscalls", timeout=30)
    assert run_.result.status == 4, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "setsockopt", "bind", "close"]
    assert calls[2][3:] == (-1, "EADDRINUSE")
    assert human.status == 4
    assert "= -1 EADDRINUSE (Address already in use)" in human.err


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_listen_with_queued_clients_reports_what_strace_sees(loop: str, tmp_path: Path) -> None:
    # Three clients queued at once: asyncio accepts them all (then EAGAIN)
    # before it sets any up; the order must still be the kernel's.
    port = free_port()

    def clients() -> None:
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for sock in socks:
            sock.sendall(b"hi\n")
            sock.shutdown(socket.SHUT_WR)
        for sock in socks:
            while sock.recv(100):
                pass
            sock.close()

    result, reported, seen = traced_listen(
        [str(port), "--bind", "127.0.0.1", "--echo", "--count", "3"], clients, loop, tmp_path)
    assert result.status == 0, result.err
    assert reported == seen, show(reported, seen)
    accepted = [r for r in reported if r[0] == "accept4" and r[3] >= 0]
    assert len(accepted) == 3


# --- TLS: the same socket calls, the handshake is data ------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("extra", [[], ["-z"]])
def test_connect_tls_reports_what_strace_sees(pki: Pki, extra: list[str]) -> None:
    with socat_echo(pki.path("valid")) as port:
        run_ = traced("connect", "localhost", str(port), "-4", "--tls", "--ca",
                      str(pki.root / "ca.pem"), *extra, input="hello tls\n")
    assert run_.result.status == 0, run_.result.err
    calls = [c[0] for c in agree(run_)]
    assert calls[:3] == ["socket", "connect", "connect"] and calls[-1] == "close"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_listen_tls_reports_what_strace_sees(loop: str, tmp_path: Path) -> None:
    port = free_port()

    def client() -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # netprobe's ephemeral certificate
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw) as sock:
            sock.sendall(b"hi\n")
            assert sock.recv(10) == b"hi\n"

    result, reported, seen = traced_listen(
        [str(port), "--bind", "127.0.0.1", "--echo", "--count", "1", "--tls"], client, loop,
        tmp_path)
    assert result.status == 0, result.err
    assert reported == seen, show(reported, seen)
    assert "accept4" in [r[0] for r in reported]


def test_renderers_want_syscall_events_only_with_the_flag() -> None:
    # listen asks once (Renderer.wants) and builds the loop's per-client
    # syscall events only when they show.
    from netprobe.render import Settings
    from netprobe.render.jsonl import JsonLines
    from netprobe.render.listen import ListenHuman

    assert JsonLines().wants("syscall") is False
    assert JsonLines(syscalls=True).wants("syscall") is True
    settings = Settings()
    assert ListenHuman(settings).wants("syscall") is False
    settings.syscalls = True
    assert ListenHuman(settings).wants("syscall") is True
    settings.quiet = True  # -q: the calls are trace lines, dropped like the rest
    assert ListenHuman(settings).wants("syscall") is False


# --- check: the same calls, per target -------------------------------------------------------


def test_check_reports_what_strace_sees(echo_port: int) -> None:
    refused = free_port()
    run_ = traced("check", f"127.0.0.1:{echo_port}", f"127.0.0.1:{refused}", "--parallel", "1")
    assert run_.result.status == 4, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "connect", "connect", "close"] * 2
    assert calls[2][3:] == (0, None) and calls[6][3:] == (-1, "ECONNREFUSED")
    resolved = [e for e in run_.result.events()
                if e["event"] == "syscall" and e["call"] == "getaddrinfo"]
    assert len(resolved) == 2


def test_one_call_a_line_on_a_narrow_terminal_width() -> None:
    """Each call stays on one line whatever COLUMNS says, as strace prints it (grep/awk)."""
    port = free_port()  # nothing listens: refused
    result = run("connect", "127.0.0.1", str(port), "--syscalls", env={"COLUMNS": "60"})
    assert result.status == 4, result
    connect_lines = [line for line in result.err.splitlines() if "connect(" in line]
    assert len(connect_lines) == 2, result.err
    assert re.search(r"sin_port=htons\(\d+\).*\) = -1 EINPROGRESS .*<\d+ us>$", connect_lines[0])
    assert re.search(r"sin_port=htons\(\d+\).*\) = -1 ECONNREFUSED .*<\d+ us>$", connect_lines[1])


# --- the DNS view: netprobe's own sockets, handed to dnspython ---------------------------------


def test_dns_view_udp_socket_reports_what_strace_sees(dnsmasq_server: Dnsmasq) -> None:
    run_ = traced("resolve", "localhost", "--dns", "-4", "--server", dnsmasq_server.server())
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    assert calls == [("socket", 3, ("AF_INET", "SOCK_DGRAM|SOCK_CLOEXEC", "IPPROTO_UDP"), 3,
                      None), ("close", 3, (), 0, None)]
    # The one other call netprobe makes on it before dnspython's sendto/recvfrom.
    ioctls = [e["args"] for e in run_.result.events()
              if e["event"] == "syscall" and e["call"] == "ioctl"]
    assert ioctls == [{"fd": 3, "request": "FIONBIO", "argp": 1}]


def test_dns_view_tcp_after_truncation_reports_what_strace_sees(
        dns_namespace: Callable[..., DnsNamespace]) -> None:
    # dnsmasq's host-record makes the PTR too: 198.51.100.1 is big.test, whose
    # 120 A records do not fit a UDP answer: the view asks again over TCP.
    ns = dns_namespace()
    run_ = traced("reverse", "198.51.100.1", "--dns", prefix=ns.prefix)
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    assert [c[0] for c in calls] == ["socket", "close"] * 2 + [
        "socket", "connect", "connect", "close"]
    assert calls[4][2][1] == "SOCK_STREAM|SOCK_CLOEXEC"
    assert calls[5][2] == (("AF_INET", "127.0.0.1", 53), 16)
    assert calls[5][3:] == (-1, "EINPROGRESS")
    assert calls[6][3:] == (0, None)



# --- --explain: its probes of the interfaces and of the source addresses ----------------------


def test_explain_probes_report_what_strace_sees(namespace: NsFactory) -> None:
    # Two addresses (hosts file): getaddrinfo sorts them, and so does the
    # explanation, probing each destination's source with a UDP socket.
    ns = namespace(hosts="127.0.0.1 localhost\n::1 localhost\n")
    run_ = traced("resolve", "localhost", "--explain", prefix=ns.prefix, also=NAME_CALLS)
    assert run_.result.status == 0, run_.result.err
    calls = agree(run_)
    # The netlink dump of the interfaces' addresses (glibc's own, inside
    # getaddrinfo, is left out), then one UDP connect + getsockname per address.
    assert [c[0] for c in calls[:4]] == ["socket", "bind", "getsockname", "close"]
    assert calls[0][2] == ("AF_NETLINK", "SOCK_RAW|SOCK_CLOEXEC", "NETLINK_ROUTE")
    assert calls[1][2] == (("AF_NETLINK", 0, 0), 12)
    probes = calls[4:]
    assert [c[0] for c in probes] == ["socket", "connect", "getsockname", "close"] * 2
    assert sorted(c[2][0][1] for c in probes if c[0] == "connect") == ["127.0.0.1", "::1"]
    assert sorted(c[2][0][1] for c in probes if c[0] == "getsockname") == ["127.0.0.1", "::1"]
    # The dump's request and its replies are shown too, in C form.
    human = run("resolve", "localhost", "--explain", "--syscalls", prefix=ns.prefix)
    assert "bind(3, {nl_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 0" in human.err
    assert re.search(r"sendto\(3, buf, 20, 0, \{nl_family=AF_NETLINK, nl_pid=0, "
                     r"nl_groups=00000000\}, 12\) = 20", human.err), human.err
    assert re.search(r"/\* fd 3: \d+ recv\(\) = \d+ bytes", human.err), human.err
