"""The Unix-socket core on its own: addresses, the path walk, the diagnosis, SO_PEERCRED,
the socket-file rules.  Real sockets, real files, real peer processes; the permission
cases run as an unprivileged user (root's CAP_DAC_OVERRIDE passes every mode)."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from netprobe import syscalls
from netprobe.errors import InvalidInput
from netprobe.events import Event
from netprobe.unix import address, diagnose, fs, peercred, socketfile, table
from tests.helpers import NOBODY, PROJECT


def calls() -> tuple[list[dict[str, Any]], Any]:
    seen: list[dict[str, Any]] = []

    def trace(event: str, fields: Event) -> None:
        if event == "syscall":
            seen.append(dict(fields))

    return seen, trace


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name", "abstract"), [
    ("/run/app.sock", "/run/app.sock", False),
    ("./x.sock", "./x.sock", False),
    ("unix:x.sock", "x.sock", False),
    ("unix:/tmp/a b", "/tmp/a b", False),
    ("unix:@netprobe-test", "netprobe-test", True),
    ("/tmp/@x", "/tmp/@x", False),
])
def test_forms(text: str, name: str, abstract: bool) -> None:
    assert address.is_unix(text)
    parsed = address.parse(text, "connect")
    assert parsed == address.UnixAddress(name, abstract)
    assert parsed.sockaddr == ("\0" + name if abstract else name)
    assert parsed.text == ("@" + name if abstract else name)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "@name", "example.com"])
def test_hosts_are_not_unix(host: str) -> None:
    assert not address.is_unix(host)


def test_sun_path_holds_107_bytes() -> None:
    assert address.parse("/" + "a" * 106, "connect").name == "/" + "a" * 106
    with pytest.raises(InvalidInput, match="108 bytes; sun_path holds 107"):
        address.parse("/" + "a" * 107, "connect")
    # Bytes, not characters: 54 two-byte characters are 108 bytes.
    with pytest.raises(InvalidInput, match="109 bytes"):
        address.parse("/" + "é" * 54, "connect")
    assert address.parse("unix:@" + "n" * 107, "listen").abstract
    with pytest.raises(InvalidInput, match="abstract name is 108 bytes"):
        address.parse("unix:@" + "n" * 108, "listen")


@pytest.mark.parametrize(("text", "message"), [
    ("unix:", "needs a PATH"), ("unix:@", "needs a NAME"), ("/tmp/a\0b", "NUL"),
])
def test_malformed(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        address.parse(text, "connect")


def test_a_port_with_a_path_is_refused() -> None:
    address.refuse_port(None, "/x", "connect")
    address.refuse_port("", "/x", "connect")
    with pytest.raises(InvalidInput, match="takes no PORT"):
        address.refuse_port("80", "/x", "connect")


def test_addresses_the_kernel_gives_back(place: Path) -> None:
    path = str(place / "named.sock")
    named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unnamed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    auto = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with named, abstract, unnamed, auto:
        named.bind(path)
        abstract.bind("\0np-core-test")
        auto.bind("")  # autobind: the kernel picks an abstract name
        assert address.text_of(named.getsockname()) == path
        assert address.text_of(abstract.getsockname()) == "@np-core-test"
        assert address.text_of(unnamed.getsockname()) == ""
        assert address.text_of(auto.getsockname()).startswith("@")
        assert syscalls.sockaddr(unnamed.getsockname(), socket.AF_UNIX) == {"family": "AF_UNIX"}
        assert syscalls.sockaddr(abstract.getsockname(), socket.AF_UNIX) == {
            "family": "AF_UNIX", "abstract": "np-core-test"}
    assert syscalls.sockaddr_len({"family": "AF_UNIX", "path": "/tmp/x"}) == 9
    assert syscalls.sockaddr_len({"family": "AF_UNIX", "abstract": "ab"}) == 5
    assert syscalls.sockaddr_len({"family": "AF_UNIX"}) == 2


# --- the path walk and the diagnosis, as an unprivileged user ---------------------------

_AS_NOBODY = textwrap.dedent("""
    import errno, json, socket, sys
    from netprobe.unix import address, diagnose
    results = {}
    for path in sys.argv[1:]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        number = sock.connect_ex(path)
        sock.close()
        found = diagnose.connect_failure(address.parse(path, "connect"), number, "SOCK_STREAM")
        results[path] = {"errno": errno.errorcode.get(number), **found.to_json()}
    print(json.dumps(results))
