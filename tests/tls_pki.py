"""Test certificates (trustme and cryptography) and TLS peers (socat, openssl s_server, ncat).

Every server listens on 127.0.0.1 only.  Certificates are made once per
test session into a temporary directory: valid, expired, not yet valid,
expiring in 5 days, self-signed, for the wrong host, from an unknown CA,
under an intermediate (sent or not), RSA and ECDSA.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port, wait_for_port

NAMES = ("localhost", "127.0.0.1")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Pki:
    """Files under ``root``: ``ca.pem`` (trusted) and ``<name>.pem`` (key + chain) per server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.rsa_ca = trustme.CA(key_type=trustme.KeyType.RSA)
        self.unknown_ca = trustme.CA()
        self.intermediate = self.ca.create_child_ca()
        trusted = self.ca.cert_pem.bytes() + self.rsa_ca.cert_pem.bytes()
        (root / "ca.pem").write_bytes(trusted)
        (root / "ca-dir").mkdir()
        self.ca.cert_pem.write_to_path(str(root / "ca-dir" / "ca.pem"))
        subprocess.run(["openssl", "rehash", str(root / "ca-dir")], check=True,
                       capture_output=True)
        now = _now()
        day = datetime.timedelta(days=1)
        self._leaf("valid", self.ca.issue_cert(*NAMES))
        self._leaf("rsa", self.rsa_ca.issue_cert(*NAMES, key_type=trustme.KeyType.RSA))
        self._leaf("expired", self.ca.issue_cert(*NAMES, not_before=now - 30 * day,
                                                 not_after=now - day))
        self._leaf("not_yet_valid", self.ca.issue_cert(*NAMES, not_before=now + 10 * day,
                                                       not_after=now + 40 * day))
        self._leaf("expiring", self.ca.issue_cert(*NAMES, not_before=now - day,
                                                  not_after=now + 5 * day + day / 2))
        self._leaf("wrong_host", self.ca.issue_cert("other.test"))
        self._leaf("unknown_ca", self.unknown_ca.issue_cert(*NAMES))
        under = self.intermediate.issue_cert(*NAMES)
        self._leaf("intermediate", under)
        # The same leaf without its intermediate: the client cannot build the chain.
        (root / "missing_intermediate.pem").write_bytes(
            under.private_key_pem.bytes() + under.cert_chain_pems[0].bytes())
        self._self_signed()
        client = self.ca.issue_cert("client.test")
        client.private_key_pem.write_to_path(str(root / "client.key"))
        client.cert_chain_pems[0].write_to_path(str(root / "client.crt"))

    def _leaf(self, name: str, cert: trustme.LeafCert) -> None:
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.root / f"{name}.pem"))
        cert.private_key_pem.write_to_path(str(self.root / f"{name}.key"))
        (self.root / f"{name}.crt").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))

    def _self_signed(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.test")])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost")]), critical=False)
                .sign(key, hashes.SHA256()))
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()) + cert.public_bytes(
                                    serialization.Encoding.PEM)
        (self.root / "self_signed.pem").write_bytes(pem)

    def path(self, name: str) -> str:
        return str(self.root / f"{name}.pem")


@contextlib.contextmanager
def serving(argv: Sequence[str], port: int) -> Iterator[int]:
    """Run a server process until the block ends; yields its port once it accepts."""
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.kill()
        proc.wait()


def socat_echo(pem: str, port: int | None = None,
               extra: str = "") -> contextlib.AbstractContextManager[int]:
    """socat as a TLS echo server (EXEC:cat), no client certificate asked."""
    port = port or free_port()
    return serving(["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,"
                             f"cert={pem},verify=0{extra}", "EXEC:cat"], port)


def s_server(pem: str, *args: str) -> contextlib.AbstractContextManager[int]:
    """openssl s_server (handshake peer; ``args`` pick versions, ALPN, client certs)."""
    port = free_port()
    return serving(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pem,
                    "-key", pem, "-quiet", *args], port)


def python_verdict(port: int, hostname: str, cafile: str) -> int:
    """The oracle: the verify code Python's ssl (the OS's OpenSSL) gets for this handshake."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            with context.wrap_socket(sock, server_hostname=hostname):
                return 0
        except ssl.SSLCertVerificationError as exc:
            return int(exc.verify_code)
