"""A failed certificate does not hide what was negotiated: version, cipher and ALPN are reported.

The oracle is the same server with ``--insecure``: that handshake runs to
its end, and its version, cipher and ALPN are OpenSSL's own answers.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import have, run
from tests.tls_pki import Pki, s_server, serving

pytestmark = pytest.mark.skipif(not (have("socat") and have("openssl")),
                                reason="needs socat and openssl (installed by .ci/run)")

NEGOTIATED = ("version", "cipher", "cipher_bits", "alpn")

FAILURES = [
    ("expired", "X509_V_ERR_CERT_HAS_EXPIRED"),
    ("wrong_host", "X509_V_ERR_HOSTNAME_MISMATCH"),
    ("self_signed", "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT"),
    ("unknown_ca", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
]
VERSIONS = [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-negotiated"))


def tls_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    [event] = [e for e in events if e["event"] == "tls"]
    return event


@pytest.mark.parametrize("flag, version", VERSIONS)
@pytest.mark.parametrize("name, code", FAILURES)
def test_a_failed_verification_reports_version_cipher_and_alpn(
        pki: Pki, name: str, code: str, flag: str, version: str) -> None:
    ca = str(pki.root / "ca.pem")
    args = ["-4", "--tls", "--ca", ca, "--alpn", "h2,http/1.1", "-z"]
    with s_server(pki.path(name), flag, "-alpn", "h2") as port:
        failed = run("connect", "localhost", str(port), *args, "--json")
        human = run("connect", "localhost", str(port), *args)
        insecure = run("connect", "localhost", str(port), *args, "--json", "--insecure")
    assert insecure.status == 0, insecure.err
    oracle = tls_event(insecure.events())
    assert oracle["version"] == version and oracle["alpn"] == "h2" and oracle["cipher"]
    # The verdict is the handshake's own, as before: exit 7, OpenSSL's code.
    assert failed.status == 7
    events = failed.events()
    error = events[-1]
    assert error["event"] == "error" and error["exit"] == 7 and error["code"] == code
    seen = tls_event(events)
    assert seen["verification"] == "handshake" and seen["verified"] is False
    assert seen["verify_error"]["code"] == code and seen["verify_error"]["depth"] == 0
    # ... and what had been agreed before it is there, in the event and the error.
    assert {f: seen[f] for f in NEGOTIATED} == {f: oracle[f] for f in NEGOTIATED}
    assert {f: error["tls"][f] for f in NEGOTIATED} == {f: oracle[f] for f in NEGOTIATED}
    # Human: the handshake line above the chain and the verdict, then the one error line.
    assert human.status == 7
    assert f"TLS {version}  {oracle['cipher']} ({oracle['cipher_bits']} bits)  ALPN h2" \
        in human.err
    lines = human.err.splitlines()
    handshake = next(i for i, line in enumerate(lines) if line.startswith(f"TLS {version}"))
    verdict = next(i for i, line in enumerate(lines)
                   if line.startswith("certificate verification failed: " + code))
    assert handshake < verdict
    assert [line for line in lines if line.startswith("netprobe: ")] == [
        f"netprobe: tls localhost {port}: {code}: {error['message']}"]


def test_a_peer_refused_before_any_certificate_leaves_them_null() -> None:
    from tests.helpers import free_port

    port = free_port()
    argv = ["socat", f"TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            "SYSTEM:echo SSH-2.0-OpenSSH_9.6; cat"]
    with serving(argv, port):
        result = run("connect", "127.0.0.1", str(port), "--tls", "-z", "--timeout", "5",
                     "--json")
    assert result.status == 7
    seen = tls_event(result.events())
    assert {f: seen[f] for f in NEGOTIATED} == dict.fromkeys(NEGOTIATED)
    assert seen["chain"] == []


def test_on_a_terminal_only_a_finished_handshake_is_green(pki: Pki) -> None:
    from tests.helpers import on_terminal

    ca = str(pki.root / "ca.pem")
    env = {"TERM": "xterm-256color", "COLUMNS": "200"}
    with s_server(pki.path("expired"), "-tls1_3") as bad, \
            s_server(pki.path("valid"), "-tls1_3") as good:
        failed, failed_screen = on_terminal("connect", "localhost", str(bad), "-4", "--tls",
                                            "--ca", ca, "-z", env=env)
        passed, passed_screen = on_terminal("connect", "localhost", str(good), "-4", "--tls",
                                            "--ca", ca, "-z", env=env)
    assert (failed, passed) == (7, 0)
    green_tls = "\x1b[1;32mTLS "
    assert green_tls in passed_screen
    assert green_tls not in failed_screen and "TLSv1.3" in failed_screen