""")


def as_nobody(*paths: str) -> dict[str, Any]:
    proc = subprocess.run([*NOBODY, sys.executable, "-c", _AS_NOBODY, *paths],
                          capture_output=True, text=True, timeout=30,
                          env={"PYTHONPATH": PROJECT, "PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def listener(path: Path, mode: int, owner: tuple[int, int] = (0, 0)) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    os.chmod(path, mode)
    os.chown(path, *owner)
    return sock


def test_permission_names_the_directory_without_search(place: Path) -> None:
    private = place / "private"
    private.mkdir(mode=0o700)
    with listener(private / "app.sock", 0o777):
        found = as_nobody(str(private / "app.sock"))[str(private / "app.sock")]
    assert found["errno"] == "EACCES"  # the kernel agrees with the model
    assert found["kind"] == "permission"
    assert found["refused"] == {"path": str(private), "type": "directory", "mode": "0700",
                                "uid": 0, "gid": 0, "need": "search", "class": "other",
                                "acl": False}
    assert found["message"] == (f"{private} (drwx------ root:root) refuses search to uid "
                                "65534 (nobody) (groups 65534 (nogroup)): its other class "
                                "lacks x")


def test_permission_on_the_socket_file_and_the_mode_classes(place: Path) -> None:
    # Group class: nogroup may read but not write.  Owner class: nobody owns a file
    # whose owner bits lack w although "other" has them (the owner gets no other bits).
    nogroup = 65534
    with listener(place / "group.sock", 0o740, (0, nogroup)), \
            listener(place / "owner.sock", 0o577, (65534, 0)), \
            listener(place / "open.sock", 0o760, (0, nogroup)):
        found = as_nobody(*(str(place / n) for n in ("group.sock", "owner.sock", "open.sock")))
    group, owner, opened = (found[str(place / n)]
                            for n in ("group.sock", "owner.sock", "open.sock"))
    assert group["errno"] == "EACCES" and group["kind"] == "permission"
    assert (group["refused"]["need"], group["refused"]["class"]) == ("write", "group")
    assert "srwxr----- root:nogroup" in group["message"]
    assert owner["errno"] == "EACCES"
    assert (owner["refused"]["need"], owner["refused"]["class"]) == ("write", "owner")
    assert opened["errno"] is None  # connected: group write is enough


def test_permission_model_is_never_blamed_when_the_modes_allow() -> None:
    creds = fs.Credentials(65534, 65534, frozenset({65534}))
    found = diagnose.connect_failure(address.parse("/", "connect"), errno.EACCES,
                                     "SOCK_STREAM", creds=fs.Credentials(0, 0, frozenset()))
    assert found.kind == "permission" and "security module" in found.message
    assert found.refusal is None
    assert creds.access_class(os.stat("/")) == "other"


def test_no_such_file_names_the_first_missing_directory(place: Path) -> None:
    missing = diagnose.connect_failure(address.parse(f"{place}/a/b/x.sock", "connect"),
                                       errno.ENOENT, "SOCK_STREAM")
    assert missing.kind == "no-such-file"
    assert missing.path == f"{place}/a"
    assert missing.message == f"the directory {place}/a does not exist ({place} does)"
    file_only = diagnose.connect_failure(address.parse(f"{place}/x.sock", "connect"),
                                         errno.ENOENT, "SOCK_STREAM")
    assert file_only.message == f"{place}/x.sock does not exist (the directory {place} does)"
    (place / "plain").write_text("")
    through_file = diagnose.connect_failure(address.parse(f"{place}/plain/x", "connect"),
                                            errno.ENOTDIR, "SOCK_STREAM")
    assert through_file.message == f"{place}/plain is a regular file, not a directory"


def test_symbolic_links_are_followed_as_the_kernel_follows_them(place: Path) -> None:
    (place / "real").mkdir()
    (place / "link").symlink_to("real")
    (place / "dangling").symlink_to("nowhere/x.sock")
    walked = fs.walk(f"{place}/link/x.sock", fs.Credentials.current())
    assert (walked.outcome, walked.path, walked.final) == ("missing", f"{place}/real/x.sock",
                                                            True)
    walked = fs.walk(f"{place}/dangling", fs.Credentials.current())
    assert (walked.outcome, walked.path) == ("missing", f"{place}/nowhere")
    (place / "loop").symlink_to("loop")
    assert fs.walk(f"{place}/loop", fs.Credentials.current()).outcome == "loop"


def test_bind_needs_write_on_the_directory(place: Path) -> None:
    shut = place / "shut"
    shut.mkdir(mode=0o755)
    creds = fs.Credentials(65534, 65534, frozenset({65534}))
    found = diagnose.bind_failure(address.parse(f"{shut}/x.sock", "listen"), errno.EACCES,
                                  creds)
    assert found.refusal is not None
    assert (found.refusal.path, found.refusal.need) == (str(shut), "write and search")
    missing = diagnose.bind_failure(address.parse(f"{place}/none/x.sock", "listen"),
                                    errno.ENOENT, creds)
    assert missing.message == f"the directory {place}/none does not exist ({place} does)"


def test_refused_stale_not_a_socket_other_type(place: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(place / "stale.sock"))
    stale.close()
    (place / "plain").write_text("data")
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(place / "dgram.sock"))
    with dgram:
        numbers = {}
        for name in ("stale.sock", "plain", "dgram.sock"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                numbers[name] = sock.connect_ex(str(place / name))
        assert numbers == {"stale.sock": errno.ECONNREFUSED, "plain": errno.ECONNREFUSED,
                           "dgram.sock": errno.EPROTOTYPE}
        kinds = {name: diagnose.connect_failure(address.parse(str(place / name), "connect"),
                                                number, "SOCK_STREAM")
                 for name, number in numbers.items()}
    assert kinds["stale.sock"].kind == "stale"
    stale_message = kinds["stale.sock"].message
    assert "a stale socket file: nothing listens on it (srwxr-xr-x root:root, modified " \
        in stale_message
    assert kinds["plain"].kind == "not-a-socket"
    assert kinds["plain"].message == f"{place}/plain is a regular file, not a socket"
    assert kinds["dgram.sock"].kind == "other-socktype"
    assert kinds["dgram.sock"].served == ("SOCK_DGRAM",)
    assert "served by SOCK_DGRAM (--udp), not SOCK_STREAM" in kinds["dgram.sock"].message
    nobody = diagnose.connect_failure(address.parse("unix:@np-core-nobody", "connect"),
                                      errno.ECONNREFUSED, "SOCK_STREAM")
    assert (nobody.kind, nobody.path) == ("no-listener", None)


def test_the_kernel_table_by_path(place: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.bind(str(place / "seq.sock"))
        sock.listen()
        (bound,) = table.bound_at(str(place / "seq.sock"))
        assert (bound["socktype"], bound["state"]) == ("SOCK_SEQPACKET", "LISTEN")
        assert bound["inode"] == os.fstat(sock.fileno()).st_ino
        assert bound["processes"][0]["pid"] == os.getpid()
        assert table.holders([bound]).startswith(f"pid {os.getpid()} (")
    assert table.bound_at(str(place / "seq.sock")) == []
    assert table.holders([]) == "no process holds it"


# --- SO_PEERCRED against real peers -------------------------------------------------------

_PEER = textwrap.dedent("""
    import socket, sys, time
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if sys.argv[1] == "client":
        sock.connect(sys.argv[2])
        sock.recv(1)
    else:
        sock.bind(sys.argv[2]); sock.listen(1); print("ready", flush=True)
        conn, _ = sock.accept(); conn.recv(1)
