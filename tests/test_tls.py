"""connect --tls and listen --tls, run as users run them, against real TLS peers on loopback.

Peers: socat (OPENSSL-LISTEN ... EXEC:cat, a TLS echo), openssl s_server
(TLS 1.2/1.3, ALPN, client certificates), ncat --ssl, and netprobe's own
``listen --tls``.  The oracle for every verification failure is Python's
ssl (the OS's OpenSSL) doing the same handshake.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    NETPROBE,
    child_env,
    free_port,
    have,
    imported_by,
    run,
    wait_for_port,
    write_payload,
)
from tests.tls_pki import Pki, python_verdict, s_server, serving, socat_echo

pytestmark = pytest.mark.skipif(not (have("socat") and have("openssl")),
                                reason="needs socat and openssl (installed by .ci/run)")

CHAIN_FIELDS = {"subject", "issuer", "san", "not_before", "not_after", "days_left", "key",
                "signature_algorithm", "sha256", "serial"}
TLS_FIELDS = {"version", "cipher", "alpn", "sni", "verified", "verify_error", "hostname_match",
              "chain", "elapsed_ms"}


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def tls_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    [event] = [e for e in events if e["event"] == "tls"]
    return event


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("netprobe: ")]
    assert len(lines) == 1, err
    return lines[0]


# --- a verified handshake, and the data phase ------------------------------------------


def test_verified_handshake_reports_version_cipher_chain_and_echoes(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca",
                     str(pki.root / "ca.pem"), "--json", input="hello tls\n")
    assert result.status == 0, result.err
    events = result.events()
    tls = tls_event(events)
    assert set(tls) >= TLS_FIELDS
    assert tls["version"] in ("TLSv1.2", "TLSv1.3") and tls["cipher"]
    assert tls["sni"] == "localhost" and tls["verified"] is True
    assert tls["verify_error"] is None and tls["hostname_match"] == "DNS:localhost"
    [leaf] = tls["chain"]
    assert set(leaf) >= CHAIN_FIELDS
    assert leaf["san"] == ["DNS:localhost", "IP:127.0.0.1"]
    assert leaf["key"]["type"] == "EC" and leaf["not_after"].endswith("Z")
    assert len(leaf["sha256"]) == 95 and leaf["days_left"] > 300
    data = "".join(e.get("text", "") for e in events if e["event"] == "data")
    assert data == "hello tls\n"
    order = [e["event"] for e in events]
    assert order.index("connected") < order.index("tls") < order.index("data")


def test_human_output_is_a_compact_block_with_the_chain(pki: Pki) -> None:
    with socat_echo(pki.path("intermediate")) as port:
        result = run("connect", "127.0.0.1", str(port), "--tls", "--ca",
                     str(pki.root / "ca.pem"), input="ping\n")
    assert result.status == 0, result.err
    assert result.out == "ping\n"  # payload alone on stdout
    assert "TLS TLSv1" in result.err
    assert "chain sent by the server (2 certificates)" in result.err
    assert "certificate verified: 127.0.0.1 matched IP:127.0.0.1" in result.err
    assert "\x1b[" not in result.err  # no colour on a pipe


def test_numeric_host_sends_no_sni_and_verifies_the_address(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "127.0.0.1", str(port), "--tls", "-z", "--json", "--ca",
                     str(pki.root / "ca.pem"))
    tls = tls_event(result.events())
    assert result.status == 0 and tls["sni"] is None
    assert tls["hostname_match"] == "IP:127.0.0.1"


def test_ca_directory_is_accepted(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "-z", "--ca",
                     str(pki.root / "ca-dir"))
    assert result.status == 0, result.err


@pytest.mark.parametrize("name, key_type", [("valid", "EC"), ("rsa", "RSA")])
def test_rsa_and_ecdsa_certificates(pki: Pki, name: str, key_type: str) -> None:
    with socat_echo(pki.path(name)) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "-z", "--json", "--ca",
                     str(pki.root / "ca.pem"))
    assert result.status == 0, result.err
    leaf = tls_event(result.events())["chain"][0]
    assert leaf["key"]["type"] == key_type
    assert leaf["key"]["bits"] == (2048 if key_type == "RSA" else 256)


def test_64_mib_round_trip_is_byte_exact(pki: Pki, tmp_path: Path) -> None:
    payload = write_payload(tmp_path / "payload", 64)
    back = tmp_path / "back"
    with socat_echo(pki.path("valid")) as port, payload.open("rb") as stdin, \
            back.open("wb") as stdout:
        proc = subprocess.run([*NETPROBE, "connect", "127.0.0.1", str(port), "--tls",
                               "--insecure", "-q"], stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, env=child_env(), timeout=240)
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert back.stat().st_size == payload.stat().st_size
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_send_and_expect_over_tls(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        ok = run("connect", "127.0.0.1", str(port), "--tls", "-k", "--send", "PING 42\n",
                 "--expect", r"PING \d+", "--timeout", "5")
        missed = run("connect", "127.0.0.1", str(port), "--tls", "-k", "--send", "hello\n",
                     "--expect", "never", "--timeout", "5")
    assert ok.status == 0, ok.err
    assert missed.status == 6
    assert "EXPECT" in one_line_error(missed.err) or "expect" in one_line_error(missed.err)


def test_binary_payload_over_tls_json(pki: Pki) -> None:
    data = bytes(range(256))
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "127.0.0.1", str(port), "--tls", "-k", "--json", input=data)
    assert result.status == 0, result.err
    import base64

    got = b"".join(base64.b64decode(e["base64"]) if "base64" in e else e["text"].encode()
                   for e in result.events() if e["event"] == "data")
    assert got == data


# --- verification failures: exit 7, the chain still shown, OpenSSL's code ------------------


FAILURES = [
    ("expired", "localhost", "X509_V_ERR_CERT_HAS_EXPIRED", 0),
    ("not_yet_valid", "localhost", "X509_V_ERR_CERT_NOT_YET_VALID", 0),
    ("self_signed", "localhost", "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", 0),
    ("wrong_host", "localhost", "X509_V_ERR_HOSTNAME_MISMATCH", 0),
    ("unknown_ca", "localhost", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 0),
    ("missing_intermediate", "localhost", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 0),
]

_X509_NUMBERS = {"X509_V_ERR_CERT_HAS_EXPIRED": 10, "X509_V_ERR_CERT_NOT_YET_VALID": 9,
                 "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT": 18,
                 "X509_V_ERR_HOSTNAME_MISMATCH": 62,
                 "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20}


@pytest.mark.parametrize("name, host, code, depth", FAILURES)
def test_verification_failure_matches_python_ssl(pki: Pki, name: str, host: str, code: str,
                                                 depth: int) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path(name)) as port:
        oracle = python_verdict(port, host, ca)
        result = run("connect", host, str(port), "-4", "--tls", "--ca", ca, "--json", "-z")
        human = run("connect", host, str(port), "-4", "--tls", "--ca", ca, "-z")
        insecure = run("connect", host, str(port), "-4", "--tls", "--ca", ca, "--json", "-z",
                       "--insecure")
    assert oracle == _X509_NUMBERS[code]
    assert result.status == 7
    events = result.events()
    error = events[-1]
    assert error["event"] == "error" and error["stage"] == "tls" and error["exit"] == 7
    assert error["code"] == code
    tls = error["tls"]  # what was seen travels with the error
    assert tls["verified"] is False and tls["chain"]
    assert tls["verify_error"]["number"] == oracle
    assert tls["verify_error"]["depth"] == depth
    assert tls_event(events)["chain"] == tls["chain"]
    # Human: the chain is shown, and one error line.
    assert human.status == 7
    assert "chain sent by the server" in human.err
    assert one_line_error(human.err).startswith(f"netprobe: tls {host} {port}: {code}: ")
    # --insecure: the handshake goes on and says what would have failed.
    assert insecure.status == 0, insecure.err
    predicted = tls_event(insecure.events())
    assert predicted["verification"] == "predicted" and predicted["verified"] is False
    assert predicted["verify_error"]["code"] == code
    assert predicted["verify_error"]["number"] == oracle


def test_insecure_on_a_good_chain_predicts_success(pki: Pki) -> None:
    with socat_echo(pki.path("intermediate")) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--insecure", "-z",
                     "--json", "--ca", str(pki.root / "ca.pem"))
    tls = tls_event(result.events())
    assert result.status == 0
    assert tls["verified"] is True and tls["verification"] == "predicted"
    assert len(tls["chain"]) == 2 and tls["hostname_match"] == "DNS:localhost"


def test_check_insecure_targets_in_parallel_each_get_insecures_handshake(pki: Pki) -> None:
    """check's workers share one --insecure context, which each prediction switches to
    verify (TLS 1.2 only) for a moment: no other target's handshake may take those settings
    (before the fix, most of 200 failed with 'self-signed certificate' or got TLS 1.2)."""
    with socat_echo(pki.path("self_signed")) as port:
        result = run("check", *[f"tls://localhost:{port}"] * 200, "--insecure", "--json",
                     timeout=120)
    assert result.status == 0, result.err
    events = result.events()
    versions = [e["version"] for e in events if e["event"] == "tls"]
    assert versions == ["TLSv1.3"] * 200
    [summary] = [e for e in events if e["event"] == "summary"]
    assert summary["ok"] == 200 and summary["failed"] == 0


def test_sni_option_names_the_host_to_verify(pki: Pki) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path("wrong_host")) as port:
        good = run("connect", "127.0.0.1", str(port), "--tls", "--sni", "other.test", "--ca", ca,
                   "-z", "--json")
    assert good.status == 0, good.err
    tls = tls_event(good.events())
    assert tls["sni"] == "other.test" and tls["hostname_match"] == "DNS:other.test"


# --- --min-days ------------------------------------------------------------------------


def test_min_days(pki: Pki) -> None:
    ca = str(pki.root / "ca.pem")
    with socat_echo(pki.path("expiring")) as port:
        short = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-z",
                    "--min-days", "7", "--json")
        fine = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-z",
                   "--min-days", "3")
    assert short.status == 6
    error = short.events()[-1]
    assert error["code"] == "MIN_DAYS" and error["exit"] == 6
    assert error["tls"]["chain"][0]["days_left"] == 5
    assert fine.status == 0, fine.err


# --- openssl s_server: versions, ALPN, client certificates ------------------------------


@pytest.mark.parametrize("flag, version", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_protocol_versions_against_s_server(pki: Pki, flag: str, version: str) -> None:
    with s_server(pki.path("valid"), flag) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca",
                     str(pki.root / "ca.pem"), "-z", "--json")
    assert result.status == 0, result.err
    assert tls_event(result.events())["version"] == version


def test_alpn_against_s_server(pki: Pki) -> None:
    with s_server(pki.path("valid"), "-alpn", "h2") as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca",
                     str(pki.root / "ca.pem"), "-z", "--json", "--alpn", "h2,http/1.1")
    assert result.status == 0, result.err
    assert tls_event(result.events())["alpn"] == "h2"


def test_client_certificate_against_s_server(pki: Pki) -> None:
    ca = str(pki.root / "ca.pem")
    # TLS 1.2: the server's refusal arrives during the handshake.
    with s_server(pki.path("valid"), "-tls1_2", "-Verify", "1", "-CAfile", ca) as port:
        without = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-z")
        with_cert = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca, "-z",
                        "--cert", str(pki.root / "client.crt"),
                        "--key", str(pki.root / "client.key"))
    assert without.status == 7
    assert "netprobe: tls localhost" in one_line_error(without.err)
    assert with_cert.status == 0, with_cert.err


def test_client_certificate_refused_after_a_tls13_handshake(pki: Pki) -> None:
    # TLS 1.3: the client's handshake ends before the server checks its
    # certificate; the refusal is an alert on the first read, still exit 7.
    ca = str(pki.root / "ca.pem")
    with s_server(pki.path("valid"), "-tls1_3", "-Verify", "1", "-CAfile", ca) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca", ca,
                     "--send", "hello\n")
    assert result.status == 7
    assert "CERTIFICATE_REQUIRED" in one_line_error(result.err)


# --- ncat --ssl --------------------------------------------------------------------------


@pytest.mark.skipif(not have("ncat"), reason="needs ncat")
def test_ncat_ssl_echo(pki: Pki) -> None:
    port = free_port()
    argv = ["ncat", "--ssl", "--ssl-cert", str(pki.root / "valid.crt"), "--ssl-key",
            str(pki.root / "valid.key"), "-l", "127.0.0.1", str(port), "-k", "--sh-exec", "cat"]
    # ncat ends the whole connection at the client's half-close (socat's
    # client gets nothing back either), so this is a --check --expect
    # exchange: the write side stays open until the echo is seen.
    with serving(argv, port):
        result = run("connect", "localhost", str(port), "-4", "--tls", "--ca",
                     str(pki.root / "ca.pem"), "-z", "--send", "via ncat\n", "--expect",
                     "via ncat", "--timeout", "10")
    assert result.status == 0, result.err
    assert result.out == "via ncat\n"


# --- peers that are not TLS servers -------------------------------------------------------


def test_plain_tcp_peer_is_exit_7() -> None:
    port = free_port()
    # A plain TCP service that greets first: its banner is not a TLS record.
    argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            "SYSTEM:echo SSH-2.0-OpenSSH_9.6; cat"]
    with serving(argv, port):
        result = run("connect", "127.0.0.1", str(port), "--tls", "-z", "--timeout", "5")
    assert result.status == 7
    assert "not TLS" in one_line_error(result.err)


def test_peer_closing_during_the_handshake_is_exit_7() -> None:
    port = free_port()
    argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", "SYSTEM:true"]
    with serving(argv, port):
        result = run("connect", "127.0.0.1", str(port), "--tls", "-z", "--timeout", "5",
                     "--json")
    assert result.status == 7
    error = result.events()[-1]
    assert error["stage"] == "tls" and error["code"] in ("UNEXPECTED_EOF_WHILE_READING",
                                                         "ECONNRESET")


def test_silent_peer_times_out_after_timeout() -> None:
    # A listening socket nobody reads: the kernel accepts, nothing answers the ClientHello.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run("connect", "127.0.0.1", str(port), "--tls", "-z", "--timeout", "1")
        took = time.monotonic() - started
    assert result.status == 5
    assert "ETIMEDOUT" in one_line_error(result.err) and "tls" in result.err
    assert took < 20


# --- bad input: exit 2 before anything is sent ------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--tls", "--min-days", "-1"],
    ["--tls", "--ca", "/nonexistent"],
    ["--tls", "--cert", "/etc/hostname"],
    ["--tls", "--key", "/etc/hostname"],
    ["--sni", "x.test"],
    ["--tls", "--udp"],
    ["--tls", "--alpn", ","],
])
def test_bad_tls_input_is_exit_2(args: list[str]) -> None:
    result = run("connect", "127.0.0.1", "9", *args, "-z")
    assert result.status == 2, result.err
    assert "Traceback" not in result.err and result.err.count("\n") == 1


def test_unusable_key_is_exit_2(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "bad.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    result = run("connect", "127.0.0.1", "9", "--tls", "-z", "--cert",
                 str(pki.root / "client.crt"), "--key", str(garbage))
    assert result.status == 2
    assert one_line_error(result.err).startswith("netprobe: connect --cert/--key: ")


def test_bad_ca_file_is_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    result = run("connect", "127.0.0.1", "9", "--tls", "-z", "--ca", str(empty), "--json")
    assert result.status == 2
    assert result.events()[-1]["exit"] == 2


def test_connect_without_tls_does_not_import_ssl_or_cryptography() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        imported = imported_by("connect", "127.0.0.1", str(port), "-z", "--json")
    assert "netprobe.connect" in imported
    heavy = {name for name in imported
             if name.split(".")[0] in ("cryptography", "ssl", "_ssl", "netprobe.tls")
             or name.startswith("netprobe.tls")}
    assert not heavy


# --- Happy Eyeballs, --all, --wait -------------------------------------------------------


def test_happy_eyeballs_then_tls_on_the_winner(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        result = run("connect", "localhost", str(port), "--happy-eyeballs", "--tls", "--ca",
                     str(pki.root / "ca.pem"), "-z", "--json")
    assert result.status == 0, result.err
    events = result.events()
    connected = [e for e in events if e["event"] == "connected"]
    assert len(connected) == 1 and tls_event(events)["verified"] is True


def test_all_candidates_each_get_a_handshake(pki: Pki) -> None:
    with socat_echo(pki.path("valid")) as port:
        good = run("connect", "127.0.0.1", str(port), "--all", "--tls", "--ca",
                   str(pki.root / "ca.pem"), "--json")
        bad = run("connect", "127.0.0.1", str(port), "--all", "--tls", "--json")
    assert good.status == 0, good.err
    assert len([e for e in good.events() if e["event"] == "tls"]) == 1
    assert bad.status == 7  # the system store does not trust the test CA


def test_wait_retries_until_the_handshake_succeeds(pki: Pki) -> None:
    port = free_port()
    proc = subprocess.Popen([*NETPROBE, "connect", "127.0.0.1", str(port), "--tls", "--ca",
                             str(pki.root / "ca.pem"), "-z", "--wait", "30", "--interval",
                             "200ms", "--timeout", "2", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    try:
        time.sleep(0.5)  # let it fail a round or two first (refused)
        with socat_echo(pki.path("valid"), port=port):
            out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [line for line in out.decode().splitlines() if '"event":"round"' in line]
    assert '"outcome":"connected"' in lines[-1]


# --- listen --tls ------------------------------------------------------------------------


class Listener:
    """``netprobe listen --tls`` in the background, its JSON events collected."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*NETPROBE, "listen", str(self.port), "--bind", "127.0.0.1", "--tls", "--json",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        assert self.ready.wait(30), "listen did not start"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode()
            self.lines.append(line)
            if '"event":"listening"' in line:
                self.ready.set()

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} in {self.lines}")

    def stop(self) -> tuple[int, str]:
        # Not communicate(): the reader thread owns stdout until its EOF.
        self.proc.terminate()
        self.proc.wait(30)
        self.reader.join(10)
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read().decode()


