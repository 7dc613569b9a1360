"""``--syscalls``: the ``syscall`` events drawn in C, the way the textbook writes the calls.

Plain strings, no rich: the JSON renderer uses the summariser below too, and
``--json`` must not import rich.  The human renderer prints the strings.

Design decision: C as the man pages write it, close to strace.  A line is
``socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3``, a socket
address ``{sin_family=AF_INET, sin_port=htons(8000),
sin_addr=inet_addr("127.0.0.1")}``: strace's notation (which people already
read), but with the structure's own field names (``sin_family``, where
strace writes ``sa_family``) because the point is to show the C structure a
program fills in.  Option levels are the man pages' names (IPPROTO_TCP where
strace says SOL_TCP; the same number).  ``resolve --syscalls`` draws
the ``struct addrinfo`` chain and every ``sockaddr`` field by field with its
bytes as they lie in memory: port and address in network byte order (what
htons/inet_pton produce), family and scope id in the host's order.
"""

from __future__ import annotations

import errno as errno_module
import os
import socket
import struct
import sys

from netprobe.events import Event, Fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Calls summed up per descriptor unless -v: the data phase makes thousands.
DATA_CALLS = frozenset({"recv", "send"})


# --- one call ------------------------------------------------------------------------


def sockaddr_c(addr: Event | None) -> str:
    """A socket address as a C initializer, one line."""
    if addr is None:
        return "NULL"
    family = addr.get("family")
    if family == "AF_INET":
        return (f"{{sin_family=AF_INET, sin_port=htons({addr['port']}), "
                f"sin_addr=inet_addr(\"{addr['address']}\")}}")
    if family == "AF_INET6":
        return (f"{{sin6_family=AF_INET6, sin6_port=htons({addr['port']}), "
                f"sin6_flowinfo=htonl({addr['flowinfo']}), "
                f"sin6_addr=inet_pton(AF_INET6, \"{addr['address']}\"), "
                f"sin6_scope_id={addr['scope_id']}}}")
    if family == "AF_NETLINK":
        return (f"{{nl_family=AF_NETLINK, nl_pid={addr['pid']}, "
                f"nl_groups={int(addr['groups']):08x}}}")
    # sockaddr_un as strace prints it (the SPEC's form): sa_family, and the
    # abstract namespace's leading NUL as an @ before the quoted name.
    if "path" in addr:
        return f"{{sa_family=AF_UNIX, sun_path={c_string(addr['path'])}}}"
    if "abstract" in addr:
        return f"{{sa_family=AF_UNIX, sun_path=@{c_string(addr['abstract'])}}}"
    return "{sa_family=AF_UNIX}"


_C_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v",
              0x0C: "\\f", 0x0D: "\\r"}


def c_string(text: Any) -> str:
    """A C string literal of a file name's bytes, as strace quotes it (octal for the rest)."""
    raw = os.fsencode(str(text))
    body = "".join(_C_ESCAPES.get(b) or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}")
                   for b in raw)
    return f'"{body}"'


def _flags(names: Any) -> str:
    if isinstance(names, list):
        return "|".join(str(n) for n in names) or "0"
    return str(names)


def _quote(value: Any) -> str:
    return "NULL" if value is None else '"' + str(value).replace('"', '\\"') + '"'


def hints_c(hints: Event) -> str:
    return (f"{{ai_flags={_flags(hints['ai_flags'])}, ai_family={hints['ai_family']}, "
            f"ai_socktype={hints['ai_socktype']}, ai_protocol={hints['ai_protocol']}}}")


