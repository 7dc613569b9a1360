"""The data phase's orderings (issue 8): neither side's early event cuts the other's work short.

Real peers: small Python server processes on loopback that record what
they received and print it when the connection ends, so the assertion is
on what actually arrived at the other end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import NETPROBE, Namespace, child_env, run

pytestmark = pytest.mark.timeout(120)

# A TCP peer: sends BANNER as soon as a client connects; with HALF_CLOSE it
# then shuts its write side at once (but keeps reading).  It reads until
# the client's EOF (or a reset) and prints what it received.
TCP_PEER = r"""
import socket, sys
banner, half_close = sys.argv[1].encode().decode("unicode_escape").encode(), sys.argv[2] == "1"
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.sendall(banner)
if half_close:
    conn.shutdown(socket.SHUT_WR)
got = b""
conn.settimeout(60)
try:
    while chunk := conn.recv(65536):
        got += chunk
except OSError:
    pass
print(repr(got) if len(got) < 4096 else len(got), flush=True)
"""

# A UDP peer: answers the first datagram with "ready 1\n", then records
# every datagram for a while and prints them.
UDP_PEER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
got = []
data, addr = s.recvfrom(65535)
got.append(data)
s.sendto(b"ready 1\n", addr)
s.settimeout(1.0)
try:
    while True:
        got.append(s.recvfrom(65535)[0])
except OSError:
    pass
print(repr(got), flush=True)
"""


class Peer:
    def __init__(self, script: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", script, *args],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def received(self) -> object:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.proc.wait(timeout=60)
        return eval(line)  # a repr() the peer printed: bytes or a list of bytes


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.proc.kill()
        peer.proc.wait()


def test_send_is_written_before_an_early_match_ends_the_connection(peers: list[Peer]) -> None:
    # The peer's whole banner, match included, arrives before netprobe has
    # written anything: --send must still go out in full (issue 8, point 1).
    peer = Peer(TCP_PEER, r"banner\nready 1\n", "0")
    peers.append(peer)
    result = run("connect", "127.0.0.1", str(peer.port), "--send", "hello",
                 "--expect", r"ready \d", "--json")
    assert result.status == 0, result
    assert peer.received() == b"hello"
    closed = [json.loads(line) for line in result.out.splitlines()][-1]
    assert closed["event"] == "closed" and closed["reason"] == "expect matched"
    assert closed["bytes_out"] == 5


def test_readable_stdin_is_written_before_an_early_match_ends_it(peers: list[Peer]) -> None:
    peer = Peer(TCP_PEER, r"banner\nready 1\n", "0")
    peers.append(peer)
    result = run("connect", "127.0.0.1", str(peer.port), "--expect", r"ready \d",
                 input="hello from stdin\n")
    assert result.status == 0, result
    assert peer.received() == b"hello from stdin\n"
    assert "closed (expect matched): 17 bytes sent" in result.err


def test_send_is_written_when_the_peer_half_closes_first(peers: list[Peer]) -> None:
    # The peer says its piece and shuts its write side before reading: its
    # EOF must not stop netprobe from sending (the same ordering, reversed).
    peer = Peer(TCP_PEER, r"hello, send me something\n", "1")
    peers.append(peer)
    result = run("connect", "127.0.0.1", str(peer.port), "--send", "something")
    assert result.status == 0, result
    assert result.out == "hello, send me something\n"
    assert peer.received() == b"something"
    stdin = Peer(TCP_PEER, r"bye\n", "1")
    peers.append(stdin)
    result = run("connect", "127.0.0.1", str(stdin.port), input="from stdin\n")
    assert result.status == 0, result
    assert stdin.received() == b"from stdin\n"


def test_a_file_on_stdin_is_sent_in_full_to_a_peer_that_half_closed(
        peers: list[Peer], tmp_path: Path) -> None:
    # The peer's EOF arrives while most of the file is still to be sent: the
    # rest (readable at once: it is a file) still goes out.
    peer = Peer(TCP_PEER, r"send it\n", "1")
    peers.append(peer)
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(1024) * 8 * 1024)  # 8 MiB
    with payload.open("rb") as stdin:
        proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(peer.port)], stdin=stdin,
                              capture_output=True, env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert peer.received() == 8 * 1024 * 1024
    assert b"closed (peer closed): 8388608 bytes sent" in proc.stderr


def test_expect_still_fails_when_the_half_closed_peer_never_matched(peers: list[Peer]) -> None:
    peer = Peer(TCP_PEER, r"banner\n", "1")
    peers.append(peer)
    result = run("connect", "127.0.0.1", str(peer.port), "--send", "hello",
                 "--expect", "never", "--json")
    assert result.status == 6, result
    assert peer.received() == b"hello"
    error = [json.loads(line) for line in result.out.splitlines()][-1]
    assert (error["event"], error["code"], error["exit"]) == ("error", "EXPECT", 6)


