"""``netprobe sockets``: every row against ``ss`` on the same namespace, JSON field by field.

Each test makes a private network namespace (only ``lo``), starts real
processes holding real sockets in it (tests/test_sockets_peers.py), and runs
``netprobe sockets`` and iproute2's ``ss`` there: ss is the oracle for the
state, the addresses, the queue and the pids, the peer's own pid and the
inode it read with fstat() for the rest.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Namespace, have
from tests.test_sockets_peers import Peer, SsRow, ss_endpoint, ss_rows

pytestmark = pytest.mark.skipif(not have("ss") or not have("unshare"), reason="needs iproute2")

SOCKET_FIELDS = {"event", "t", "proto", "family", "socktype", "state", "local", "peer",
                 "v6only", "queue", "uid", "inode", "processes"}
#: As nobody, but allowed to read /root (where this venv's interpreter lives): DAC
#: overrides do not reach other processes' /proc/PID/fd, which needs ptrace access.
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=+dac_override,+dac_read_search",
             "--ambient-caps=+dac_override,+dac_read_search"]


@pytest.fixture
def ns() -> Iterator[Namespace]:
    namespace = Namespace()
    try:
        yield namespace
    finally:
        namespace.close()


def sockets_json(ns: Namespace, *args: str, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    result = ns.run("sockets", *args, "--json") if not prefix else \
        _run_prefixed(ns, prefix, "sockets", *args, "--json")
    assert result.status == 0, result.err
    events = result.events()
    assert events[-1]["event"] == "sockets_summary"
    assert events[-1]["total"] == len(events) - 1
    return events[:-1]


def _run_prefixed(ns: Namespace, prefix: tuple[str, ...], *args: str) -> Any:
    from tests.helpers import run

    return run(*args, prefix=[*ns.prefix, *prefix])


def key(event: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a row in both accounts: protocol, state, local and peer ends."""
    if event["proto"] == "unix":
        return ("unix", event["state"], event["local"]["path"] or "*", event["inode"])
    peer = event["peer"]
    return (event["proto"], event["state"], event["local"]["address"], event["local"]["port"],
            peer["address"] if peer else None, peer["port"] if peer else None)


def ss_key(row: SsRow) -> tuple[Any, ...]:
    proto = {"tcp": "tcp", "udp": "udp"}.get(row.netid, "unix")
    if proto == "unix":
        return ("unix", row.state, row.local, None)
    local, port = ss_endpoint(row.local)
    peer, peer_port = ss_endpoint(row.peer)
    no_peer = peer_port is None
    return (proto, row.state, local, port, None if no_peer else peer, peer_port)


def agree(ours: list[dict[str, Any]], theirs: list[SsRow]) -> None:
    """Every ss row has exactly one netprobe row with the same state, ends, queue, pids."""
    assert len(ours) == len(theirs), (ours, theirs)
    unmatched = list(ours)
    for row in theirs:
        wanted = ss_key(row)
        match = [e for e in unmatched if key(e)[:3] == wanted[:3] and
                 (wanted[0] == "unix" or key(e)[3:] == wanted[3:])]
        assert match, (row, unmatched)
        event = match[0]
        unmatched.remove(event)
        if event["state"] == "LISTEN":
            assert event["queue"] == {"waiting": row.recv_q, "backlog": row.send_q}, row
        else:
            assert event["queue"] is None
        assert {p["pid"] for p in event["processes"]} == row.pids, (event, row)
        assert {p["name"] for p in event["processes"]} == row.names, (event, row)