def arguments(call: str, args: Event) -> str:
    """The argument list of one call, C style."""
    a = args
    if call == "socket":
        return f"{a['domain']}, {a['type']}, {a['protocol']}"
    if call in ("connect", "bind"):
        return f"{a['sockfd']}, {sockaddr_c(a['addr'])}, {a['addrlen']}"
    if call in ("getsockname", "getpeername"):
        length = f"[{a['addrlen']}]" if a.get("addrlen") is not None else "[?]"
        return f"{a['sockfd']}, {sockaddr_c(a['addr'])}, {length}"
    if call == "accept4":
        if a.get("addrlen") is None:  # no address asked for (libuv)
            return f"{a['sockfd']}, NULL, NULL, {_flags(a['flags'])}"
        address = "addr" if a.get("addr") is None else sockaddr_c(a["addr"])  # unfilled
        return f"{a['sockfd']}, {address}, [{a['addrlen']}], {_flags(a['flags'])}"
    if call == "setsockopt":
        given = a["optval"]
        shown = (f"{{{', '.join(f'{k}={v}' for k, v in given.items())}}}"
                 if isinstance(given, dict) else f"[{given}]")  # a structure: strace's form
        return f"{a['sockfd']}, {a['level']}, {a['optname']}, {shown}, {a['optlen']}"
    if call == "getsockopt":
        value: Any = "?" if a["optval"] is None else a["optval"]
        if isinstance(value, dict):  # a structure (SO_PEERCRED's ucred): strace's form
            fields = ", ".join(f"{k}={v}" for k, v in value.items())
            return f"{a['sockfd']}, {a['level']}, {a['optname']}, {{{fields}}}, [{a['optlen']}]"
        return f"{a['sockfd']}, {a['level']}, {a['optname']}, [{value}], [{a['optlen']}]"
    if call == "listen":
        return f"{a['sockfd']}, {a['backlog']}"
    if call == "shutdown":
        return f"{a['sockfd']}, {a['how']}"
    if call == "close":
        return str(a["fd"])
    if call == "ioctl":
        return f"{a['fd']}, {a['request']}, [{a['argp']}]"
    if call == "poll":
        fds = ", ".join(f"{{fd={f['fd']}, events={f['events']}}}" for f in a["fds"])
        return f"[{fds}], {a['nfds']}, {a['timeout']}"
    if call == "sendto":
        return (f"{a['sockfd']}, buf, {a['len']}, {a['flags']}, {sockaddr_c(a['addr'])}, "
                f"{a['addrlen']}")
    if call in ("recv", "send"):
        return f"{a['sockfd']}, buf, {a['len']}, {a['flags']}"
    if call == "unlink":
        return c_string(a["pathname"])
    if call == "chmod":
        return f"{c_string(a['pathname'])}, {a['mode']}"
    if call == "getaddrinfo":
        return f"{_quote(a['node'])}, {_quote(a['service'])}, {hints_c(a['hints'])}, &res"
    if call == "freeaddrinfo":
        return str(a.get("res", "res"))
    if call == "getnameinfo":
        return (f"{sockaddr_c(a['addr'])}, {a['addrlen']}, host, {a['hostlen']}, "
                f"serv, {a['servlen']}, {_flags(a['flags'])}")
    return ", ".join(f"{k}={v}" for k, v in a.items())


def result_c(fields: Event) -> str:
    """`` = 3``, `` = -1 ECONNREFUSED (Connection refused)``, ``EAI_NONAME`` for getaddrinfo."""
    call = fields["call"]
    if fields.get("unfinished"):
        return " = ? (abandoned: still running when the time limit passed)"
    if call == "freeaddrinfo":
        return ""
    result = fields["result"]
    code = fields.get("errno")
    if call in ("getaddrinfo", "getnameinfo"):
        if code:
            return f" = {code} ({result})"
        if call == "getnameinfo":
            return f" = 0  /* host={_quote(fields['args']['host'])}, " \
                   f"serv={_quote(fields['args']['serv'])} */"
        return " = 0"
    if code:
        number = getattr(errno_module, str(code), 0)
        text = f" ({os.strerror(number)})" if number else ""
        return f" = {result} {code}{text}"
    if call == "poll":
        revents = ", ".join(f"{{fd={f['fd']}, revents={r}}}"
                            for f, r in zip(fields["args"]["fds"], fields["args"]["revents"],
                                            strict=False))
        return f" = {result}" + (f" ([{revents}])" if revents else " (timeout)")
    return f" = {result}"


def call_c(fields: Event) -> str:
    """One call in C form: ``connect(3, {...}, 16) = -1 EINPROGRESS (...)``."""
    return f"{fields['call']}({arguments(fields['call'], fields['args'])}){result_c(fields)}"


def line(fields: Event) -> str:
    """The numbered, timed line the human trace shows."""
    by = f"  [by {fields['by']}]" if fields.get("by") else ""
    elapsed = "?" if fields["elapsed_us"] is None else fields["elapsed_us"]
    return f"{fields['n']:>3} {call_c(fields)}  <{elapsed} us>{by}"


# --- the structures ---------------------------------------------------------------------


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _family_number(name: str) -> int:
    return int(getattr(socket, name, 0))


