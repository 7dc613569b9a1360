"""Every IP kind of ``why``, each made real in a private namespace, checked against ss,
``ip route get`` and the pid of the process the test started.

The cases are the issue's: the ::1-first localhost with a server on
127.0.0.1 only, nothing listening, a v6only [::] listener and an IPv4
destination, UDP to a port only TCP serves, a full backlog-0 listener,
listen against a held port, a wildcard overlap and a dual-stack holder, a
port held only by TIME_WAIT, a route through a veth to a gateway nobody
answers for, no route at all.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import NETPROBE, Namespace, child_env, have
from tests.test_sockets import AS_NOBODY, SOCKET_FIELDS
from tests.test_sockets_peers import Peer, ss_endpoint, ss_rows

pytestmark = pytest.mark.skipif(not have("ss") or not have("ip"), reason="needs iproute2")

WHY_FIELDS = {"kind", "message", "sockets", "route"}
LOCALHOST_V6_FIRST = "::1 localhost\n127.0.0.1 localhost\n"


@pytest.fixture
def ns() -> Iterator[Namespace]:
    namespace = Namespace(hosts=LOCALHOST_V6_FIRST)
    try:
        yield namespace
    finally:
        namespace.close()


def events_of(ns: Namespace, *args: str, status: int) -> list[dict[str, Any]]:
    result = ns.run(*args, "--json")
    assert result.status == status, (result.out, result.err)
    return result.events()


def failed(events: list[dict[str, Any]], name: str = "attempt") -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name and e["outcome"] not in ("connected",
                                                                          "listening")]


def check_why(why: dict[str, Any], kind: str) -> None:
    """The SPEC's why, field by field; each socket as ``netprobe sockets`` shows it."""
    assert set(why) >= WHY_FIELDS and why["kind"] == kind, why
    assert isinstance(why["message"], str) and "\n" not in why["message"]
    for sock in why["sockets"]:
        assert set(sock) == SOCKET_FIELDS - {"event", "t"}, sock
    assert why["route"] is None or set(why["route"]) >= {"dev", "gateway", "source"}


def test_localhost_tries_ipv6_first_and_the_server_is_ipv4_only(ns: Namespace) -> None:
    server = Peer(["tcp,127.0.0.1,0"], ns)
    port = str(server.port())
    name = Path(f"/proc/{server.pid}/comm").read_text().strip()
    try:
        events = events_of(ns, "connect", "localhost", port, "-z", status=0)
        human = ns.run("connect", "localhost", port, "-z")
        explained = ns.run("connect", "localhost", port, "-z", "--explain")
        [row] = ss_rows(ns, "-tl")
    finally:
        server.stop()
    [refused] = failed(events)
    assert refused["candidate"]["address"] == "::1" and refused["outcome"] == "refused"
    why = refused["why"]
    check_why(why, "other-address")
    assert why["message"] == (f"nothing listens on [::1]:{port}; 127.0.0.1:{port} is served by "
                              f"pid {server.pid} {name} (bound to IPv4 loopback only)")
    [sock] = why["sockets"]
    assert (sock["local"], sock["state"]) == ({"address": "127.0.0.1", "port": int(port)},
                                              "LISTEN")
    assert ss_endpoint(row.local) == ("127.0.0.1", int(port)) and row.pids == {server.pid}
    assert [p["pid"] for p in sock["processes"]] == [server.pid] and why["route"] is None
    lines = human.err.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"#0 [::1]:{port}"))
    assert lines[at + 1] == f"   why: {why['message']}"
    assert "connected" in human.err and human.status == 0
    # --explain: the socket that explains it, as a row of ``netprobe sockets``.
    row_line = next(line for line in explained.err.splitlines()
                    if line.strip().startswith("tcp") and "LISTEN" in line)
    assert f"127.0.0.1:{port}" in row_line and str(server.pid) in row_line


