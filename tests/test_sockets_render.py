"""The ``socket`` event's template encoder writes what ``JsonLines`` would, byte for byte;
and the human cells of a socket."""

from __future__ import annotations

import io
from typing import Any

import pytest

from netprobe.render.jsonl import JsonLines
from netprobe.render.sockets import SocketsJson

LISTENER: dict[str, Any] = {
    "proto": "tcp", "family": "AF_INET6", "socktype": "SOCK_STREAM", "state": "LISTEN",
    "local": {"address": "::", "port": 8000}, "peer": None, "v6only": True,
    "queue": {"waiting": 2, "backlog": 4096}, "uid": 0, "inode": 1234,
    "processes": [{"pid": 42, "command": "python3 -m http.server 8000", "name": "python3"}]}
REMNANT: dict[str, Any] = {
    **LISTENER, "family": "AF_INET", "state": "TIME_WAIT",
    "local": {"address": "127.0.0.1", "port": 8000},
    "peer": {"address": "127.0.0.1", "port": 41234}, "v6only": None, "queue": None,
    "uid": None, "inode": 0, "processes": []}
UNIX: dict[str, Any] = {
    "proto": "unix", "family": "AF_UNIX", "socktype": "SOCK_SEQPACKET", "state": "ESTABLISHED",
    "local": {"path": '/run/"odd"\\dir/\u00e9\x1b.sock'}, "peer": {"path": "", "inode": 99},
    "v6only": None, "queue": None, "uid": 1000, "inode": 77, "processes": None}
ODD_PROCESS: dict[str, Any] = {
    **LISTENER, "dev": "lo",
    "processes": [{"pid": 1, "command": 'sh -c "echo \\x"\n\t\udcff', "name": "\u202eevil"},
                  {"pid": 2, "command": "", "name": "kworker/0:1"}]}


@pytest.mark.parametrize("fields", [LISTENER, REMNANT, UNIX, ODD_PROCESS],
                         ids=["listener", "time-wait", "unix", "odd-process"])
def test_the_template_writes_what_json_lines_writes(fields: dict[str, Any]) -> None:
    generic, fast = io.StringIO(), io.StringIO()
    JsonLines(generic, clock=lambda: 2.5, start=1.25)._write("socket", fields)
    renderer = SocketsJson(stream=fast, clock=lambda: 2.5, start=1.25)
    renderer("socket", fields)
    renderer("socket", fields)  # a second time: the per-pid cache gives the same text
    assert fast.getvalue() == ""  # a table's events are written together ...
    renderer.close()  # ... at the latest when the output ends
    assert fast.getvalue() == generic.getvalue() * 2


def test_socket_lines_come_before_any_other_event() -> None:
    stream = io.StringIO()
    renderer = SocketsJson(stream=stream, clock=lambda: 1.0, start=0.0)
    renderer("socket", LISTENER)
    renderer("sockets_summary", {"total": 1, "elapsed_ms": 0.5})
    first, second = stream.getvalue().splitlines()
    assert first.startswith('{"event":"socket"') and second.startswith(
        '{"event":"sockets_summary"')


def test_the_summary_is_written_like_any_event() -> None:
    summary = {"total": 3, "elapsed_ms": 1.5, "processes_hidden": False}
    generic, fast = io.StringIO(), io.StringIO()
    JsonLines(generic, clock=lambda: 1.0, start=0.0)._write("sockets_summary", summary)
    SocketsJson(stream=fast, clock=lambda: 1.0, start=0.0)("sockets_summary", summary)
    assert fast.getvalue() == generic.getvalue()


def test_human_cells() -> None:
    from netprobe.render.sockets_human import processes_text, socket_row

    cells = [str(cell) for cell in socket_row(LISTENER)]
    assert cells == ["tcp", "LISTEN", "[::]:8000", "*", "2/4096", "yes", "0", "42 python3"]
    assert [str(c) for c in socket_row(REMNANT)][4:] == ["-", "-", "-", "-"]
    unix = [str(c) for c in socket_row(UNIX)]
    assert unix[2] == '/run/"odd"\\dir/\u00e9\\x1b.sock' and unix[-1] == "not permitted"
    assert processes_text(ODD_PROCESS["processes"]) == "1 \\u202eevil, 2 kworker/0:1"


def test_rows_from_the_kernel_are_written_as_their_fields_would_be() -> None:
    from netprobe.kernel.procs import Processes
    from netprobe.kernel.rows import InetEvent, inet_rows
    from netprobe.netlink.diag import InetSocket

    processes = Processes({10: [42], 11: [42, 43], 12: [7]}, hidden=True)
    processes._commands.update({
        42: {"pid": 42, "command": "srv --name \"x\"", "name": "srv"},
        43: {"pid": 43, "command": "\udcff\x1b", "name": "\u202e"},
        7: {"pid": 7, "command": "", "name": "kthread"}})
    records = [
        InetSocket(6, 10, 10, "::", 80, "::", 0, 0, 3, 128, 0, 10, False),  # a listener
        InetSocket(6, 2, 6, "127.0.0.1", 80, "127.0.0.1", 5555, 0, 0, 0, 0, 0, None),  # TIME_WAIT
        InetSocket(17, 2, 7, "0.0.0.0", 53, "0.0.0.0", 0, 0, 0, 0, 101, 11, None),  # UNCONN
        InetSocket(17, 10, 1, "::1", 53, "::1", 9, 0, 0, 0, 101, 12, None),  # connected UDP
        InetSocket(6, 2, 1, "10.0.0.1", 22, "10.0.0.2", 40000, 0, 0, 0, 0, 99, None),  # hidden
        InetSocket(6, 2, 10, "127.0.0.1", 81, "0.0.0.0", 0, 1, 0, 5, 0, 10, None),  # on lo
    ]
    for row in inet_rows(records):
        generic, fast = io.StringIO(), io.StringIO()
        JsonLines(generic, clock=lambda: 3.0, start=0.0)._write(
            "socket", row.fields(processes.of(row.inode)))
        renderer = SocketsJson(stream=fast, clock=lambda: 3.0, start=0.0)
        renderer("socket", InetEvent(row, processes))
        renderer.close()
        assert fast.getvalue() == generic.getvalue(), row
    hidden = next(inet_rows(records[4:5]))
    # not found, and some process could not be read
    assert InetEvent(hidden, processes)["processes"] is None