def sockaddr_fields(addr: Event) -> list[tuple[str, str, str]]:
    """(field, value as C, the bytes in memory) for each field of the structure, in order.

    Port, flowinfo and address are in network byte order (big-endian) in the
    structure: ``htons(80)`` is ``00 50`` whatever the machine.  The family
    and the IPv6 scope id are in host order (on x86 ``AF_INET6`` is ``0a 00``).
    """
    host = "<" if sys.byteorder == "little" else ">"
    family = str(addr["family"])
    if family == "AF_INET":
        return [
            ("sin_family", "AF_INET", _hex(struct.pack(f"{host}H", socket.AF_INET))),
            ("sin_port", f"htons({addr['port']})", _hex(struct.pack("!H", addr["port"]))),
            ("sin_addr", f"inet_addr(\"{addr['address']}\")",
             _hex(socket.inet_pton(socket.AF_INET, addr["address"]))),
            ("sin_zero", "{0}", _hex(bytes(8))),
        ]
    if family == "AF_INET6":
        return [
            ("sin6_family", "AF_INET6", _hex(struct.pack(f"{host}H", socket.AF_INET6))),
            ("sin6_port", f"htons({addr['port']})", _hex(struct.pack("!H", addr["port"]))),
            ("sin6_flowinfo", f"htonl({addr['flowinfo']})",
             _hex(struct.pack("!I", addr["flowinfo"]))),
            ("sin6_addr", f"inet_pton(AF_INET6, \"{addr['address']}\")",
             _hex(socket.inet_pton(socket.AF_INET6, str(addr["address"]).split("%")[0]))),
            ("sin6_scope_id", str(addr["scope_id"]),
             _hex(struct.pack(f"{host}I", addr["scope_id"]))),
        ]
    return [("sa_family", family, _hex(struct.pack(f"{host}H", _family_number(family))))]


def sockaddr_block(addr: Event, indent: str) -> list[str]:
    """``struct sockaddr_in6 { ... }``, a field a line with its bytes in a comment."""
    name = {"AF_INET": "sockaddr_in", "AF_INET6": "sockaddr_in6"}.get(str(addr["family"]),
                                                                     "sockaddr")
    rows = sockaddr_fields(addr)
    width = max(len(f) for f, _, _ in rows)
    value_width = max(len(v) for _, v, _ in rows) + 1
    lines = [f"(struct {name} *) {{"]
    for field, value, data in rows:
        order = "  host order" if field.endswith(("_family", "_scope_id")) else ""
        lines.append(f"{indent}    .{field.ljust(width)} = {(value + ',').ljust(value_width)}"
                     f"  /* {data}{order} */")
    lines.append(f"{indent}}}")
    return lines


def addrinfo_block(fields: Event) -> list[str]:
    """The ``struct addrinfo`` chain getaddrinfo returned, as C, node by node."""
    chain: list[Fields] = fields["args"].get("res") or []
    if not chain:
        return ["    res = NULL"]
    lines: list[str] = []
    for index, node in enumerate(chain):
        head = "res" if index == 0 else f"res{'->ai_next' * index}"
        lines.append(f"    {head} = &(struct addrinfo) {{")
        lines.append(f"        .ai_flags     = {_flags(node['ai_flags'])},"
                     "   /* glibc copies the hints' flags */")
        lines.append(f"        .ai_family    = {node['ai_family']},")
        lines.append(f"        .ai_socktype  = {node['ai_socktype']},")
        lines.append(f"        .ai_protocol  = {node['ai_protocol']},")
        lines.append(f"        .ai_addrlen   = {node['ai_addrlen']},")
        address = sockaddr_block(node["ai_addr"], "        ")
        lines.append(f"        .ai_addr      = {address[0]}")
        lines.extend(address[1:-1])
        lines.append(address[-1] + ",")
        lines.append(f"        .ai_canonname = {_quote(node['ai_canonname'])},")
        following = "NULL" if index == len(chain) - 1 else f"res{'->ai_next' * (index + 1)}"
        lines.append(f"        .ai_next      = {following},")
        lines.append("    };")
    return lines


# --- reads and writes summed up ----------------------------------------------------------


class DataSummary:
    """Sums recv()/send() per descriptor; the sum is shown when the descriptor is closed."""

    def __init__(self) -> None:
        self.counts: dict[int, dict[str, list[int]]] = {}

    def add(self, fields: Event) -> None:
        fd = int(fields["fd"])
        per_call = self.counts.setdefault(fd, {})
        calls_bytes = per_call.setdefault(fields["call"], [0, 0])
        calls_bytes[0] += 1
        result = fields["result"]
        if isinstance(result, int) and result > 0:
            calls_bytes[1] += result

    def pop(self, fd: int | None) -> Fields | None:
        """The summary of ``fd`` (JSON-ready), forgotten; None when nothing was read or written."""
        if fd is None or fd not in self.counts:
            return None
        per_call = self.counts.pop(fd)
        return {"fd": fd, **{call: {"calls": cb[0], "bytes": cb[1]}
                             for call, cb in sorted(per_call.items())}}


def summary_c(summary: Event) -> str:
    """``/* fd 3: 2 recv() = 3 bytes, 1 send() = 3 bytes */``; the loop's: bytes only."""
    if summary.get("by"):
        return (f"    /* fd {summary['fd']}: {summary['recv']['bytes']} bytes read, "
                f"{summary['send']['bytes']} bytes written by {summary['by']} */")
    parts = [f"{summary[call]['calls']} {call}() = {summary[call]['bytes']} bytes"
             for call in ("recv", "send") if call in summary]
    return f"    /* fd {summary['fd']}: " + ", ".join(parts) + " (-v shows each call) */"
