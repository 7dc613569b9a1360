"""strace as the oracle of ``--syscalls``: run netprobe under strace, compare the two accounts.

``traced(...)`` runs ``strace -f -e trace=<the socket calls> -o FILE netprobe
ARGS --json --syscalls`` and returns both what netprobe reported (its
``syscall`` events) and what strace saw, parsed into the same canonical form:
``(call, fd, args, result, errno)`` with socket addresses as
``(family, address, port[, flowinfo, scope_id])`` tuples.

Only netprobe's own sockets are compared.  strace also sees the C library's
sockets inside getaddrinfo (netlink for AI_ADDRCONFIG, nscd's Unix socket,
the unconnected-then-connected UDP sockets glibc's RFC 6724 sort opens with
protocol IPPROTO_IP) and every close() of a file: a descriptor is followed
from the socket()/accept4() that made an AF_INET/AF_INET6 socket to its
close(), and glibc's sorting sockets (SOCK_DGRAM with IPPROTO_IP, which
netprobe never opens: its sockets take getaddrinfo's protocol, and the DNS
view's and ``--explain``'s UDP sockets name IPPROTO_UDP) are left out.

Netlink sockets: glibc's (AI_ADDRCONFIG, inside getaddrinfo) and
``--explain``'s (its RTM_GETADDR dump) are made with the same calls, so
they are told apart by what netprobe reported: ``parse_strace(text,
netlink=K)`` keeps the last K netlink sockets strace saw, K being how many
netprobe reported.  netprobe opens its own after the getaddrinfo it
explains, so these are its own; a test that counts on them asserts that K
is what it expects, so an unreported socket cannot pass unnoticed.
So do not run ``--explain`` under it: its own probing sockets (netlink, UDP
with IPPROTO_IP) are not reported and this filter would hide them too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tests.helpers import NETPROBE, Result, child_env

TRACED = ("socket", "connect", "bind", "listen", "setsockopt", "getsockopt", "accept4",
          "shutdown", "close")
#: Compared only where a test asks for it (``traced(..., also=NAMES)``): the
#: event loops call getsockname themselves (a transport's "sockname"),
#: unreported, so it is compared on the sockets whose every call is netprobe's.
NAME_CALLS = ("getsockname",)
STRACE = shutil.which("strace")

Call = tuple[str, int, tuple[Any, ...], int, str | None]


class Traced(NamedTuple):
    result: Result
    reported: list[Call]
    seen: list[Call]
    strace_text: str

    def explain(self) -> str:
        rows = [f"{'netprobe --syscalls':<90} | strace"]
        for i in range(max(len(self.reported), len(self.seen))):
            left = str(self.reported[i]) if i < len(self.reported) else ""
            right = str(self.seen[i]) if i < len(self.seen) else ""
            mark = " " if left == right else "!"
            rows.append(f"{mark}{left:<89} | {right}")
        return "\n".join(rows) + "\n--- stderr ---\n" + self.result.err


# --- strace's side -------------------------------------------------------------------

_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<result>-?\d+)"
                   r"(?:\s+(?P<errno>E[A-Z0-9]+)\b.*)?$")
_LEVELS = {"SOL_TCP": "IPPROTO_TCP", "SOL_IP": "IPPROTO_IP", "SOL_IPV6": "IPPROTO_IPV6",
           "SOL_UDP": "IPPROTO_UDP"}


def split_args(text: str) -> list[str]:
    """Split a strace argument list at its top-level commas."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current = ""
    previous = ""
    for char in text:
        if quoted:
            current += char
            if char == '"' and previous != "\\":
                quoted = False
        elif char == '"':
            quoted = True
            current += char
        elif char in "{[(":
            depth += 1
            current += char
        elif char in "}])":
            depth -= 1
            current += char
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
        previous = char
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_sockaddr(text: str) -> tuple[Any, ...] | None:
    """strace's ``{sa_family=AF_INET, sin_port=htons(80), ...}`` as a tuple."""
    if text == "NULL" or not text.startswith("{"):
        return None
    family = re.search(r"sa_family=(\w+)", text)
    name = family.group(1) if family else "?"
    if name == "AF_INET":
        port = re.search(r"sin_port=htons\((\d+)\)", text)
        address = re.search(r'inet_addr\("([^"]+)"\)', text)
        assert port and address, text
        return ("AF_INET", address.group(1), int(port.group(1)))
    if name == "AF_NETLINK":
        pid = re.search(r"nl_pid=(\d+)", text)
        groups = re.search(r"nl_groups=([0-9a-f]+)", text)
        assert pid and groups, text
        return ("AF_NETLINK", int(pid.group(1)), int(groups.group(1), 16))
    if name == "AF_INET6":
        port = re.search(r"sin6_port=htons\((\d+)\)", text)
        flow = re.search(r"sin6_flowinfo=htonl\((\d+)\)", text)
        address = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', text)
        scope = re.search(r"sin6_scope_id=(\d+)", text)
        assert port and flow and address and scope, text
        return ("AF_INET6", address.group(1), int(port.group(1)), int(flow.group(1)),
                int(scope.group(1)))
    return (name,)