def test_listening_sockets_agree_with_ss_row_by_row(ns: Namespace, tmp_path: Path) -> None:
    stream, datagram = tmp_path / "app.sock", tmp_path / "dgram.sock"
    peer = Peer(["tcp,127.0.0.1,0,backlog=7", "tcp,::,0,v6only=1", "tcp,::,0,v6only=0",
                 "udp,127.0.0.1,0", "udp,::1,0", f"unix,{stream},0,backlog=3",
                 f"unixdgram,{datagram},0"], ns)
    other = Peer(["tcp,::1,0"], ns)
    try:
        ours = sockets_json(ns)
        agree(ours, ss_rows(ns, "-tulx"))
    finally:
        peer.stop()
        other.stop()
    by_port = {(e["proto"], e["local"].get("port"), e["local"].get("path")): e for e in ours}
    v6only = by_port[("tcp", peer.port(1), None)]
    dual = by_port[("tcp", peer.port(2), None)]
    assert (v6only["v6only"], dual["v6only"]) == (True, False)
    assert by_port[("tcp", peer.port(0), None)]["v6only"] is None
    assert by_port[("unix", None, str(stream))]["queue"] == {"waiting": 0, "backlog": 3}
    assert by_port[("unix", None, str(datagram))]["state"] == "UNCONN"
    assert by_port[("tcp", other.port(), None)]["processes"][0]["pid"] == other.pid


def test_a_listener_event_field_by_field(ns: Namespace) -> None:
    peer = Peer(["tcp,::,0,v6only=1,backlog=9"], ns)
    try:
        [event] = sockets_json(ns, str(peer.port()))
    finally:
        peer.stop()
    assert set(event) == SOCKET_FIELDS
    assert event["event"] == "socket" and isinstance(event["t"], float)
    assert (event["proto"], event["family"], event["socktype"], event["state"]) == (
        "tcp", "AF_INET6", "SOCK_STREAM", "LISTEN")
    assert event["local"] == {"address": "::", "port": peer.port()}
    assert event["peer"] is None and event["v6only"] is True
    assert event["queue"] == {"waiting": 0, "backlog": 9}
    assert event["uid"] == 0 and event["inode"] == peer.sockets[0]["inode"]
    [process] = event["processes"]
    assert process["pid"] == peer.pid
    assert process["command"].startswith(sys.executable) and " -c " in process["command"]
    assert process["name"] == Path(sys.executable).name[:15]


def test_every_state_agrees_with_ss(ns: Namespace) -> None:
    server = Peer(["tcp,127.0.0.1,0,backlog=4"], ns)
    client = Peer([f"connect,127.0.0.1,{server.port()}"], ns)
    # A TIME_WAIT remnant: a connection whose server side closed first.
    script = ("import socket; s = socket.create_server(('127.0.0.1', 0)); "
              "c = socket.create_connection(s.getsockname()); a, _ = s.accept(); "
              "a.close(); c.close(); s.close()")
    subprocess.run([*ns.prefix, sys.executable, "-c", script], check=True, timeout=30)
    try:
        ours = sockets_json(ns, "--all", "--tcp")
        agree(ours, ss_rows(ns, "-tan"))
    finally:
        client.stop()
        server.stop()
    states = {e["state"] for e in ours}
    assert {"LISTEN", "ESTABLISHED", "TIME_WAIT"} <= states
    remnant = next(e for e in ours if e["state"] == "TIME_WAIT")
    assert remnant["processes"] == [] and remnant["uid"] is None and remnant["inode"] == 0
    queued = [e for e in ours if e["state"] == "ESTABLISHED" and e["inode"] == 0]
    # The server never accepts: its end waits in the accept queue, held by no process.
    assert len(queued) == 1 and queued[0]["local"]["port"] == server.port()
    listener = next(e for e in ours if e["state"] == "LISTEN")
    assert listener["queue"] == {"waiting": 1, "backlog": 4}


def test_port_and_path_filters(ns: Namespace, tmp_path: Path) -> None:
    path = tmp_path / "one.sock"
    peer = Peer(["tcp,127.0.0.1,0", f"unix,{path},0"], ns)
    udp = Peer([f"udp,127.0.0.1,{peer.port()}"], ns)
    try:
        on_port = sockets_json(ns, str(peer.port()))
        at_path = sockets_json(ns, str(path))
        only_udp = sockets_json(ns, str(peer.port()), "--udp")
    finally:
        peer.stop()
        udp.stop()
    assert sorted(e["proto"] for e in on_port) == ["tcp", "udp"]
    assert [e["local"] for e in at_path] == [{"path": str(path)}]
    assert [e["proto"] for e in only_udp] == ["udp"]