def test_udp_match_does_not_drop_the_readable_stdin_lines(peers: list[Peer]) -> None:
    peer = Peer(UDP_PEER)
    peers.append(peer)
    result = run("connect", "127.0.0.1", str(peer.port), "--udp", "--expect", r"ready \d",
                 input="one\ntwo\nthree")
    assert result.status == 0, result
    assert peer.received() == [b"one\n", b"two\n", b"three"]


# --- issue 17, point 3: an unmatched --expect is exit 6 whatever order the end comes in ----

# A TCP peer that says its piece, shuts its write side, and then resets the
# connection (SO_LINGER 0), while netprobe may still be sending a payload it
# does not read.  ORDER says when the reset comes:
#   stalled:  once netprobe's send has stopped (its data no longer arrives):
#             the EOF was read long before, the reset cuts the send short;
#   at-once:  right behind the EOF, before netprobe can have read either;
#   drained:  after the peer has read netprobe's whole payload first (the last
#             write, then the EOF, then the reset).
# Its small receive buffer and the namespace's small send buffers
# (net.ipv4.tcp_wmem) make a 120 kB --send far larger than what the kernel
# can take, so netprobe is still sending when the reset comes.
RESETTING_PEER = r"""
import fcntl, socket, struct, sys, termios, time
order, size = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.recv(1, socket.MSG_PEEK)  # netprobe is past connecting: its payload is coming
got = 0
if order == "drained":
    while got < size:
        got += len(conn.recv(65536))
conn.sendall(b"banner\n")
conn.shutdown(socket.SHUT_WR)
if order == "stalled":
    queued, still = -1, 0
    while still < 10:  # 200 ms without a byte more: netprobe's send is blocked
        time.sleep(0.02)
        now = struct.unpack("i", fcntl.ioctl(conn, termios.FIONREAD, b"1234"))[0]
        still, queued = (still + 1, now) if now == queued else (0, now)
    got = queued
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
print(got, flush=True)
"""

PAYLOAD_SIZE = 120_000


@pytest.mark.parametrize("order", ["stalled", "at-once", "drained"])
def test_unmatched_expect_fails_when_the_peer_resets_after_its_eof(
        namespace: Callable[..., Namespace], order: str) -> None:
    ns = namespace()
    tuned = ns.sh("sysctl -q -w net.ipv4.tcp_wmem='4096 4096 4096'")
    assert tuned.returncode == 0, tuned.stderr
    peer = ns.popen([sys.executable, "-c", RESETTING_PEER, order, str(PAYLOAD_SIZE)],
                    stdout=subprocess.PIPE)
    assert peer.stdout is not None
    port = peer.stdout.readline().decode().strip()
    result = ns.run("connect", "127.0.0.1", port, "--send", "a" * PAYLOAD_SIZE,
                    "--expect", "never", "--json")
    received = int(peer.stdout.readline())
    events = result.events()
    closed = next(e for e in events if e["event"] == "closed")
    assert result.status == 6, result
    assert (events[-1]["event"], events[-1]["code"]) == ("error", "EXPECT")
    assert closed["bytes_in"] == len("banner\n")
    if order == "stalled":
        # The reset came while the payload was still going out.
        assert received < closed["bytes_out"] < PAYLOAD_SIZE, (received, closed)
    if order == "drained":
        assert received == closed["bytes_out"] == PAYLOAD_SIZE



# A TCP peer that never stops sending: the socket is always readable.
STREAMING_PEER = r"""
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
try:
    while True:
        conn.sendall(b"x" * 65536)
except OSError:
    pass
"""


@pytest.mark.parametrize("mode", [["-z"], ["--send", "hi"]])
def test_expect_times_out_against_a_peer_that_streams_forever(
        peers: list[Peer], mode: list[str]) -> None:
    # The deadline was only looked at when poll() found nothing ready: a peer
    # sending without pause kept an unmatched --expect (and netprobe) alive
    # for ever.  stdout goes to /dev/null: it would be gigabytes.
    peer = Peer(STREAMING_PEER)
    peers.append(peer)
    proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(peer.port), *mode,
                           "--expect", "never", "--timeout", "1", "--json"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=child_env(), timeout=30)
    assert proc.returncode == 6, proc.stderr
    assert b"EXPECT: no match within 1 s" in proc.stderr


def test_a_closed_stdin_is_an_immediate_eof_not_the_socket(peers: list[Peer]) -> None:
    # `connect HOST PORT <&-`: the socket was created as fd 0, then taken for
    # stdin once connected: an internal error (KeyError, exit 1).
    peer = Peer(TCP_PEER, r"hello\n", "1")
    peers.append(peer)
    proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(peer.port), "--json"],
                          stdin=subprocess.DEVNULL, capture_output=True, env=child_env(),
                          timeout=30, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e.get("text") for e in events if e["event"] == "data"] == ["hello\n"]
    assert events[-1]["event"] == "closed" and events[-1]["bytes_out"] == 0
    assert peer.received() == b""  # netprobe's write side closed at once, nothing sent
