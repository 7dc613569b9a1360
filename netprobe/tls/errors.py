"""TLS failures by name: the X509_V_ERR_* of a verification, OpenSSL's reason for the rest.

Every TLS error netprobe reports is named here, in the words people
search for: a failed verification by its OpenSSL constant
(``X509_V_ERR_CERT_HAS_EXPIRED``; Python gives only the number), any other
handshake or session failure by OpenSSL's reason (``WRONG_VERSION_NUMBER``)
with a hint where OpenSSL's own words do not say what happened, and a
socket error during the handshake by its errno.  ``connect --tls``
(``channel``, ``relay``) and ``listen --tls`` (``serving``) both name their
failures through this module, so the same failure reads the same.
"""

from __future__ import annotations

import errno as errno_module
import re
import ssl

from netprobe.errors import errno_name

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
    94: "ERR_EC_KEY_EXPLICIT_PARAMS",
}

HOSTNAME_MISMATCH = 62
IP_ADDRESS_MISMATCH = 64


def x509_name(code: int) -> str:
    """``X509_V_ERR_CERT_HAS_EXPIRED`` for 10."""
    return "X509_V_" + _X509_V.get(code, f"ERR_{code}")


_SSL_MESSAGE = re.compile(r"^\[[^\]]*\] (.*?)(?: \(_ssl\.c:\d+\))?$")

# OpenSSL reasons whose own words do not say what happened.
_HINTS = {
    "WRONG_VERSION_NUMBER": "what came back is not TLS (a plain TCP peer?)",
    "RECORD_LAYER_FAILURE": "what came back is not TLS (a plain TCP peer?)",
    "PACKET_LENGTH_TOO_LONG": "what came back is not TLS (a plain TCP peer?)",
    "UNEXPECTED_EOF_WHILE_READING": "the peer closed the connection during the handshake",
    "EOF": "the peer closed the connection during the handshake",
}


def describe_ssl_error(exc: ssl.SSLError) -> tuple[str, str]:
    """(code, message) of a handshake failure that is not a certificate verification."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        return "UNEXPECTED_EOF_WHILE_READING", _HINTS["EOF"]
    text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
    match = _SSL_MESSAGE.match(text)
    message = match.group(1) if match else text
    if reason in _HINTS:
        message = f"{message}: {_HINTS[reason]}"
    return str(reason or type(exc).__name__), message


def describe_os_error(exc: OSError) -> tuple[str, str]:
    """(errno name, message) of a socket error during the handshake (the peer went away)."""
    number = exc.errno if isinstance(exc.errno, int) else errno_module.EIO
    return (errno_name(number) or "EIO",
            f"{exc.strerror or exc} (the peer closed during the handshake)")
