"""Certificate verification as OpenSSL reports it: the chains, the depth, the name matched.

Python's ``ssl`` gives a failed verification's code (``verify_code``) and
OpenSSL's message (named in netprobe.tls.errors), but neither the depth of
the certificate that failed, nor which name of the certificate matched,
nor (before Python 3.13) the chains.  This module fills those in, and
predicts what a verification *would* say when ``--insecure`` switched it
off.

Design decision: the chain the server sent, on every Python >= 3.11.
Python 3.13 has SSLObject.get_unverified_chain().  3.10-3.12 already have
the same function on the C object behind it (``_sslobj``, CPython's
bpo-18233 work, made public in 3.13), returning ``_ssl.Certificate``
objects: it is used when the public one is missing.  Rejected: a second
connection (the server sees two clients and may answer differently), and
verifying ourselves after a CERT_NONE handshake (the verdict must be
OpenSSL's).  If neither exists (another implementation), the leaf alone
is shown (``getpeercert(binary_form=True)``) and ``chain_complete`` says so.
"""

from __future__ import annotations

import contextlib
import ssl
import struct
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

from netprobe.tls.context import SETTINGS_LOCK, load_deferred_trust
from netprobe.tls.errors import HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH


def der_list(certs: Sequence[Any] | None) -> list[bytes]:
    """DER bytes of ``_ssl.Certificate`` objects (3.10-3.12) or of DER already (3.13+)."""
    out: list[bytes] = []
    for cert in certs or ():
        if isinstance(cert, bytes):
            out.append(cert)
        else:
            out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return out


def peer_chain(tls: ssl.SSLObject, which: str) -> tuple[list[bytes], bool]:
    """(DER certificates, complete?) of ``get_unverified_chain``/``get_verified_chain``."""
    method: Any = getattr(tls, which, None)  # Python >= 3.13
    if method is None:
        method = getattr(getattr(tls, "_sslobj", None), which, None)  # 3.10-3.12
    if method is not None:
        try:
            return der_list(method()), True
        except (ssl.SSLError, ValueError):
            pass
    if which == "get_verified_chain":
        return [], False
    try:
        leaf = tls.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        leaf = None
    return ([leaf] if leaf else []), False


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
    import ipaddress  # only the tls event needs it (~2.5 ms)

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

#: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.
_SUITE_RSA = 0xC02F
_SUITE_ECDSA = 0xC02B


@contextlib.contextmanager
def verifying_tls12(context: ssl.SSLContext) -> Iterator[ssl.SSLContext]:
    """``context`` switched to verify (and TLS 1.2 only) for the replay, then restored.

    The handshake's own context holds the trust store (--ca or the
    system's, whose loading costs tens of milliseconds; under --insecure
    loaded for the first replay: netprobe.tls.context), so the replay
    borrows it instead of loading the store again.  ``check``'s threads
    share that context: the switch holds ``SETTINGS_LOCK``, which every
    SSL object made from a context waits for (``TlsChannel``).
    """
    with SETTINGS_LOCK:
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
    # --insecure's context has no trust store until a prediction needs one.
    load_deferred_trust(context)
    try:
        with verifying_tls12(context):
            return _replay(context, server_hostname, chain_der, rsa_leaf)
    except (ValueError, ssl.SSLError):
        return None


def _replay(context: ssl.SSLContext, server_hostname: str | None, chain_der: Sequence[bytes],
            rsa_leaf: bool) -> tuple[int, str, list[bytes]] | None:
    from netprobe.tls.wire import offered_suites, server_flight

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
        suites = offered_suites(outgoing.read())
    except (struct.error, IndexError):
        return None
    wanted = _SUITE_RSA if rsa_leaf else _SUITE_ECDSA
    suite = wanted if wanted in suites else next((s for s in suites if s >> 8 == 0xC0), None)
    if suite is None:
        return None
    incoming.write(server_flight(suite, chain_der))
    built = client._sslobj.get_verified_chain  # type: ignore[attr-defined]
    try:
        client.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message, der_list(built())
    except ssl.SSLWantReadError:
        return 0, "ok", der_list(built())
    except ssl.SSLError:
        # Verification passed and something after it (key type) objected.
        return None
    return None  # pragma: no cover - the fake server never finishes a handshake