@pytest.fixture
def tls_listener() -> Iterator[Listener]:
    listener = Listener("--echo", "--alpn", "h2")
    yield listener
    if listener.proc.poll() is None:
        listener.proc.kill()
        listener.proc.wait()


def test_listen_tls_echo_with_an_ephemeral_certificate(tls_listener: Listener) -> None:
    import json

    port = str(tls_listener.port)
    [cert_line] = [line for line in tls_listener.lines if '"tls_certificate"' in line]
    cert = json.loads(cert_line)
    assert cert["ephemeral"] is True and len(cert["sha256"]) == 95
    # A plain TCP client: a trace line, and the server goes on.
    plain = run("connect", "127.0.0.1", port, "--send", "not tls\n", "--timeout", "5")
    assert plain.status == 0
    tls_listener.wait_for('"event":"tls_failed"')
    result = run("connect", "localhost", port, "-4", "--tls", "--insecure", "--alpn",
                 "h2,http/1.1", "--json", "--sni", "lab.test", input="over tls\n")
    assert result.status == 0, result.err
    tls = tls_event(result.events())
    assert tls["chain"][0]["sha256"] == cert["sha256"]  # the fingerprint shown is the one sent
    assert tls["alpn"] == "h2"
    assert "".join(e.get("text", "") for e in result.events() if e["event"] == "data") \
        == "over tls\n"
    tls_listener.wait_for('"event":"closed"')
    status, err = tls_listener.stop()
    assert status == 0, err
    events = [json.loads(line) for line in tls_listener.lines]
    [accepted] = [e for e in events if e["event"] == "accepted"]
    assert accepted["tls"]["sni"] == "lab.test" and accepted["tls"]["alpn"] == "h2"
    assert accepted["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and accepted["tls"]["cipher"]
    [failed] = [e for e in events if e["event"] == "tls_failed"]
    assert failed["client"]["address"] == "127.0.0.1" and failed["code"]
    assert events[-1]["event"] == "stopped"


def test_listen_tls_verifies_with_its_own_certificate(pki: Pki) -> None:
    listener = Listener("--echo", "--cert", str(pki.root / "valid.crt"), "--key",
                        str(pki.root / "valid.key"))
    try:
        result = run("connect", "localhost", str(listener.port), "-4", "--tls", "--ca",
                     str(pki.root / "ca.pem"), input=b"\x00\x01binary\xff" * 1000)
        assert result.status == 0, result.err
    finally:
        status, err = listener.stop()
    assert status == 0, err


def test_listen_tls_serves_socat_and_openssl_clients() -> None:
    listener = Listener("--echo")
    try:
        port = listener.port
        socat = subprocess.run(["socat", "-", f"OPENSSL:127.0.0.1:{port},verify=0"],
                               input=b"from socat\n", capture_output=True, timeout=30)
        assert socat.stdout == b"from socat\n"
        client = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                                 "-tls1_2", "-brief"], input=b"", capture_output=True,
                                timeout=30)
        assert b"Protocol version: TLSv1.2" in client.stderr
    finally:
        status, err = listener.stop()
    assert status == 0, err