def test_nothing_listens(ns: Namespace) -> None:
    events = events_of(ns, "connect", "127.0.0.1", "4000", status=4)
    [attempt] = failed(events)
    check_why(attempt["why"], "no-listener")
    assert attempt["why"]["sockets"] == [] and attempt["why"]["route"] is None
    assert attempt["why"]["message"] == "nothing listens on TCP port 4000 on this host, on " \
        "any address"
    assert ss_rows(ns, "-tl") == []


def test_an_ipv4_mapped_destination_is_this_host_as_ipv4(ns: Namespace) -> None:
    # ::ffff:127.0.0.1 goes out as IPv4 to 127.0.0.1.  Its route was asked as
    # IPv6: "no route" here (lo only), "not an address of this host: the kernel
    # routes it via <the default gateway>" on a host with one.
    events = events_of(ns, "connect", "::ffff:127.0.0.1", "4000", status=4)
    [attempt] = failed(events)
    check_why(attempt["why"], "no-listener")
    assert attempt["why"]["route"] is None
    server = Peer(["tcp,::1,0"], ns)
    try:
        events = events_of(ns, "connect", "::ffff:127.0.0.1", str(server.port()), status=4)
    finally:
        server.stop()
    why = failed(events)[0]["why"]
    check_why(why, "other-address")
    assert [s["local"]["address"] for s in why["sockets"]] == ["::1"]


def test_a_v6only_wildcard_takes_no_ipv4(ns: Namespace) -> None:
    server = Peer(["tcp,::,0,v6only=1"], ns)
    try:
        events = events_of(ns, "connect", "127.0.0.1", str(server.port()), status=4)
    finally:
        server.stop()
    why = failed(events)[0]["why"]
    check_why(why, "v6only")
    [sock] = why["sockets"]
    assert sock["v6only"] is True and sock["local"]["address"] == "::"
    assert sock["processes"][0]["pid"] == server.pid
    assert "has IPV6_V6ONLY set" in why["message"]


def test_udp_to_a_port_only_tcp_serves(ns: Namespace) -> None:
    server = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        events = events_of(ns, "connect", "127.0.0.1", str(server.port()), "--udp", "-z",
                           status=4)
    finally:
        server.stop()
    why = failed(events)[0]["why"]
    check_why(why, "other-socktype")
    assert [s["proto"] for s in why["sockets"]] == ["tcp"]
    assert why["message"].endswith("the port is served over TCP, not UDP")


def test_a_full_backlog_zero_listener_times_out_as_queue_full(ns: Namespace) -> None:
    # listen(0) lets one connection wait (backlog + 1); the peer's own client fills it.
    server = Peer(["tcp,127.0.0.1,0,backlog=0", "connect,127.0.0.1,prev"], ns)
    try:
        events = events_of(ns, "connect", "127.0.0.1", str(server.port()), "--timeout", "1",
                           status=5)
        [row] = ss_rows(ns, "-tl")
    finally:
        server.stop()
    [attempt] = failed(events)
    assert attempt["outcome"] == "timeout"
    why = attempt["why"]
    check_why(why, "queue-full")
    [sock] = why["sockets"]
    assert sock["queue"] == {"waiting": row.recv_q, "backlog": row.send_q} == {
        "waiting": 1, "backlog": 0}
    assert why["evidence"]["ListenOverflows"] >= 1
    assert f"pid {server.pid}" in why["message"] and "not calling accept()" in why["message"]


def test_listen_on_a_held_port_says_who_holds_it(ns: Namespace) -> None:
    holder = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        events = events_of(ns, "listen", str(holder.port()), "--bind", "127.0.0.1", status=4)
        human = ns.run("listen", str(holder.port()), "--bind", "127.0.0.1", "--explain")
    finally:
        holder.stop()
    [bind] = failed(events, "bind")
    why = bind["why"]
    check_why(why, "in-use")
    assert [s["processes"][0]["pid"] for s in why["sockets"]] == [holder.pid]
    assert why["message"].startswith(f"127.0.0.1:{holder.port()} is held by pid {holder.pid} ")
    assert f"   why: {why['message']}" in human.err.splitlines()
    assert any(str(holder.pid) in line and "LISTEN" in line for line in human.err.splitlines())