def _bracketed(text: str) -> Any:
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    inner = inner.split("=>")[-1].strip()
    return int(inner) if re.fullmatch(r"-?\d+", inner) else inner


def canonical_strace(call: str, parts: list[str], result: int,
                     errno: str | None) -> Call:
    fd = result if call == "socket" else int(parts[0])
    args: tuple[Any, ...]
    if call == "socket":
        protocol = "0" if parts[2] == "IPPROTO_IP" else parts[2]
        args = (parts[0], parts[1], protocol)
    elif call in ("connect", "bind"):
        args = (parse_sockaddr(parts[1]), int(parts[2]))
    elif call == "getsockname":
        args = (parse_sockaddr(parts[1]), _bracketed(parts[2]))
    elif call in ("setsockopt", "getsockopt"):
        args = (_LEVELS.get(parts[1], parts[1]), parts[2], _bracketed(parts[3]),
                _bracketed(parts[4]))
    elif call == "listen":
        args = (int(parts[1]),)
    elif call == "accept4":
        args = (parse_sockaddr(parts[1]), parts[3])
    elif call == "shutdown":
        args = (parts[1],)
    else:
        args = ()
    return (call, fd, args, result, errno)


def parse_strace(text: str, netlink: int = 0) -> list[Call]:
    """Every traced call on netprobe's AF_INET/AF_INET6 sockets (and the last
    ``netlink`` AF_NETLINK ones), in order."""
    netlink_sockets = len(re.findall(r"^\d+\s+socket\(AF_NETLINK,.*\)\s+=\s+\d+",
                                     text, re.MULTILINE))
    netlink_seen = 0
    pending: dict[str, str] = {}
    calls: list[Call] = []
    tracked: set[int] = set()
    for raw in text.splitlines():
        match = _LINE.match(raw)
        if not match:
            continue
        pid, rest = match.group("pid"), match.group("rest")
        if rest.startswith(("+++", "---")):
            continue
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"^<\.\.\. (\w+) resumed>\s*(.*)$", rest)
        if resumed:
            rest = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        call_match = _CALL.match(rest)
        if not call_match:
            continue
        call = call_match.group("call")
        parts = split_args(call_match.group("args"))
        result = int(call_match.group("result"))
        errno = call_match.group("errno")
        if call == "socket":
            if parts[0] == "AF_NETLINK" and result >= 0:
                netlink_seen += 1
                if netlink_seen > netlink_sockets - netlink:
                    tracked.add(result)
                    calls.append(canonical_strace(call, parts, result, errno))
                continue
            ours = (parts[0] in ("AF_INET", "AF_INET6")
                    and not (parts[1].startswith("SOCK_DGRAM") and parts[2] in ("IPPROTO_IP", "0")))
            if not ours:
                continue
            if result >= 0:
                tracked.add(result)
        elif call == "accept4":
            if int(parts[0]) not in tracked:
                continue
            if result >= 0:
                tracked.add(result)
        else:
            fd = int(parts[0])
            if fd not in tracked:
                continue
            if call == "close":
                tracked.discard(fd)
        calls.append(canonical_strace(call, parts, result, errno))
    return calls