def test_listen_tls_bad_input_is_exit_2(tmp_path: Path) -> None:
    for args in (["--cert", "/etc/hostname"], ["--tls", "--cert", "/nonexistent", "--key", "/x"],
                 ["--tls", "--udp"]):
        result = run("listen", "0", "--bind", "127.0.0.1", *args)
        assert result.status == 2, (args, result.err)
        assert "Traceback" not in result.err


def test_listen_tls_human_shows_the_fingerprint() -> None:
    port = free_port()
    proc = subprocess.Popen([*NETPROBE, "listen", str(port), "--bind", "127.0.0.1", "--tls"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    try:
        wait_for_port(port)
        client = run("connect", "127.0.0.1", str(port), "--tls", "-k", "--send", "x")
        assert client.status == 0
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    text = err.decode()
    assert "ephemeral self-signed certificate" in text and "sha256 " in text
    assert "TLSv1.3" in text  # the accepted line carries the version
    assert out == b"x"


def test_empty_sni_sends_none_and_still_verifies_the_chain(pki: Pki) -> None:
    with socat_echo(pki.path("wrong_host")) as port:
        result = run("connect", "localhost", str(port), "-4", "--tls", "--sni", "", "--ca",
                     str(pki.root / "ca.pem"), "-z", "--json")
    assert result.status == 0, result.err
    tls = tls_event(result.events())
    assert tls["sni"] is None and tls["verified"] is True and tls["hostname_match"] is None
