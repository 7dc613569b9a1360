"""Certificate verification as OpenSSL reports it: X509_V_ERR_* names, depth, the name matched.

Python's ``ssl`` gives a failed verification's code (``verify_code``) and
OpenSSL's message, but neither the constant's name (which is what people
search for) nor the depth of the certificate that failed, nor which name of
the certificate matched.  This module fills those in, and predicts what a
verification *would* say when ``--insecure`` switched it off.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

# The X509_V_* result codes of OpenSSL 3 (include/openssl/x509_vfy.h), by
# number: ``SSLCertVerificationError.verify_code`` is one of these.  The
# numbers are OpenSSL's ABI and do not change between releases; codes newer
# than this table are shown as X509_V_ERR_<number>.
_X509_V = {
    0: "OK",
    1: "ERR_UNSPECIFIED",
    2: "ERR_UNABLE_TO_GET_ISSUER_CERT",
    3: "ERR_UNABLE_TO_GET_CRL",
    4: "ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE",
    5: "ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE",
    6: "ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    7: "ERR_CERT_SIGNATURE_FAILURE",
    8: "ERR_CRL_SIGNATURE_FAILURE",
    9: "ERR_CERT_NOT_YET_VALID",
    10: "ERR_CERT_HAS_EXPIRED",
    11: "ERR_CRL_NOT_YET_VALID",
    12: "ERR_CRL_HAS_EXPIRED",
    13: "ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD",
    14: "ERR_ERROR_IN_CERT_NOT_AFTER_FIELD",
    15: "ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD",
    16: "ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD",
    17: "ERR_OUT_OF_MEM",
    18: "ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
    19: "ERR_SELF_SIGNED_CERT_IN_CHAIN",
    20: "ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    21: "ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    22: "ERR_CERT_CHAIN_TOO_LONG",
    23: "ERR_CERT_REVOKED",
    24: "ERR_NO_ISSUER_PUBLIC_KEY",
    25: "ERR_PATH_LENGTH_EXCEEDED",
    26: "ERR_INVALID_PURPOSE",
    27: "ERR_CERT_UNTRUSTED",
    28: "ERR_CERT_REJECTED",
    29: "ERR_SUBJECT_ISSUER_MISMATCH",
    30: "ERR_AKID_SKID_MISMATCH",
    31: "ERR_AKID_ISSUER_SERIAL_MISMATCH",
    32: "ERR_KEYUSAGE_NO_CERTSIGN",
    33: "ERR_UNABLE_TO_GET_CRL_ISSUER",
    34: "ERR_UNHANDLED_CRITICAL_EXTENSION",
    35: "ERR_KEYUSAGE_NO_CRL_SIGN",
    36: "ERR_UNHANDLED_CRITICAL_CRL_EXTENSION",
    37: "ERR_INVALID_NON_CA",
    38: "ERR_PROXY_PATH_LENGTH_EXCEEDED",
    39: "ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE",
    40: "ERR_PROXY_CERTIFICATES_NOT_ALLOWED",
    41: "ERR_INVALID_EXTENSION",
    42: "ERR_INVALID_POLICY_EXTENSION",
    43: "ERR_NO_EXPLICIT_POLICY",
    44: "ERR_DIFFERENT_CRL_SCOPE",
    45: "ERR_UNSUPPORTED_EXTENSION_FEATURE",
    46: "ERR_UNNESTED_RESOURCE",
    47: "ERR_PERMITTED_VIOLATION",
    48: "ERR_EXCLUDED_VIOLATION",
    49: "ERR_SUBTREE_MINMAX",
    50: "ERR_APPLICATION_VERIFICATION",
    51: "ERR_UNSUPPORTED_CONSTRAINT_TYPE",
    52: "ERR_UNSUPPORTED_CONSTRAINT_SYNTAX",
    53: "ERR_UNSUPPORTED_NAME_SYNTAX",
    54: "ERR_CRL_PATH_VALIDATION_ERROR",
    55: "ERR_PATH_LOOP",
    56: "ERR_SUITE_B_INVALID_VERSION",
    57: "ERR_SUITE_B_INVALID_ALGORITHM",
    58: "ERR_SUITE_B_INVALID_CURVE",
    59: "ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM",
    60: "ERR_SUITE_B_LOS_NOT_ALLOWED",
    61: "ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256",
    62: "ERR_HOSTNAME_MISMATCH",
    63: "ERR_EMAIL_MISMATCH",
    64: "ERR_IP_ADDRESS_MISMATCH",
    65: "ERR_DANE_NO_MATCH",
    66: "ERR_EE_KEY_TOO_SMALL",
    67: "ERR_CA_KEY_TOO_SMALL",
    68: "ERR_CA_MD_TOO_WEAK",
    69: "ERR_INVALID_CALL",
    70: "ERR_STORE_LOOKUP",
    71: "ERR_NO_VALID_SCTS",
    72: "ERR_PROXY_SUBJECT_NAME_VIOLATION",
    76: "ERR_UNSUPPORTED_SIGNATURE_ALGORITHM",
    77: "ERR_SIGNATURE_ALGORITHM_MISMATCH",
    78: "ERR_SIGNATURE_ALGORITHM_INCONSISTENCY",
    79: "ERR_INVALID_CA",
    80: "ERR_PATHLEN_INVALID_FOR_NON_CA",
    81: "ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN",
    82: "ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA",
    83: "ERR_ISSUER_NAME_EMPTY",
    84: "ERR_SUBJECT_NAME_EMPTY",
    85: "ERR_MISSING_AUTHORITY_KEY_IDENTIFIER",
    86: "ERR_MISSING_SUBJECT_KEY_IDENTIFIER",
    87: "ERR_EMPTY_SUBJECT_ALT_NAME",
    88: "ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL",
    89: "ERR_CA_BCONS_NOT_CRITICAL",
    90: "ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL",
    91: "ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL",
    92: "ERR_CA_CERT_MISSING_KEY_USAGE",
    93: "ERR_EXTENSIONS_REQUIRE_VERSION_3",
    94: "ERR_EC_KEY_EXPLICIT_PARAMS",}

HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64


def x509_name(code: int) -> str:
    """``X509_V_ERR_CERT_HAS_EXPIRED`` for 10."""
    return "X509_V_" + _X509_V.get(code, f"ERR_{code}")


# --- the depth of a failure ---------------------------------------------------
#
# OpenSSL knows the depth (X509_STORE_CTX_get_error_depth) but Python does not
# pass it on.  It is recovered from what Python does give: the chain OpenSSL
# built before it stopped (``get_verified_chain()``, filled in even on
# failure: depth 0 is the leaf, the last is where chain building ended) and
# the order in which OpenSSL 3's X509_verify_cert checks things:
#
# * chain building fails (no trusted issuer, self-signed): at the top of the
#   built chain;
# * the host name or IP address (check_id): at the leaf;
# * signatures and validity dates (internal_verify): from the top down, so
#   the failing certificate is the highest one with that defect.
#
# Anything else is reported at the depth where the first certificate with a
# matching defect sits, or null when netprobe cannot tell: a depth is never
# made up.

_TOP_OF_CHAIN = {2, 18, 19, 20, 21, 22}
_AT_LEAF = {HOSTNAME_MISMATCH, 63, IP_ADDRESS_MISMATCH, 66}


def failure_depth(code: int, built: Sequence[Any]) -> int | None:
    """The depth OpenSSL stopped at for ``code``, from the chain it built (cryptography certs)."""
    if code in _AT_LEAF:
        return 0
    if not built:
        return None
    if code in _TOP_OF_CHAIN:
        return len(built) - 1
    if code in (9, 10):  # not yet valid, expired: the highest such certificate
        from datetime import datetime

        now = datetime.now(UTC)
        for depth in range(len(built) - 1, -1, -1):
            cert = built[depth]
            if (code == 10 and cert.not_valid_after_utc < now) or (
                    code == 9 and cert.not_valid_before_utc > now):
                return depth
        return None
    return None


# --- the name that matched ---------------------------------------------------------
#
# OpenSSL verified the host name (Python sets X509_VERIFY_PARAM_set1_host or
# _set1_ip) but does not say which subjectAltName entry matched; a user
# looking at a wildcard certificate wants to know.  The match is redone here
# with RFC 6125's rules as OpenSSL applies them by default: DNS names compare
# case-insensitively, a wildcard only as the whole leftmost label and never
# matching an IP address or a public suffix-like single label; IP addresses
# compare as addresses.  The common name is not consulted (Python sets
# X509_CHECK_FLAG_NEVER_CHECK_SUBJECT).


def _dns_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    suffix = pattern[1:]  # ".example.com"
    if suffix.count(".") < 2:  # "*.com" is not accepted
        return False
    head, _, tail = name.partition(".")
    return bool(head) and "." + tail == suffix


def matched_name(san: Sequence[str], hostname: str) -> str | None:
    """The subjectAltName entry (``DNS:...``/``IP:...``) that ``hostname`` matches, or None."""
    try:
        address = ipaddress.ip_address(hostname.strip("[]").split("%")[0])
    except ValueError:
        address = None
    for entry in san:
        kind, _, value = entry.partition(":")
        if address is not None and kind == "IP":
            try:
                if ipaddress.ip_address(value) == address:
                    return entry
            except ValueError:
                continue
        elif address is None and kind == "DNS" and _dns_matches(value, hostname):
            return entry
    return None


# --- what verification would say (--insecure) ---------------------------------------
#
# With --insecure the handshake runs with CERT_NONE, so OpenSSL never fails it
# and Python exposes no verification result (SSL_get_verify_result is not
# wrapped).  The SPEC still wants "what would fail", and the answer must be
# OpenSSL's own, not an imitation of its rules.  Rejected: a second
# connection with verification on (the server sees two clients, and a
# flaky server may answer differently); re-implementing X509_verify_cert
# with cryptography (its verifier reports other errors, in another order).
#
# Chosen: replay the chain to OpenSSL in memory.  A TLS 1.2 client verifies
# the server's chain as soon as it has read the Certificate message, before
# anything needs the server's private key.  So a client SSLObject built with
# the same trust settings and host name is fed, through a MemoryBIO, a
# minimal ServerHello (a cipher suite it offered that suits the leaf's key,
# renegotiation_info so OpenSSL accepts the peer) and a Certificate message
# holding exactly the chain the server sent.  Verification either fails --
# SSLCertVerificationError with OpenSSL's code and message -- or passes and
# the client waits for ServerKeyExchange (SSLWantReadError).  No byte leaves
# the process.  tests/test_tls_core.py checks that the prediction equals the
# real handshake's result for every failure the tests produce.

_TLS12 = 0x0303
_HANDSHAKE = 22
_SERVER_HELLO = 2
_CERTIFICATE = 11
_RENEGOTIATION_INFO = 0xFF01
#: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
_SUITE_RSA = 0xC02F
_SUITE_ECDSA = 0xC02B


def _offered_suites(client_hello: bytes) -> list[int]:
    """The cipher suites of a ClientHello record (record and handshake headers included)."""
    body = client_hello[5 + 4:]
    at = 2 + 32  # client_version, random
    at += 1 + body[at]  # session id
    (length,) = struct.unpack_from(">H", body, at)
    at += 2
    return [struct.unpack_from(">H", body, at + i)[0] for i in range(0, length, 2)]


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _records(messages: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(messages), 16384):
        fragment = messages[start:start + 16384]
        out += struct.pack(">BHH", _HANDSHAKE, _TLS12, len(fragment)) + fragment
    return bytes(out)


@contextlib.contextmanager
def _verifying_tls12(context: ssl.SSLContext) -> Iterator[ssl.SSLContext]:
    """``context`` switched to verify (and TLS 1.2 only) for the replay, then restored.

    The handshake's own context already holds the trust store (--ca or the
    system's, whose loading costs tens of milliseconds), so the replay
    borrows it instead of loading the store again.  The core is single-
    threaded while it does, and the settings only apply to SSL objects
    created meanwhile.
    """
    saved = (context.verify_mode, context.check_hostname, context.minimum_version,
             context.maximum_version)
    try:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        yield context
    finally:
        context.check_hostname = saved[1]
        context.verify_mode = saved[0]
        context.minimum_version = saved[2]
        context.maximum_version = saved[3]


def predict_verification(
    context: ssl.SSLContext,
    server_hostname: str | None,
    chain_der: Sequence[bytes],
    rsa_leaf: bool,
) -> tuple[int, str, list[bytes]] | None:
    """(verify code, OpenSSL's message, the chain OpenSSL built) for ``chain_der``.

    ``context`` is a client context with the trust store to verify against
    (its verification settings are switched on for the replay and restored).
    Code 0 means the chain verifies.  None when the replay could not reach
    verification (e.g. the context cannot do TLS 1.2).
    """
    if not chain_der:
        return None
    try:
        with _verifying_tls12(context):
            return _replay(context, server_hostname, chain_der, rsa_leaf)
    except (ValueError, ssl.SSLError):
        return None


def _replay(context: ssl.SSLContext, server_hostname: str | None, chain_der: Sequence[bytes],
            rsa_leaf: bool) -> tuple[int, str, list[bytes]] | None:
    if server_hostname is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    except ssl.SSLError:
        return None
    try:
        suites = _offered_suites(outgoing.read())
    except (struct.error, IndexError):
        return None
    wanted = _SUITE_RSA if rsa_leaf else _SUITE_ECDSA
    suite = wanted if wanted in suites else next((s for s in suites if s >> 8 == 0xC0), None)
    if suite is None:
        return None
    extensions = struct.pack(">HHB", _RENEGOTIATION_INFO, 1, 0)
    hello = (struct.pack(">H", _TLS12) + os.urandom(32) + b"\x00"
             + struct.pack(">HBH", suite, 0, len(extensions)) + extensions)
    certificates = b"".join(_u24(len(der)) + der for der in chain_der)
    certificate = _u24(len(certificates)) + certificates
    incoming.write(_records(bytes([_SERVER_HELLO]) + _u24(len(hello)) + hello
                            + bytes([_CERTIFICATE]) + _u24(len(certificate)) + certificate))
    built = client._sslobj.get_verified_chain  # type: ignore[attr-defined]
    try:
        client.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message, _der_list(built())
    except ssl.SSLWantReadError:
        return 0, "ok", _der_list(built())
    except ssl.SSLError:
        # Verification passed and something after it (key type) objected.
        return None
    return None  # pragma: no cover - the fake server never finishes a handshake


def _der_list(certs: Sequence[Any] | None) -> list[bytes]:
    """DER bytes of ``_ssl.Certificate`` objects (3.10-3.12) or of DER already (3.13+)."""
    out: list[bytes] = []
    for cert in certs or ():
        if isinstance(cert, bytes):
            out.append(cert)
        else:
            out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return out