# --- netprobe's side -------------------------------------------------------------------


def _address(addr: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if addr is None:
        return None
    if addr["family"] == "AF_INET":
        return ("AF_INET", addr["address"], addr["port"])
    if addr["family"] == "AF_INET6":
        return ("AF_INET6", addr["address"], addr["port"], addr["flowinfo"], addr["scope_id"])
    if addr["family"] == "AF_NETLINK":
        return ("AF_NETLINK", addr["pid"], addr["groups"])
    return (addr["family"],)


def canonical_event(event: dict[str, Any]) -> Call:
    call, a = event["call"], event["args"]
    args: tuple[Any, ...]
    if call == "socket":
        protocol = "0" if a["protocol"] in ("0", "IPPROTO_IP") else a["protocol"]
        args = (a["domain"], a["type"], protocol)
        fd = event["result"]
    elif call in ("connect", "bind", "getsockname"):
        args, fd = (_address(a["addr"]), a["addrlen"]), a["sockfd"]
    elif call in ("setsockopt", "getsockopt"):
        args, fd = (a["level"], a["optname"], a["optval"], a["optlen"]), a["sockfd"]
    elif call == "listen":
        args, fd = (a["backlog"],), a["sockfd"]
    elif call == "accept4":
        args, fd = (_address(a.get("addr")), "|".join(a["flags"])), a["sockfd"]
    elif call == "shutdown":
        args, fd = (a["how"],), a["sockfd"]
    else:
        args, fd = (), a["fd"]
    return (call, fd, args, event["result"], event["errno"])


def reported_calls(result: Result, calls: Sequence[str] = TRACED) -> list[Call]:
    return [canonical_event(e) for e in result.events()
            if e["event"] == "syscall" and e["call"] in calls]


# --- running ---------------------------------------------------------------------------


def strace_argv(log: Path, calls: Sequence[str] = TRACED) -> list[str]:
    assert STRACE is not None
    return [STRACE, "-f", "-qq", "-e", "trace=" + ",".join(calls), "-o", str(log)]


def traced(*args: str, prefix: Sequence[str] = (), input: bytes | str | None = None,
           timeout: float = 60, env: dict[str, str] | None = None,
           also: Sequence[str] = ()) -> Traced:
    """``netprobe ARGS --json --syscalls`` under strace; both accounts, canonical.

    ``also``: calls compared besides TRACED (``NAME_CALLS``).
    """
    calls = (*TRACED, *also)
    with tempfile.TemporaryDirectory(prefix="netprobe-strace-") as tmp:
        log = Path(tmp) / "strace.txt"
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [*prefix, *strace_argv(log, calls), *NETPROBE, *args, "--json", "--syscalls"],
            input=data, capture_output=True, timeout=timeout, env=child_env(env),
        )
        text = log.read_text() if log.exists() else ""
    result = Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                    proc.stderr.decode("utf-8", "replace"))
    reported = reported_calls(result, calls)
    netlink = sum(1 for call in reported if call[0] == "socket" and call[2][0] == "AF_NETLINK")
    return Traced(result, reported, parse_strace(text, netlink), text)


def popen_traced(args: Sequence[str], log: Path, *, prefix: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A long-running netprobe (listen) under strace; the caller parses ``log`` afterwards."""
    return subprocess.Popen([*prefix, *strace_argv(log), *NETPROBE, *args, "--json",
                             "--syscalls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(env))

