"""``netprobe.netlink`` against the running kernel: sockets this test opens, routes it asks.

No mocks: each test opens real sockets (or a namespace with routes of its
own) and reads them back through the module, comparing with what the
socket itself says (getsockname, fstat, getsockopt) or with ``ip route get``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netprobe.explain.addrconfig import read_interfaces
from netprobe.netlink import diag
from netprobe.netlink.core import (
    NETLINK_ROUTE,
    NETLINK_SOCK_DIAG,
    Netlink,
    NetlinkError,
    attribute,
    attributes,
)
from netprobe.netlink.route import route_to
from tests.helpers import Namespace, Recorder, child_env, have


def dump(protocol: int, family: int, states: int = diag.EVERY_STATE,
         port: int | None = None) -> list[diag.InetSocket]:
    with Netlink(NETLINK_SOCK_DIAG) as link:
        return diag.inet_sockets(link, protocol, family, states, port)


@pytest.fixture
def listener6() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::1", 0))
        sock.listen(3)
        yield sock


def test_a_listener_reads_back_as_it_was_made(listener6: socket.socket) -> None:
    port = listener6.getsockname()[1]
    clients = [socket.create_connection(("::1", port)) for _ in range(2)]
    try:
        [found] = [s for s in dump(socket.IPPROTO_TCP, socket.AF_INET6, diag.LISTENING_STATES)
                   if s.local_port == port]
    finally:
        for client in clients:
            client.close()
    assert (found.family, found.state, found.local_address) == (socket.AF_INET6, diag.LISTEN,
                                                                "::1")
    assert found.inode == os.fstat(listener6.fileno()).st_ino
    assert found.uid == os.getuid() and found.v6only is True
    # A listener's queues: connections waiting to be accepted, and listen()'s backlog.
    assert (found.rqueue, found.wqueue) == (2, 3)


def test_v6only_off_and_udp_unconnected() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
        port = sock.getsockname()[1]
        [found] = dump(socket.IPPROTO_UDP, socket.AF_INET6, port=port)
    assert (found.state, found.v6only, found.peer_port) == (diag.CLOSE, False, 0)


def test_the_port_filter_runs_in_the_kernel() -> None:
    with socket.create_server(("127.0.0.1", 0)) as one, \
            socket.create_server(("127.0.0.1", 0)) as other:
        port = one.getsockname()[1]
        everything = dump(socket.IPPROTO_TCP, socket.AF_INET)
        filtered = dump(socket.IPPROTO_TCP, socket.AF_INET, port=port)
        assert other.getsockname()[1] in {s.local_port for s in everything}
    assert filtered == [s for s in everything if s.local_port == port] != []


def test_a_connection_has_both_ends() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"12345")
                found = dump(socket.IPPROTO_TCP, socket.AF_INET, port=port)
                mine = client.getsockname()[1]
    [end] = [s for s in found if s.state == diag.ESTABLISHED]
    assert (end.peer_address, end.peer_port, end.rqueue) == ("127.0.0.1", mine, 5)


def test_unix_sockets_paths_abstract_names_and_queue(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    abstract = f"\0netprobe-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as named, socket.socket(socket.AF_UNIX) as hidden:
        named.bind(path)
        named.listen(4)
        hidden.bind(abstract)
        hidden.listen(1)
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        waiting = socket.socket(socket.AF_UNIX)
        waiting.connect(path)
        accepted, _ = named.accept()
        with Netlink(NETLINK_SOCK_DIAG) as link, client, waiting, accepted:
            found = {s.inode: s for s in diag.unix_sockets(link, diag.EVERY_STATE)}
            mine = found[os.fstat(client.fileno()).st_ino]
            listener = found[os.fstat(named.fileno()).st_ino]
            assert found[os.fstat(hidden.fileno()).st_ino].path == "@" + abstract[1:]
            theirs = found[os.fstat(accepted.fileno()).st_ino]
    assert (listener.path, listener.state, listener.rqueue, listener.wqueue) == (
        path, diag.LISTEN, 1, 4)  # one still waits to be accepted
    # The accepted end carries the listener's name; an end not accepted yet has no inode.
    assert mine.state == diag.ESTABLISHED and mine.peer_inode == theirs.inode
    assert theirs.path == path
    assert listener.uid == os.getuid()


def test_every_call_is_reported_as_a_syscall() -> None:
    trace = Recorder(syscalls=True)
    with Netlink(NETLINK_SOCK_DIAG, trace) as link:
        diag.inet_sockets(link, socket.IPPROTO_TCP, socket.AF_INET, diag.LISTENING_STATES)
    calls = [f["call"] for f in trace.named("syscall")]
    assert calls[:5] == ["socket", "bind", "getsockname", "sendto", "ioctl"]
    assert calls[-1] == "close" and {"poll", "recv"} <= set(calls)
    assert trace.named("syscall")[0]["args"]["protocol"] == "NETLINK_SOCK_DIAG"


def test_an_error_answer_is_a_netlink_error() -> None:
    # A bytecode whose jump goes nowhere: the kernel refuses the request (EINVAL).
    bad = diag._INET_REQUEST.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, diag.EVERY_STATE)
    bad += attribute(diag.INET_DIAG_REQ_BYTECODE, diag._BC_OP.pack(diag._BC_S_GE, 8, 40)
                     + diag._BC_OP.pack(0, 0, 1))
    with Netlink(NETLINK_SOCK_DIAG) as link, pytest.raises(NetlinkError) as raised:
        seq = link.request(diag.SOCK_DIAG_BY_FAMILY, bad, dump=True)
        list(link.replies(seq, dump=True))
    assert raised.value.errno == 22


def test_attributes_walk_and_padding() -> None:
    data = attribute(1, b"\x01\x02\x03") + attribute(7, b"abcd") + attribute(1, b"later")
    assert len(attribute(1, b"\x01\x02\x03")) == 8  # 4 + 3, padded to 8
    assert attributes(data, 0, len(data)) == {1: b"\x01\x02\x03", 7: b"abcd"}
    assert attributes(b"\x02\x00\x01\x00", 0, 4) == {}  # a length below 4 ends the walk


def test_unix_name_forms() -> None:
    assert diag.unix_name(b"/run/x.sock\0") == "/run/x.sock"
    assert diag.unix_name(b"\0name\0x") == "@name@x"
    assert diag.unix_name(b"/tmp/\xff") == "/tmp/\udcff"
    assert diag.unix_name(None) is None


def test_local_routes() -> None:
    for address in ("127.0.0.1", "127.9.9.9", "::1"):
        route = route_to(address)
        assert route.local and route.dev == "lo" and route.gateway is None


ROUTE_CODE = r"""
import json, sys
from netprobe.netlink.route import route_to
for address in sys.argv[1:]:
    try:
        r = route_to(address)
        print(json.dumps([r.type_name, r.dev, r.gateway, r.source]))
    except OSError as exc:
        print(json.dumps(["error", exc.errno]))
