"""TLS on the wire, the little netprobe makes itself: records and handshake messages.

The ``--insecure`` replay (netprobe.tls.verify) feeds OpenSSL a fake server
flight: a TLS 1.2 ServerHello and a Certificate message (``server_flight``),
after reading the cipher suites its ClientHello offered (``offered_suites``).
RFC 5246: a record is a type, a version and a 16-bit length; a handshake
message a type and a 24-bit length.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

RECORD_HEADER = 5
_HANDSHAKE = 22
_SERVER_HELLO = 2
_CERTIFICATE = 11
_RENEGOTIATION_INFO = 0xFF01
TLS12 = 0x0303
_MAX_FRAGMENT = 16384


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