def test_a_held_port_names_the_listener_once_and_counts_its_connections(
        ns: Namespace) -> None:
    # Two clients wait in the holder's accept queue: they hold the port too,
    # but the line names the listener and counts them, not three "held by" parts.
    script = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
              "s.listen(8); c = [socket.create_connection(s.getsockname()) for _ in range(2)]; "
              "print(s.getsockname()[1], flush=True); time.sleep(60)")
    holder = subprocess.Popen([*ns.prefix, sys.executable, "-c", script],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        events = events_of(ns, "listen", str(port), "--bind", "127.0.0.1", status=4)
    finally:
        holder.kill()
        holder.wait()
    [bind] = failed(events, "bind")
    why = bind["why"]
    check_why(why, "in-use")
    message = why["message"]
    assert message.count(" is held by ") == 1, message
    assert message.startswith(f"127.0.0.1:{port} is held by pid ")
    assert "(LISTEN)" in message and "(and 2 connections (ESTABLISHED))" in message, message
    assert len(why["sockets"]) == 3  # the JSON still lists every holder


def listen_until_listening(ns: Namespace, port: int) -> list[dict[str, Any]]:
    """``netprobe listen PORT --json`` until it listens (or fails), then SIGTERM."""
    proc = subprocess.Popen([*ns.prefix, *NETPROBE, "listen", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert proc.stdout is not None
    lines = []
    for raw in proc.stdout:
        lines.append(json.loads(raw))
        if lines[-1]["event"] in ("listening", "error"):
            break
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    return lines


def test_a_wildcard_bind_overlaps_a_held_address(ns: Namespace) -> None:
    holder = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        events = listen_until_listening(ns, holder.port())
    finally:
        holder.stop()
    [blocked] = failed(events, "bind")
    assert blocked["candidate"]["address"] == "0.0.0.0"
    why = blocked["why"]
    check_why(why, "in-use")
    assert why["message"].startswith(f"0.0.0.0:{holder.port()} overlaps 127.0.0.1:"
                                     f"{holder.port()} (LISTEN, pid {holder.pid} ")
    assert events[-1]["event"] == "listening"  # the IPv6 one (IPV6_V6ONLY) still binds


def test_a_dual_stack_holder_blocks_the_ipv4_bind(ns: Namespace) -> None:
    holder = Peer(["tcp,::,0,v6only=0"], ns)
    try:
        events = listen_until_listening(ns, holder.port())
    finally:
        holder.stop()
    four, six = failed(events, "bind")
    assert four["why"]["message"].startswith(
        f"0.0.0.0:{holder.port()} is blocked by [::]:{holder.port()} (LISTEN, pid {holder.pid}")
    assert "without IPV6_V6ONLY holds the IPv4 port too" in four["why"]["message"]
    assert six["why"]["kind"] == "in-use" and events[-1]["event"] == "error"


def test_only_time_wait_remnants_hold_the_port(ns: Namespace) -> None:
    # The server side closes first, so its end (port P, no SO_REUSEADDR) waits in TIME_WAIT.
    script = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 4300)); s.listen(); "
              "c = socket.create_connection(s.getsockname()); a, _ = s.accept(); "
              "a.close(); c.close(); s.close()")
    subprocess.run([*ns.prefix, sys.executable, "-c", script], check=True, timeout=30)
    events = events_of(ns, "listen", "4300", "--bind", "127.0.0.1", status=4)
    why = failed(events, "bind")[0]["why"]
    check_why(why, "time-wait")
    assert {s["state"] for s in why["sockets"]} == {"TIME_WAIT"}
    assert all(s["processes"] == [] for s in why["sockets"])
    assert any(r.state == "TIME_WAIT" for r in ss_rows(ns, "-tan"))


