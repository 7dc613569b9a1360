"""Certificates as data: each one parsed with ``cryptography``, and the ephemeral one for listen.

Imported only when TLS is asked for: ``cryptography`` costs tens of
milliseconds to import, and ``connect --json`` without ``--tls`` must not pay
for it (tests/test_tls.py checks).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from netprobe.schema import CertificateFields, KeyFields

_DAY = 86400.0


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(der: bytes) -> str:
    """SHA-256 of the DER form, as ``openssl x509 -fingerprint -sha256`` prints it."""
    import hashlib

    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def key_fields(key: Any) -> KeyFields:
    """{type, bits[, curve]} of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "RSA", "bits": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "EC", "bits": key.curve.key_size, "curve": key.curve.name}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"type": "Ed25519", "bits": 256}
    if isinstance(key, ed448.Ed448PublicKey):
        return {"type": "Ed448", "bits": 456}
    if isinstance(key, dsa.DSAPublicKey):
        return {"type": "DSA", "bits": key.key_size}
    return {"type": type(key).__name__, "bits": None}


def san_entries(cert: x509.Certificate) -> list[str]:
    """subjectAltName as OpenSSL writes it: ``DNS:example.com``, ``IP:127.0.0.1``, ..."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    out: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        else:
            out.append(f"{type(name).__name__}:{name.value}")
    return out


def load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def describe(der: bytes, now: datetime.datetime | None = None) -> CertificateFields:
    """One certificate of a chain as the SPEC's ``chain`` entry."""
    cert = load_der(der)
    now = now or datetime.datetime.now(datetime.UTC)
    not_after = cert.not_valid_after_utc
    try:
        signature = cert.signature_algorithm_oid._name
    except Exception:  # an OID cryptography does not know
        signature = cert.signature_algorithm_oid.dotted_string
    try:
        key = key_fields(cert.public_key())
    except (ValueError, TypeError):  # an unsupported key algorithm
        key = {"type": "unknown", "bits": None}
    left = (not_after - now).total_seconds()
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "san": san_entries(cert),
        "not_before": _utc(cert.not_valid_before_utc),
        "not_after": _utc(not_after),
        "days_left": int(left // _DAY),
        "seconds_left": int(left),
        "key": key,
        "signature_algorithm": signature,
        "sha256": fingerprint(der),
        "serial": f"{cert.serial_number:X}",
        "self_signed": cert.subject == cert.issuer,
    }


def describe_chain(chain: Sequence[bytes]) -> list[CertificateFields]:
    now = datetime.datetime.now(datetime.UTC)
    return [describe(der, now) for der in chain]


def is_rsa(der: bytes) -> bool:
    try:
        return isinstance(load_der(der).public_key(), rsa.RSAPublicKey)
    except (ValueError, TypeError):
        return True


# --- the ephemeral certificate of ``listen --tls`` ------------------------------------
#
# Without --cert/--key, listen makes a self-signed certificate for this run
# only: an ECDSA P-256 key (generated in about a millisecond, where RSA-2048
# takes ~50 ms), valid from an hour ago (clock skew) for 90 days, with the
# listening names as subjectAltNames so that `connect HOST --tls --ca FILE`
# could verify it.  Its SHA-256 fingerprint is printed: a user who cannot
# verify it against a CA can compare it with what the client shows.


def ephemeral(names: Sequence[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a fresh self-signed certificate for ``names``."""
    key = ec.generate_private_key(ec.SECP256R1())
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(n for n in names if n):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name.split("%")[0])))
        except ValueError:
            entries.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netprobe ephemeral"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netprobe")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if entries:
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def pem_fingerprint(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))