def test_unix_path_and_abstract_name_in_the_unix_prefix_form(ns: Namespace,
                                                              tmp_path: Path) -> None:
    # The forms connect, listen and check take: `sockets unix:PATH` matched
    # nothing (it looked for a socket named "unix:PATH"), and `unix:@NAME`
    # was a usage error, so an abstract socket could not be asked about.
    path = tmp_path / "two.sock"
    peer = Peer([f"unix,{path},0", "unix,@netprobe-test-abstract,0"], ns)
    try:
        prefixed = sockets_json(ns, f"unix:{path}")
        url = sockets_json(ns, f"unix://{path}")
        abstract = sockets_json(ns, "unix:@netprobe-test-abstract")
    finally:
        peer.stop()
    assert [e["local"] for e in prefixed] == [{"path": str(path)}]
    assert [e["local"] for e in url] == [{"path": str(path)}]
    assert [e["local"] for e in abstract] == [{"path": "@netprobe-test-abstract"}]


@pytest.mark.parametrize(("args", "message"), [
    (["unix:"], "unix: needs a PATH or @NAME"),
    (["unix:@x", "--udp"], "a PATH names a Unix socket"),
    (["65536"], "not a PORT (a number 0-65535) or a PATH"),
    (["http"], "not a PORT"),
    (["-1"], "No such option"),
    (["80", "--unix"], "Unix sockets have no port"),
    (["/run/x.sock", "--tcp"], "a PATH names a Unix socket"),
])
def test_a_bad_filter_is_a_usage_error(args: list[str], message: str) -> None:
    from tests.helpers import run

    result = run("sockets", *args)
    assert result.status == 2 and result.out == ""
    assert message in result.err and len(result.err.splitlines()) == 1
    as_json = run("sockets", *args, "--json")
    [event] = as_json.events()
    assert event["event"] == "error" and event["exit"] == 2


def test_human_table_and_nothing_matching(ns: Namespace) -> None:
    peer = Peer(["tcp,127.0.0.1,0,backlog=6"], ns)
    try:
        shown = ns.run("sockets", str(peer.port()))
    finally:
        peer.stop()
    assert shown.status == 0, shown.err
    header, row = shown.out.splitlines()
    assert header.split() == ["proto", "state", "local", "peer", "queue", "v6only", "uid",
                              "process"]
    assert row.split() == ["tcp", "LISTEN", f"127.0.0.1:{peer.port()}", "*", "0/6", "-", "0",
                           str(peer.pid), Path(sys.executable).name[:15]]
    assert re.fullmatch(r"1 socket in \d+\.\d ms\n", shown.err), shown.err
    empty = ns.run("sockets", "9")
    assert (empty.status, empty.out, empty.err) == (0, "", "no socket matches\n")


def test_process_names_are_made_safe(ns: Namespace) -> None:
    peer = Peer(["name,,,value=\x1b[2Jevil\u202e", "tcp,127.0.0.1,0"], ns)
    try:
        shown = ns.run("sockets", str(peer.port()))
        [event] = sockets_json(ns, str(peer.port()))
    finally:
        peer.stop()
    assert "\x1b" not in shown.out and "\u202e" not in shown.out
    assert "\\x1b[2Jevil\\u202e" in shown.out
    assert event["processes"][0]["name"] == "\x1b[2Jevil\u202e"


def test_where_this_user_may_not_look_it_says_so(ns: Namespace) -> None:
    peer = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        [event] = sockets_json(ns, str(peer.port()), prefix=tuple(AS_NOBODY))
        shown = _run_prefixed(ns, tuple(AS_NOBODY), "sockets", str(peer.port()))
    finally:
        peer.stop()
    assert event["processes"] is None and event["uid"] == 0
    assert shown.status == 0 and "not permitted" in shown.out.splitlines()[1]
    assert "not permitted" in shown.err