VETH = ("ip link add np0 type veth peer name np1 && ip link set np0 up && ip link set np1 up "
        "&& ip addr add 10.77.0.2/24 dev np0 && ip route add 10.88.0.0/16 via 10.77.0.1")


def ip_route_get(ns: Namespace, address: str) -> dict[str, str | None]:
    text = ns.sh(f"ip route get {address}").stdout.decode().split()
    return {"dev": text[text.index("dev") + 1],
            "gateway": text[text.index("via") + 1] if "via" in text else None,
            "source": text[text.index("src") + 1]}


def test_a_remote_destination_behind_a_silent_gateway(ns: Namespace) -> None:
    assert ns.sh(VETH).returncode == 0
    events = events_of(ns, "connect", "10.88.1.1", "80", "--timeout", "1", status=5)
    why = failed(events)[0]["why"]
    check_why(why, "remote")
    route = ip_route_get(ns, "10.88.1.1")
    assert {k: why["route"][k] for k in route} == route == {
        "dev": "np0", "gateway": "10.77.0.1", "source": "10.77.0.2"}
    assert "nothing on this host can say more" in why["message"]


def test_an_unanswered_gateway_is_host_unreachable_with_a_route(ns: Namespace) -> None:
    # Without a short --timeout the kernel gives up on ARP itself (EHOSTUNREACH, ~3 s).
    assert ns.sh(VETH).returncode == 0
    events = events_of(ns, "connect", "10.88.1.1", "80", "--timeout", "20", status=4)
    [attempt] = failed(events)
    assert attempt["errno"] == "EHOSTUNREACH"
    why = attempt["why"]
    check_why(why, "remote")
    assert why["neighbour"] == {"address": "10.77.0.1", "state": "FAILED"}
    assert why["route"]["gateway"] == "10.77.0.1"


def test_no_route(ns: Namespace) -> None:
    events = events_of(ns, "connect", "192.0.2.1", "80", status=4)
    [attempt] = failed(events)
    assert attempt["errno"] == "ENETUNREACH"
    why = attempt["why"]
    check_why(why, "no-route")
    assert why["route"] is None
    done = ns.sh("ip route get 192.0.2.1")
    assert done.returncode != 0 and b"unreachable" in done.stderr
    assert why["message"] == ("no route to 192.0.2.1 in the routing table (ip route get: "
                              "Network is unreachable)")


def test_check_carries_why_per_target(ns: Namespace) -> None:
    server = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        events = events_of(ns, "check", f"127.0.0.1:{server.port()}", "127.0.0.1:4001",
                           f"[::1]:{server.port()}", status=4)
        human = ns.run("check", "127.0.0.1:4001")
    finally:
        server.stop()
    summary = events[-1]
    assert summary["event"] == "summary"
    ok, closed, six = summary["targets"]
    assert "why" not in ok
    check_why(closed["why"], "no-listener")
    check_why(six["why"], "other-address")
    assert human.out.count("\n") == 2  # the table: a header and one row, nothing else
    assert "127.0.0.1:4001: why: nothing listens on TCP port 4001" in human.err


def test_a_holder_this_user_may_not_look_at(ns: Namespace) -> None:
    server = Peer(["tcp,127.0.0.1,0"], ns)
    try:
        result = subprocess.run([*ns.prefix, *AS_NOBODY, *NETPROBE, "connect", "::1",
                                 str(server.port()), "--json"], capture_output=True,
                                env=child_env(), timeout=60)
    finally:
        server.stop()
    events = [json.loads(line) for line in result.stdout.decode().splitlines()]
    why = failed(events)[0]["why"]
    check_why(why, "other-address")
    assert why["sockets"][0]["processes"] is None
    assert "a process this user may not look at (not permitted)" in why["message"]
