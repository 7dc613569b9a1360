"""netprobe.tls.wire on its own: the ServerHello read off real and made-up server flights."""

from __future__ import annotations

import contextlib
import ssl
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from netprobe.tls.wire import (
    ServerHello,
    handshake_messages,
    offered_suites,
    parse_server_hello,
    server_flight,
    server_hello,
)
from tests.tls_pki import Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki-wire"))


def _flight(pem: Path | str, setup: Callable[[ssl.SSLContext], None]
            ) -> tuple[bytes, ssl.SSLObject]:
    """Everything a Python ssl server sends in a whole handshake, and the client after it."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(pem))
    setup(server)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    ours = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    theirs = server.wrap_bio(server_in, server_out, server_side=True)
    sent = bytearray()
    for _ in range(10):
        for side in (ours, theirs):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(client_out.read())
        data = server_out.read()
        sent += data
        client_in.write(data)
    assert ours.version() is not None
    return bytes(sent), ours


def _tls12(context: ssl.SSLContext) -> None:
    context.maximum_version = ssl.TLSVersion.TLSv1_2


def _retry(context: ssl.SSLContext) -> None:
    # The client sends a key share for X25519 only: a server that wants
    # P-384 asks again with a HelloRetryRequest.
    context.set_ecdh_curve("secp384r1")


@pytest.mark.parametrize("setup, version, messages", [
    (lambda context: None, "TLSv1.3", 1),  # the rest of the flight is encrypted
    (_tls12, "TLSv1.2", 4),  # ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
    (_retry, "TLSv1.3", 2),  # HelloRetryRequest, then the ServerHello
])
def test_the_server_hello_says_what_openssl_says(pki: Pki, setup: Callable[[ssl.SSLContext],
                                                                            None],
                                                 version: str, messages: int) -> None:
    sent, client = _flight(pki.path("valid"), setup)
    hello = server_hello(sent)
    assert hello is not None
    assert hello.version_name == client.version() == version
    cipher = client.cipher()
    assert cipher is not None
    [entry] = [c for c in client.context.get_ciphers() if c["name"] == cipher[0]]
    assert entry["id"] & 0xFFFF == hello.suite
    kinds = [kind for kind, _ in handshake_messages(sent)][:messages]
    assert kinds[0] == 2 and len(kinds) == messages


def _record(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", kind, 0x0303, len(payload)) + payload


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _hello_body(version: int | None, suite: int = 0x1302, random: bytes = b"\x07" * 32) -> bytes:
    extensions = b"" if version is None else struct.pack(">HHH", 43, 2, version)
    return (struct.pack(">H", 0x0303) + random + b"\x20" + b"\x01" * 32
            + struct.pack(">HB", suite, 0) + struct.pack(">H", len(extensions)) + extensions)


def test_a_hello_split_across_records_and_after_a_change_cipher_spec() -> None:
    message = _message(2, _hello_body(0x0304))
    sent = (_record(22, message[:10]) + _record(20, b"\x01") + _record(22, message[10:])
            + _record(23, b"encrypted"))
    assert server_hello(sent) == ServerHello(0x0304, 0x1302)


def test_a_tls12_hello_has_no_supported_versions() -> None:
    body = _hello_body(None, suite=0xC02C)[:-2]  # no extensions block at all
    assert parse_server_hello(body) == ServerHello(0x0303, 0xC02C)
    assert ServerHello(0x0303, 0xC02C).version_name == "TLSv1.2"
    assert ServerHello(0x7F1C, 0).version_name is None


def test_no_hello_in_an_alert_a_cut_message_or_a_retry_alone() -> None:
    hello = _message(2, _hello_body(0x0304))
    assert server_hello(_record(21, b"\x02\x28")) is None  # handshake_failure alert
    assert server_hello(_record(22, hello)[:-3]) is None  # the record cut short
    assert server_hello(_record(22, hello[:-3])) is None  # the message cut short
    retry = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
    assert server_hello(_record(22, _message(2, _hello_body(0x0304, random=retry)))) is None
    assert parse_server_hello(b"\x03") is None
    assert server_hello(b"SSH-2.0-OpenSSH_9.6\r\n") is None


def test_the_replays_flight_reads_back() -> None:
    flight = server_flight(0xC02B, [b"\x30\x03\x02\x01\x01"])
    assert server_hello(flight) == ServerHello(0x0303, 0xC02B)
    kinds = [kind for kind, _ in handshake_messages(flight)]
    assert kinds == [2, 11]


def test_offered_suites_of_a_real_client_hello() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    suites = offered_suites(outgoing.read())
    assert {c["id"] & 0xFFFF for c in context.get_ciphers()} <= set(suites)
