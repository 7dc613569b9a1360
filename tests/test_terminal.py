"""Hostile bytes never drive the operator's terminal (issue 12), seen through a real pty.

Each test runs netprobe as a person would, with its output on a pseudo-terminal
(``tests/ptyrun.py``), and checks the bytes that reached the terminal:

- **inert**: with ``NO_COLOR`` rich writes no escape sequence of its own, so
  *no* ESC may reach the terminal at all, nor BEL, backspace, a C1 control,
  a lone CR, a bidi control or any other invisible format character: every
  one of them could only have come from outside text.  With colour on, rich's
  own SGR sequences (``ESC [ digits m``) are taken out first and the same must
  hold for what is left; the raw sequences the peer sent must not appear
  anywhere (that also catches a peer's SGR the stripping would hide).
- the **visible form** of each is there (``\\x1b]0;pwned-title\\x07``, ...);
- on a **pipe** the payload is passed through unchanged (SHA-256), with
  ``--raw`` it is passed raw to the terminal too, and ``--json`` is exact.

``connect`` draws a live status line on stderr with cursor controls of its
own, so its stdout (where the payload goes) gets a pty of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.dnsmasq import DnsStub
from tests.helpers import NETPROBE, Namespace, child_env, free_port, read_until, wait_for_port
from tests.ptyrun import PtyRun

#: What a hostile peer sends: the issue's example, OSC 52 (clipboard), BEL,
#: backspaces, a lone CR, bidi and zero-width characters, a C1 CSI, rich markup.
HOSTILE = (
    b"hello \x1b]0;pwned-title\x07\x1b[31mRED\x1b[0m \x1b[2J end\r\n"
    b"clip \x1b]52;c;ZXZpbA==\x07 bell\x07 back\x08\x08 over\rwrite\n"
    + "rtl \u202eevil\u202c zw\u200bsp\u200d\ufeff c1 \u009b31m [bold red]x[/] :smile:\n".encode()
)
#: How each part must look on the terminal.
VISIBLE = [
    b"hello \\x1b]0;pwned-title\\x07\\x1b[31mRED\\x1b[0m \\x1b[2J end\r\n",
    b"clip \\x1b]52;c;ZXZpbA==\\x07 bell\\x07 back\\x08\\x08 over\\rwrite\n",
    b"rtl \\u202eevil\\u202c zw\\u200bsp\\u200d\\ufeff c1 \\u009b31m [bold red]x[/] :smile:\n",
]
#: The raw sequences of HOSTILE: none may reach a terminal (without --raw).
RAW_SEQUENCES = [b"\x1b]", b"\x1b[2J", b"\x1b[31mRED", b"\x07", b"\x08",
                 b"\rwrite", "\u202e".encode(), "\u200b".encode(), "\u009b".encode()]
#: Binary payload for the pipe tests: every byte value, and the hostile bytes.
BINARY = bytes(range(256)) * 64 + HOSTILE + b"\xff\xfe\x00"

SGR = re.compile(rb"\x1b\[[0-9;]*m")
NO_COLOR = {"NO_COLOR": "1", "TERM": "xterm-256color"}
COLOUR = {"TERM": "xterm-256color"}


def terminal_problems(output: bytes, *, colour: bool = False) -> list[str]:
    """What in ``output`` a terminal would obey or show as nothing (empty: inert)."""
    problems = [repr(seq) for seq in RAW_SEQUENCES if seq in output]
    if colour:
        output = SGR.sub(b"", output)
    try:
        text = output.decode("utf-8")
    except UnicodeDecodeError as exc:  # a raw byte that is not UTF-8 got through
        return [*problems, str(exc)]
    for index, char in enumerate(text):
        if char in "\n\t" or (char == "\r" and text[index + 1:index + 2] == "\n"):
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"):
            problems.append(f"{char!a} at {index}: {text[max(0, index - 20):index + 20]!a}")
    return problems


def assert_inert(output: bytes, *, colour: bool = False) -> None:
    assert not terminal_problems(output, colour=colour), output
    if not colour:
        assert b"\x1b" not in output, output


def assert_visible(output: bytes, *, colour: bool = False) -> None:
    plain = SGR.sub(b"", output) if colour else output
    for line in VISIBLE:
        assert line in plain, (line, plain)


# --- the checks themselves -------------------------------------------------------------


def test_the_check_catches_what_a_raw_terminal_would_get() -> None:
    # The assertion must be able to fail: raw hostile bytes are caught in both modes.
    assert terminal_problems(HOSTILE)
    assert terminal_problems(b"\x1b[2mok\x1b[0m" + HOSTILE, colour=True)
    assert terminal_problems(b"ok \x1b[31mRED", colour=True)  # an SGR the peer sent
    assert terminal_problems(b"ok \xff")
    assert not terminal_problems(b"\x1b[2m\\x1b\x1b[22m ok\r\n", colour=True)


# --- listen ----------------------------------------------------------------------------


def send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)


def listen_on_pty(*extra: str, env: dict[str, str], data: bytes = HOSTILE) -> bytes:
    port = free_port()
    with PtyRun("listen", str(port), "--bind", "127.0.0.1", "--count", "1", *extra,
                env=env) as run:
        run.wait_for(b"listening on")
        send(port, data)
        assert run.wait() == 0, run.output
        return run.output


def test_listen_on_a_terminal_shows_what_a_client_sends_escaped() -> None:
    output = listen_on_pty(env=NO_COLOR)
    assert_inert(output)
    assert_visible(output)
    assert b"stopped (count): 1 client, " in output


def test_listen_quiet_on_a_terminal_still_makes_the_payload_safe() -> None:
    # -q prints no "listening on": the port is polled (one empty client, hence --count 2).
    port = free_port()
    with PtyRun("listen", str(port), "--bind", "127.0.0.1", "--count", "2", "-q",
                env=NO_COLOR) as run:
        wait_for_port(port)
        send(port, HOSTILE + b"tail\r")
        assert run.wait() == 0, run.output
        output = run.output
    assert_inert(output)
    assert_visible(output)
    assert output.endswith(b"tail\\r")  # a CR held back at the end is shown when it ends


def test_listen_on_a_colour_terminal_dims_the_escapes() -> None:
    output = listen_on_pty(env=COLOUR)
    assert_inert(output, colour=True)
    assert_visible(output, colour=True)
    assert b"hello \x1b[2m\\x1b\x1b[22m]0;pwned-title" in output
    assert SGR.search(output.split(b"hello")[0])  # rich's colour is on: the check means something


def test_listen_raw_passes_the_bytes_to_the_terminal() -> None:
    output = listen_on_pty("--raw", env=NO_COLOR)
    assert HOSTILE in output


def test_listen_udp_on_a_terminal_shows_a_datagram_escaped() -> None:
    port = free_port(kind=socket.SOCK_DGRAM)
    with PtyRun("listen", str(port), "--bind", "127.0.0.1", "--udp", "--count", "1",
                env=NO_COLOR) as run:
        run.wait_for(b"bound")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(HOSTILE, ("127.0.0.1", port))
        assert run.wait() == 0, run.output
    assert_inert(run.output)
    assert_visible(run.output)


def test_listen_on_a_pipe_passes_bytes_unchanged() -> None:
    port = free_port()
    proc = subprocess.Popen([*NETPROBE, "listen", str(port), "--bind", "127.0.0.1", "--count",
                             "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env(COLOUR))
    try:
        assert proc.stderr is not None
        seen = b""
        while b"listening on" not in seen:
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        send(port, BINARY)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(BINARY).hexdigest()


def data_bytes(events: list[dict[str, object]]) -> bytes:
    return b"".join(str(e["text"]).encode() if "text" in e else base64.b64decode(str(e["base64"]))
                    for e in events if e["event"] == "data")


def test_listen_json_is_exact() -> None:
    port = free_port()
    proc = subprocess.Popen([*NETPROBE, "listen", str(port), "--bind", "127.0.0.1", "--count",
                             "1", "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    try:
        assert proc.stdout is not None
        before = read_until(proc.stdout, b'"listening"')
        assert b'"listening"' in before, before
        send(port, HOSTILE)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # A JSON log is cat'ed too: what a terminal would obey is written as its escape.
    assert_inert(before + out)
    events = [json.loads(line) for line in (before + out).splitlines()]
    assert data_bytes(events) == HOSTILE
    texts = "".join(e.get("text", "") for e in events if e["event"] == "data")
    assert "\x1b]0;pwned-title\x07" in texts and "\u202eevil" in texts


# --- connect ---------------------------------------------------------------------------


def file_server(path: Path) -> subprocess.Popen[bytes]:
    """socat on loopback sending the file at ``path`` to each client, then closing.

    ``-U``: from the file to the client, the file opened anew for each client
    (opened once before the fork, every client would share one offset).
    """
    port = free_port()
    proc = subprocess.Popen(["socat", "-U", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                             f"OPEN:{path},rdonly"], stderr=subprocess.DEVNULL)
    proc.port = port  # type: ignore[attr-defined]
    wait_for_port(port)
    return proc


@pytest.fixture
def hostile_peer(tmp_path: Path) -> Iterator[int]:
    """The port of a peer that sends HOSTILE to each client, then closes."""
    (tmp_path / "hostile").write_bytes(HOSTILE)
    proc = file_server(tmp_path / "hostile")
    yield proc.port  # type: ignore[attr-defined]
    proc.kill()
    proc.wait()


def connect_on_pty(port: int, *extra: str, env: dict[str, str]) -> tuple[bytes, bytes]:
    with PtyRun("connect", "127.0.0.1", str(port), *extra, env=env, split=True) as run:
        assert run.wait() == 0, (run.output, run.errors)
        return run.output, run.errors


@pytest.mark.parametrize("colour", [False, True], ids=["no-colour", "colour"])
def test_connect_on_a_terminal_shows_what_the_peer_sends_escaped(hostile_peer: int,
                                                                 colour: bool) -> None:
    out, err = connect_on_pty(hostile_peer, env=COLOUR if colour else NO_COLOR)
    assert_inert(out, colour=colour)
    assert_visible(out, colour=colour)
    # stderr (the trace, with rich's live status line) carries nothing of the peer's.
    assert b"pwned" not in err and b"\x07" not in err
    assert b"received" in err


def test_connect_quiet_on_one_terminal_is_inert(hostile_peer: int) -> None:
    with PtyRun("connect", "127.0.0.1", str(hostile_peer), "-q", env=NO_COLOR) as run:
        assert run.wait() == 0
        assert_inert(run.output)
        assert_visible(run.output)


def test_connect_raw_passes_the_bytes_to_the_terminal(hostile_peer: int) -> None:
    out, _ = connect_on_pty(hostile_peer, "--raw", env=NO_COLOR)
    assert out == HOSTILE


def test_connect_on_a_pipe_passes_bytes_unchanged(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(BINARY)
    peer = file_server(tmp_path / "binary")
    try:
        proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(peer.port)],  # type: ignore[attr-defined]
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              env=child_env(COLOUR))
    finally:
        peer.kill()
        peer.wait()
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256(proc.stdout).hexdigest() == hashlib.sha256(BINARY).hexdigest()


def test_connect_json_is_exact(hostile_peer: int) -> None:
    proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(hostile_peer), "--json"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                          env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert_inert(proc.stdout)
    assert b"\\u202eevil\\u202c" in proc.stdout and b"\\u009b31m" in proc.stdout
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert data_bytes(events) == HOSTILE
    assert "".join(e.get("text", "") for e in events if e["event"] == "data") == HOSTILE.decode()


# --- names from /etc/hosts: reverse and resolve --canonname -------------------------------

#: A hosts name carrying ESC sequences, BEL, bidi, zero-width, C1 and markup (no spaces:
#: they separate names).  Written to the namespace's /etc/hosts as these raw bytes.
EVIL_NAME = "esc\x1b[31mred\x1b]0;title\x07\u202eevil\u200bzw\u009bc1[red]x[/]\x1b]52;c;eA==\x07"
EVIL_SHOWN = (b"esc\\x1b[31mred\\x1b]0;title\\x07\\u202eevil\\u200bzw\\u009bc1[red]x[/]"
              b"\\x1b]52;c;eA==\\x07")


#: A name that is not even UTF-8 (bytes ff and 9b), with an ESC.
BYTES_NAME = b"raw\xff\x9bbyte\x1bx"


@pytest.fixture(scope="module")
def evil_hosts() -> Iterator[Namespace]:
    ns = Namespace()
    # Rewritten in place (the bind mount follows the file): raw bytes, not text.
    (ns.dir / "hosts").write_bytes(b"127.0.0.1 localhost\n127.0.0.6 " + EVIL_NAME.encode()
                                   + b" alias6\n127.0.0.8 " + BYTES_NAME + b" alias8\n")
    yield ns
    ns.close()


def names_problems(output: bytes, colour: bool) -> list[str]:
    # Names carry ESC and BEL, never the payload's other parts: the same check applies.
    return terminal_problems(output, colour=colour)


@pytest.mark.parametrize("colour", [False, True], ids=["no-colour", "colour"])
def test_reverse_on_a_terminal_shows_a_hostile_name_escaped(evil_hosts: Namespace,
                                                            colour: bool) -> None:
    with PtyRun("reverse", "127.0.0.6", prefix=evil_hosts.prefix,
                env=COLOUR if colour else NO_COLOR) as run:
        assert run.wait() == 0, run.output
        assert not names_problems(run.output, colour), run.output
        assert EVIL_SHOWN in (SGR.sub(b"", run.output) if colour else run.output)
        if not colour:
            assert b"\x1b" not in run.output


@pytest.mark.parametrize("colour", [False, True], ids=["no-colour", "colour"])
def test_resolve_canonname_on_a_terminal_shows_a_hostile_name_escaped(evil_hosts: Namespace,
                                                                      colour: bool) -> None:
    with PtyRun("resolve", "alias6", "--canonname", prefix=evil_hosts.prefix,
                env=COLOUR if colour else NO_COLOR) as run:
        assert run.wait() == 0, run.output
        assert not names_problems(run.output, colour), run.output
        plain = SGR.sub(b"", run.output) if colour else run.output
        # In the table and in the summary line.
        assert plain.count(EVIL_SHOWN) == 2, plain
        if not colour:
            assert b"\x1b" not in run.output


def test_hostile_names_are_exact_in_json(evil_hosts: Namespace) -> None:
    reverse = evil_hosts.run("reverse", "127.0.0.6", "--json")
    assert reverse.status == 0, reverse.err
    assert json.loads(reverse.out)["host"] == EVIL_NAME
    resolve = evil_hosts.run("resolve", "alias6", "--canonname", "--json")
    assert resolve.status == 0, resolve.err
    assert json.loads(resolve.out)["canonname"] == EVIL_NAME
    assert_inert(reverse.out.encode())
    assert_inert(resolve.out.encode())


def test_hostile_names_are_escaped_on_a_pipe_too(evil_hosts: Namespace) -> None:
    # A name is not payload: a log file cat'ed later is a terminal too.
    result = evil_hosts.run("reverse", "127.0.0.6", env=NO_COLOR)
    assert result.status == 0
    assert result.out == EVIL_SHOWN.decode() + " 0\n"


# --- one-line errors -------------------------------------------------------------------


def test_an_error_line_on_a_terminal_is_inert() -> None:
    with PtyRun("resolve", "x\x1b]0;t\x07\u202e\u200b.invalid", "--numeric-host",
                env=NO_COLOR) as run:
        status = run.wait()
    assert status in (2, 3), run.output
    assert run.output.startswith(b"netprobe: resolve "), run.output
    assert not terminal_problems(run.output), run.output
    assert b"\\x1b]0;t\\x07\\u202e\\u200b" in run.output


# --- names that are not UTF-8 --------------------------------------------------------------


@pytest.mark.parametrize("args", [["reverse", "127.0.0.8"], ["resolve", "alias8", "--canonname"]],
                         ids=["reverse", "canonname"])
def test_a_name_that_is_not_utf8_is_shown_byte_by_byte(evil_hosts: Namespace,
                                                       args: list[str]) -> None:
    # Python's socket module decodes names as strict UTF-8: this used to be an
    # internal error (reverse) or a usage error (resolve).
    with PtyRun(*args, prefix=evil_hosts.prefix, env=NO_COLOR) as run:
        assert run.wait() == 0, run.output
        assert not terminal_problems(run.output), run.output
        assert b"raw\\xff\\x9bbyte\\x1bx" in run.output


def test_a_name_that_is_not_utf8_is_exact_in_json(evil_hosts: Namespace) -> None:
    name = BYTES_NAME.decode("utf-8", "surrogateescape")
    reverse = evil_hosts.run("reverse", "127.0.0.8", "--json")
    assert reverse.status == 0, reverse.err
    assert '"host":"raw\\udcff\\udc9bbyte\\u001bx"' in reverse.out  # valid UTF-8 JSON
    assert json.loads(reverse.out)["host"] == name
    resolve = evil_hosts.run("resolve", "alias8", "--canonname", "--json")
    assert resolve.status == 0, resolve.err
    assert json.loads(resolve.out)["canonname"] == name


def test_listen_names_a_client_with_a_hostile_name_escaped() -> None:
    # listen --names: the client's name comes from getnameinfo (here /etc/hosts).
    ns = Namespace(hosts=f"127.0.0.1 {EVIL_NAME} localhost\n")
    try:
        port = free_port()
        with PtyRun("listen", str(port), "--bind", "127.0.0.1", "--count", "1", "--names",
                    prefix=ns.prefix, env=NO_COLOR) as run:
            run.wait_for(b"listening on")
            sent = ns.sh(f"printf 'hi\\n' | socat - TCP:127.0.0.1:{port}")
            assert sent.returncode == 0, sent.stderr
            assert run.wait() == 0, run.output
        assert not terminal_problems(run.output), run.output
        assert b"client 1 " + EVIL_SHOWN + b" (127.0.0.1:" in run.output
        assert b"\x1b" not in run.output
    finally:
        ns.close()


# --- DNS data ------------------------------------------------------------------------------


def test_dns_data_on_a_terminal_is_inert(dns_stub: Callable[..., DnsStub]) -> None:
    # A PTR name with ESC, BEL and U+202E's bytes in a label.  DNS data is shown
    # in presentation format (\\DDD for such bytes, dnspython's to_text): the
    # view must keep it so, never decode the labels into the characters.
    name = "evil\\027]0\\059t\\007\\226\\128\\174x.test"
    stub = dns_stub("NOERROR", {("1.0.0.127.in-addr.arpa", "PTR"): [
        f"1.0.0.127.in-addr.arpa. 60 IN PTR {name}."]})
    # --numeric-host: getnameinfo looks nothing up; only the stub is asked.
    with PtyRun("reverse", "127.0.0.1", "--numeric-host", "--server", stub.server,
                env=NO_COLOR) as run:
        assert run.wait() == 0, run.output
    assert not terminal_problems(run.output), run.output
    assert b"\x1b" not in run.output
    assert b"evil\\027]0\\;t\\007\\226\\128\\174x.test" in run.output


# --- --explain quotes the hosts file ----------------------------------------------------------


@pytest.mark.parametrize("args, shown", [
    (["resolve", "alias6", "--explain"], EVIL_SHOWN),
    (["reverse", "127.0.0.6", "--explain"], EVIL_SHOWN),
    (["reverse", "127.0.0.8", "--explain"], b"raw\\xff\\x9bbyte\\x1bx"),
], ids=["resolve", "reverse", "reverse-not-utf8"])
def test_explain_on_a_terminal_quotes_hostile_hosts_lines_escaped(
        evil_hosts: Namespace, args: list[str], shown: bytes) -> None:
    with PtyRun(*args, prefix=evil_hosts.prefix, env=NO_COLOR) as run:
        assert run.wait() == 0, run.output
    assert not terminal_problems(run.output), run.output
    assert b"\x1b" not in run.output
    hosts_line = next(line for line in run.output.splitlines() if b"/etc/hosts:" in line)
    assert shown in hosts_line
    # The explanation reads the file's bytes as the library does: the prediction holds.
    assert b"explained yes" in run.output


# --- certificate fields (connect --tls) ------------------------------------------------------

#: rich's own cursor controls for connect's live status line (stderr on a terminal):
#: hide/show the cursor, erase the line, move up.  Only these are taken out.
RICH_LIVE = re.compile(rb"\r?\x1b\[(?:\?25[lh]|[0-9]*[AK])")


@pytest.fixture(scope="module")
def hostile_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate whose subject and SANs carry escapes, BEL and U+202E."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "cn\x1b]0;pwned-title\x07\u202eevil\u200b"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "org\x1b[2J[bold red]x[/]\x9b31m"),
    ])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("san\x1b]52;c;ZXZpbA==\x07.test"),
                x509.DNSName("bell\x07back\x08\x08cr\rx.test"),
            ]), critical=False)
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("hostile-cert") / "hostile.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
                     + cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_certificate_fields_on_a_terminal_are_inert(hostile_certificate: Path) -> None:
    from tests.tls_pki import s_server

    with s_server(str(hostile_certificate)) as port, \
            PtyRun("connect", "127.0.0.1", str(port), "--tls", "--insecure", "-z",
                   env=NO_COLOR) as run:
        assert run.wait() == 0, run.output
    output = RICH_LIVE.sub(b"", run.output)
    assert not terminal_problems(output), run.output
    assert b"\x1b" not in output, run.output
    # (RFC 4514 writes the subject's ";" as "\\;".)
    for shown in (b"CN=cn\\x1b]0\\;pwned-title\\x07\\u202eevil\\u200b",
                  b"org\\x1b[2J[bold red]x[/]\\u009b31m",
                  b"san\\x1b]52;c;ZXZpbA==\\x07.test",
                  b"bell\\x07back\\x08\\x08cr\\rx.test"):
        assert shown in output, (shown, output)
