"""TLS on the wire, the little netprobe reads and writes itself: records and handshake messages.

Python's ssl does the TLS; netprobe handles raw TLS bytes in two places
only, where ssl does not say or do what the SPEC asks:

* Reading: which version and cipher suite the server chose, from its
  ServerHello as it arrived (``server_hello``).  A handshake stopped by a
  failed verification never reaches its end, and Python's SSLObject then
  answers ``version()`` with None (it asks OpenSSL only once the handshake
  is over) and, under TLS 1.2, ``cipher()`` too (OpenSSL records the suite
  in the session later in the handshake) -- although OpenSSL accepted that
  ServerHello and judged the certificate that followed it.
* Writing: the fake server flight of the ``--insecure`` replay
  (``server_flight``, see netprobe.tls.verify).

Both follow RFC 8446 (TLS 1.3) and RFC 5246 (TLS 1.2): a record is a type,
a version and a 16-bit length; a handshake message a type and a 24-bit
length.  A ServerHello is legacy_version, random, session id, cipher suite,
compression method, extensions; TLS 1.3 puts the real version in the
supported_versions extension and marks a HelloRetryRequest by a fixed random.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from typing import NamedTuple

RECORD_HEADER = 5
_CHANGE_CIPHER_SPEC = 20
_HANDSHAKE = 22
_SERVER_HELLO = 2
_CERTIFICATE = 11
_RENEGOTIATION_INFO = 0xFF01
_SUPPORTED_VERSIONS = 43
TLS12 = 0x0303
_MAX_FRAGMENT = 16384
#: The random of a HelloRetryRequest (RFC 8446, 4.1.3): SHA-256("HelloRetryRequest").
_RETRY_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

#: Version numbers as OpenSSL (SSL_get_version, ``SSLObject.version()``) names them.
VERSION_NAMES = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2", 0x0302: "TLSv1.1", 0x0301: "TLSv1",
                 0x0300: "SSLv3"}


class ServerHello(NamedTuple):
    """What the server chose: the protocol version and the cipher suite (IANA numbers)."""

    version: int
    suite: int

    @property
    def version_name(self) -> str | None:
        return VERSION_NAMES.get(self.version)


def handshake_messages(received: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of the plaintext handshake messages at the start of ``received``.

    ``received`` is what the server sent, records and all.  Messages may span
    records; ChangeCipherSpec records (TLS 1.3's middlebox compatibility)
    are skipped; it stops at anything else (an alert, encrypted records) and
    at a message cut short.
    """
    stream = bytearray()
    at = 0
    while at + RECORD_HEADER <= len(received):
        kind, _, length = struct.unpack_from(">BHH", received, at)
        fragment = received[at + RECORD_HEADER:at + RECORD_HEADER + length]
        if len(fragment) < length or kind not in (_HANDSHAKE, _CHANGE_CIPHER_SPEC):
            break
        if kind == _HANDSHAKE:
            stream += fragment
        at += RECORD_HEADER + length
    at = 0
    while at + 4 <= len(stream):
        kind = stream[at]
        length = int.from_bytes(stream[at + 1:at + 4], "big")
        if at + 4 + length > len(stream):
            return
        yield kind, bytes(stream[at + 4:at + 4 + length])
        at += 4 + length


def parse_server_hello(body: bytes) -> ServerHello | None:
    """The version and suite of a ServerHello body; None for a HelloRetryRequest or garbage."""
    try:
        legacy_version = struct.unpack_from(">H", body, 0)[0]
        if body[2:34] == _RETRY_RANDOM:
            return None
        at = 34 + 1 + body[34]  # random, then the session id
        suite = struct.unpack_from(">H", body, at)[0]
        at += 2 + 1  # the suite, then the compression method
        version = legacy_version
        if at + 2 <= len(body):
            end = at + 2 + struct.unpack_from(">H", body, at)[0]
            at += 2
            while at + 4 <= end:
                kind, length = struct.unpack_from(">HH", body, at)
                if kind == _SUPPORTED_VERSIONS and length == 2:
                    version = struct.unpack_from(">H", body, at + 4)[0]
                at += 4 + length
    except (struct.error, IndexError):
        return None
    return ServerHello(version, suite)


def server_hello(received: bytes) -> ServerHello | None:
    """The ServerHello the handshake went on with (after any HelloRetryRequest), or None."""
    for kind, body in handshake_messages(received):
        if kind == _SERVER_HELLO:
            hello = parse_server_hello(body)
            if hello is not None:
                return hello
    return None


# --- the replay's fake server -------------------------------------------------------------


def offered_suites(client_hello: bytes) -> list[int]:
    """The cipher suites of a ClientHello record (record and handshake headers included)."""
    body = client_hello[RECORD_HEADER + 4:]
    at = 2 + 32  # client_version, random
    at += 1 + body[at]  # session id
    (length,) = struct.unpack_from(">H", body, at)
    at += 2
    return [struct.unpack_from(">H", body, at + i)[0] for i in range(0, length, 2)]


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _records(messages: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(messages), _MAX_FRAGMENT):
        fragment = messages[start:start + _MAX_FRAGMENT]
        out += struct.pack(">BHH", _HANDSHAKE, TLS12, len(fragment)) + fragment
    return bytes(out)


def server_flight(suite: int, chain_der: Sequence[bytes]) -> bytes:
    """A TLS 1.2 ServerHello choosing ``suite`` and a Certificate message holding ``chain_der``.

    The hello carries renegotiation_info (empty), without which OpenSSL
    refuses the peer before it gets to the certificate.
    """
    extensions = struct.pack(">HHB", _RENEGOTIATION_INFO, 1, 0)
    hello = (struct.pack(">H", TLS12) + os.urandom(32) + b"\x00"
             + struct.pack(">HBH", suite, 0, len(extensions)) + extensions)
    certificates = b"".join(_u24(len(der)) + der for der in chain_der)
    certificate = _u24(len(certificates)) + certificates
    return _records(bytes([_SERVER_HELLO]) + _u24(len(hello)) + hello
                    + bytes([_CERTIFICATE]) + _u24(len(certificate)) + certificate)
