"""The TLS core directly: names, the name matched, the --insecure replay, the TLS relay."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from netprobe.errors import TimedOut, TlsFailed
from netprobe.tls.channel import client_handshake
from netprobe.tls.context import TlsOptions, client_context, names, verifying_context
from netprobe.tls.errors import x509_name
from netprobe.tls.relay import relay_tls
from netprobe.tls.verify import matched_name, predict_verification
from tests.helpers import Recorder
from tests.tls_pki import Pki, socat_echo


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-core"))


def test_x509_names() -> None:
    assert x509_name(10) == "X509_V_ERR_CERT_HAS_EXPIRED"
    assert x509_name(0) == "X509_V_OK"
    assert x509_name(62) == "X509_V_ERR_HOSTNAME_MISMATCH"
    assert x509_name(20) == "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
    assert x509_name(9999) == "X509_V_ERR_9999"


@pytest.mark.parametrize("san, host, expected", [
    (["DNS:example.com"], "EXAMPLE.com", "DNS:example.com"),
    (["DNS:*.example.com"], "www.example.com", "DNS:*.example.com"),
    (["DNS:*.example.com"], "a.b.example.com", None),
    (["DNS:*.example.com"], "example.com", None),
    (["DNS:*.com"], "example.com", None),
    (["DNS:a.test", "IP:127.0.0.1"], "127.0.0.1", "IP:127.0.0.1"),
    (["IP:::1"], "::1", "IP:::1"),
    (["DNS:127.0.0.1"], "127.0.0.1", None),
])
def test_matched_name(san: list[str], host: str, expected: str | None) -> None:
    assert matched_name(san, host) == expected


def test_names_default_to_host_unless_numeric() -> None:
    assert names("example.test", TlsOptions()) == ("example.test", "example.test")
    assert names("127.0.0.1", TlsOptions()) == ("127.0.0.1", None)
    assert names("127.0.0.1", TlsOptions(sni="x.test")) == ("x.test", "x.test")
    assert names("x.test", TlsOptions(sni="")) == (None, None)


def _chain_der(pem_path: str) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = x509.load_pem_x509_certificates(Path(pem_path).read_bytes())
    return [cert.public_bytes(Encoding.DER) for cert in certs]


@pytest.mark.parametrize("name, host, code", [
    ("valid", "localhost", 0), ("intermediate", "localhost", 0),
    ("expired", "localhost", 10), ("not_yet_valid", "localhost", 9),
    ("self_signed", "localhost", 18), ("wrong_host", "localhost", 62),
    ("unknown_ca", "localhost", 20), ("missing_intermediate", "localhost", 20),
    ("valid", "127.0.0.1", 0), ("valid", "127.0.0.2", 64),
])
def test_replay_gives_openssls_verdict_without_a_connection(pki: Pki, name: str, host: str,
                                                             code: int) -> None:
    options = TlsOptions(ca=str(pki.root / "ca.pem"))
    chain = _chain_der(pki.path(name))
    result = predict_verification(verifying_context(options), host, chain, False)
    assert result is not None
    assert result[0] == code, result[1]


def test_relay_half_closes_with_close_notify_and_reads_to_the_end(pki: Pki) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    with socat_echo(pki.path("valid")) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        options = TlsOptions(ca=str(pki.root / "ca.pem"))
        trace = Recorder()
        channel = client_handshake(sock, "localhost", options, client_context(options),
                                   timeout=10, where="test", trace=trace)
        received: list[bytes] = []
        transfer = relay_tls(channel, stdin=None, send=payload, output=received.append,
                             trace=trace)
        sock.close()
    assert b"".join(received) == payload
    assert transfer.bytes_out == transfer.bytes_in == len(payload)
    assert transfer.reason.startswith("peer closed")
    [tls] = trace.named("tls")
    assert tls["verified"] is True


def _one_shot_server(handler: object) -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            handler(conn)  # type: ignore[operator]

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_handshake_timeout_is_timedout_with_what_was_seen() -> None:
    done = threading.Event()
    server, port = _one_shot_server(lambda conn: done.wait(10))
    with server:
        sock = socket.create_connection(("127.0.0.1", port))
        options = TlsOptions(insecure=True)
        with pytest.raises(TimedOut) as caught:
            client_handshake(sock, "127.0.0.1", options, client_context(options),
                             timeout=0.3, where="t")
        done.set()
    assert caught.value.stage == "tls" and caught.value.code == "ETIMEDOUT"
    assert caught.value.extra["tls"]["chain"] == []


def test_a_non_tls_answer_is_tlsfailed() -> None:
    server, port = _one_shot_server(lambda conn: conn.sendall(b"HTTP/1.0 400 Bad\r\n\r\n"))
    with server:
        sock = socket.create_connection(("127.0.0.1", port))
        options = TlsOptions(insecure=True)
        with pytest.raises(TlsFailed) as caught:
            client_handshake(sock, "127.0.0.1", options, client_context(options),
                             timeout=5, where="t")
    assert caught.value.code is not None and "not TLS" in caught.value.message


def test_days_left_colours_red_under_7_yellow_under_30(pki: Pki) -> None:
    from rich.console import Console

    from netprobe.render.tls import chain_text, days_style
    from netprobe.tls.certs import describe_chain

    assert (days_style(-1), days_style(6), days_style(7), days_style(29), days_style(30)) == (
        "bold red", "bold red", "yellow", "yellow", "green")
    expiring = describe_chain(_chain_der(pki.path("expiring")))
    assert expiring[0]["days_left"] == 5
    console = Console(force_terminal=True, color_system="standard", width=200)
    with console.capture() as captured:
        console.print(chain_text(expiring), soft_wrap=True)
    text = captured.get()
    assert "\x1b[1;31m5 days left" in text  # bold red
    assert expiring[0]["sha256"] in text  # never cut short
    # Nor on a narrow terminal, and the labels stay (a table squeezed them out).
    narrow = Console(force_terminal=False, width=60)
    with narrow.capture() as captured:
        narrow.print(chain_text(expiring), soft_wrap=True)
    lines = captured.get().splitlines()
    assert any(line.split()[-1] == expiring[0]["sha256"] and "sha256" in line for line in lines)
    assert [line[3:11].strip() for line in lines[1:3]] == ["subject", "issuer"]


def test_a_replay_in_one_thread_does_not_change_another_threads_handshake(pki: Pki) -> None:
    """check's workers share one --insecure context; the replay switches it to verify
    (TLS 1.2 only) for a moment.  A handshake started meanwhile must still be --insecure's:
    it waits for the switch to end instead of taking the replay's settings."""
    options = TlsOptions(insecure=True)
    context = client_context(options)
    outcome: dict[str, object] = {}
    with socat_echo(pki.path("self_signed")) as port:
        sock = socket.create_connection(("127.0.0.1", port))

        def handshake() -> None:
            trace = Recorder()
            try:
                channel = client_handshake(sock, "localhost", options, context, timeout=10,
                                           where="test", trace=trace)
            except TlsFailed as exc:
                outcome["error"] = exc.message
                return
            outcome["version"] = channel.tls.version()

        from netprobe.tls.verify import verifying_tls12

        with verifying_tls12(context):
            worker = threading.Thread(target=handshake)
            worker.start()
            # Long enough for an unguarded handshake on loopback to finish with the
            # replay's settings (and fail verification); a guarded one is waiting.
            worker.join(1.0)
        worker.join(10)
        sock.close()
    assert outcome == {"version": "TLSv1.3"}