"""


@pytest.mark.skipif(not have("ip") or not have("unshare"), reason="needs iproute2")
def test_routes_agree_with_ip_route_get_in_a_namespace() -> None:
    ns = Namespace()
    try:
        setup = ("ip link add np0 type veth peer name np1 && ip link set np0 up && "
                 "ip link set np1 up && ip addr add 10.77.0.2/24 dev np0 && "
                 "ip route add 10.88.0.0/16 via 10.77.0.1 && "
                 "ip -6 addr add fd77::2/64 dev np0 nodad")
        done = ns.sh(setup)
        assert done.returncode == 0, done.stderr
        wanted = ["10.88.1.1", "10.77.0.9", "10.77.0.2", "fd77::9", "192.0.2.7"]
        out = subprocess.run([*ns.prefix, sys.executable, "-c", ROUTE_CODE, *wanted],
                             capture_output=True, env=child_env(), timeout=30)
        ours = [json.loads(line) for line in out.stdout.decode().splitlines()]
        for address, route in zip(wanted, ours, strict=True):
            ip = ns.sh(f"ip route get {address}")
            text = ip.stdout.decode().split()
            if ip.returncode:
                assert route == ["error", 101], (address, ip.stderr)  # ENETUNREACH
                continue
            assert route[1] == text[text.index("dev") + 1], (address, text)
            assert route[2] == (text[text.index("via") + 1] if "via" in text else None)
            assert route[3] == text[text.index("src") + 1]
            assert route[0] == ("local" if text[0] == "local" else "unicast")
    finally:
        ns.close()


def test_the_interface_dump_is_what_ip_addr_shows() -> None:
    interfaces = read_interfaces()
    assert interfaces.error is None
    shown = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True)
    theirs = {line.split()[3].split("/")[0] for line in shown.stdout.splitlines()}
    ours = {a.text for a in interfaces.addresses}
    assert ours == theirs


def test_route_socket_opens_and_closes_cleanly() -> None:
    trace = Recorder(syscalls=True)
    with Netlink(NETLINK_ROUTE, trace):
        pass
    assert [f["call"] for f in trace.named("syscall")] == ["socket", "bind", "getsockname",
                                                           "close"]