""")


def test_peer_credentials_of_a_client_and_of_a_server(place: Path) -> None:
    path = str(place / "cred.sock")
    seen, trace = calls()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        client = subprocess.Popen([sys.executable, "-c", _PEER, "client", path])
        try:
            conn, _ = server.accept()
            with conn:
                cred = peercred.read_peer_cred(conn, trace)
                conn.send(b"x")
        finally:
            client.wait(timeout=10)
    assert cred is not None
    assert (cred.pid, cred.uid, cred.gid) == (client.pid, os.geteuid(), os.getegid())
    assert cred.command == f"{sys.executable} -c {_PEER} client {path}"
    assert seen[0]["args"]["optname"] == "SO_PEERCRED"
    assert seen[0]["args"]["optval"] == {"pid": client.pid, "uid": 0, "gid": 0}

    other = str(place / "server.sock")
    server_proc = subprocess.Popen([sys.executable, "-c", _PEER, "server", other],
                                   stdout=subprocess.PIPE, text=True)
    try:
        assert server_proc.stdout is not None and server_proc.stdout.readline() == "ready\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(other)
            cred = peercred.read_peer_cred(sock, calls()[1])
            sock.send(b"x")
    finally:
        server_proc.wait(timeout=10)
    assert cred is not None and cred.pid == server_proc.pid


def test_datagram_sockets_have_no_peer_credentials() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with left, right:
        # socketpair records the creator's credentials; an unconnected one has none.
        lone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with lone:
            assert peercred.read_peer_cred(lone, calls()[1]) is None


def test_command_of_falls_back_to_comm(place: Path) -> None:
    (place / "7").mkdir()
    (place / "7" / "cmdline").write_bytes(b"")
    (place / "7" / "comm").write_bytes(b"kworker/0:1\n")
    (place / "8").mkdir()
    (place / "8" / "cmdline").write_bytes(b"sh\0-c\0echo \x1b[31m\0")
    assert peercred.command_of(7, proc=str(place)) == "kworker/0:1"
    assert peercred.command_of(8, proc=str(place)) == "sh -c echo \x1b[31m"
    assert peercred.command_of(9, proc=str(place)) is None
    assert peercred.command_of(0) is None


# --- the socket file's rules ---------------------------------------------------------------


def test_examine_and_unlink_rules(place: Path) -> None:
    stale_path = place / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(stale_path))
    (place / "plain").write_text("keep me")
    seen, trace = calls()
    stale = socketfile.examine(trace, address.parse(str(stale_path), "listen"))
    assert stale.kind == "stale"
    assert [c["call"] for c in seen] == ["socket", "connect", "close"]
    plain = socketfile.examine(trace, address.parse(str(place / "plain"), "listen"))
    assert plain.kind == "not-a-socket"
    assert not socketfile.replace_stale(trace, address.parse(str(place / "plain"), "l"), plain)
    assert (place / "plain").read_text() == "keep me"
    with listener(place / "live.sock", 0o755):
        seen.clear()
        live = socketfile.examine(trace, address.parse(str(place / "live.sock"), "listen"))
        assert live.kind == "in-use"
        assert seen == []  # the kernel's table said so: the live server was not disturbed
        assert not socketfile.replace_stale(trace, address.parse(str(place / "live.sock"),
                                                                 "l"), live)
        assert stat.S_ISSOCK(os.lstat(place / "live.sock").st_mode)
    assert socketfile.replace_stale(trace, address.parse(str(stale_path), "listen"), stale)
    assert not stale_path.exists()


def test_a_stale_file_replaced_meanwhile_is_not_removed(place: Path) -> None:
    path = place / "swap.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as first:
        first.bind(str(path))
    seen = socketfile.examine(calls()[1], address.parse(str(path), "listen"))
    path.rename(place / "kept.sock")  # kept, so that its inode is not reused at once
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:
        second.bind(str(path))
    assert not socketfile.replace_stale(calls()[1], address.parse(str(path), "listen"), seen)
    assert path.exists()


def test_remove_only_the_file_netprobe_made(place: Path) -> None:
    path = place / "made.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        made = socketfile.SocketFile.made(str(path))
    assert made is not None
    path.unlink()
    path.write_text("someone else's")
    assert not socketfile.remove(calls()[1], made)
    assert path.read_text() == "someone else's"
    path.unlink()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        made = socketfile.SocketFile.made(str(path))
    assert made is not None
    seen, trace = calls()
    assert socketfile.remove(trace, made)
    assert not path.exists()
    assert seen[-1]["call"] == "unlink" and seen[-1]["args"] == {"pathname": str(path)}


@pytest.mark.parametrize(("text", "mode"), [("0660", 0o660), ("660", 0o660), ("0o700", 0o700),
                                             ("4755", 0o4755)])
def test_parse_mode(text: str, mode: int) -> None:
    assert socketfile.parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "8", "rw", "17777", "-1"])
def test_parse_mode_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="octal mode"):
        socketfile.parse_mode(text)
