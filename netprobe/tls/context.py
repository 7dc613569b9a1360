"""The TLS options, checked before anything connects, the SSLContexts made from them, SNI kept."""

from __future__ import annotations

import contextlib
import os
import re
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from netprobe.errors import InvalidInput
from netprobe.inputs import is_ip_literal

if TYPE_CHECKING:
    from netprobe.schema import TlsCertificateEvent


class TlsOptions(NamedTuple):
    """What the user asked for; ``sni`` None means the default (HOST unless numeric)."""

    sni: str | None = None
    alpn: tuple[str, ...] = ()
    ca: str | None = None
    insecure: bool = False
    cert: str | None = None
    key: str | None = None
    min_days: int | None = None


def parse_alpn(text: str | None, stage: str = "tls") -> tuple[str, ...]:
    """``h2,http/1.1`` -> ("h2", "http/1.1"); each 1-255 bytes (RFC 7301)."""
    if text is None:
        return ()
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if not 0 < len(name.encode("utf-8", "surrogateescape")) < 256:
            raise InvalidInput(stage, "--alpn", f"{text!r}: each protocol name is 1-255 bytes")
    return names


def _readable(path: str, option: str, stage: str) -> None:
    if not os.path.exists(path):
        raise InvalidInput(stage, option, f"{path}: no such file or directory")
    if not os.access(path, os.R_OK):
        raise InvalidInput(stage, option, f"{path}: not readable (permission denied)")


def check(options: TlsOptions, stage: str = "tls") -> None:
    """Usage errors (exit 2) found before any connection is made."""
    if options.ca is not None:
        _readable(options.ca, "--ca", stage)
    if (options.cert is None) != (options.key is None):
        given = "--cert" if options.cert is not None else "--key"
        raise InvalidInput(stage, given, "--cert and --key go together")
    for path, option in ((options.cert, "--cert"), (options.key, "--key")):
        if path is not None:
            _readable(path, option, stage)
    if options.min_days is not None and options.min_days < 0:
        raise InvalidInput(stage, "--min-days", "must be 0 or more")


def names(host: str, options: TlsOptions) -> tuple[str | None, str | None]:
    """(server_hostname given to ssl, SNI actually sent).

    ssl uses server_hostname both as SNI and as the name verified; for an IP
    address it sends no SNI and verifies the address (an iPAddress SAN).  So
    with no --sni a numeric HOST verifies that address and sends no SNI, as
    the SPEC and RFC 6066 want; ``--sni ''`` sends none and checks no name.
    """
    if options.sni is not None:
        if options.sni == "":
            return None, None
        return options.sni, None if is_ip_literal(options.sni) else options.sni
    if not host:
        return None, None
    return host, None if is_ip_literal(host) else host


def _default_context(ca: str | None, stage: str) -> ssl.SSLContext:
    try:
        if ca is None:
            return ssl.create_default_context()
        if os.path.isdir(ca):
            return ssl.create_default_context(capath=ca)
        return ssl.create_default_context(cafile=ca)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InvalidInput(stage, "--ca",
                           f"{ca}: no certificates could be loaded ({exc})") from None


def _refuse_password(*_: object) -> bytes:
    # An encrypted key would make OpenSSL prompt on the terminal; netprobe
    # runs in scripts, so it fails instead (the key must be unencrypted).
    raise ValueError("the key is encrypted (netprobe needs an unencrypted key)")


def load_cert_chain(context: ssl.SSLContext, cert: str, key: str, stage: str) -> None:
    try:
        context.load_cert_chain(cert, key, password=_refuse_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        why = re.sub(r" \(_ssl\.c:\d+\)$", "", str(exc))
        raise InvalidInput(stage, "--cert/--key",
                           f"cannot use {cert} with {key}: {why}") from None


def verifying_context(options: TlsOptions, stage: str = "tls") -> ssl.SSLContext:
    """A client context that verifies: the chain against --ca (or the system store), the name.

    Starts from ``ssl.create_default_context()``'s settings (CERT_REQUIRED,
    check_hostname, the Python version's default verify flags and protocol
    floor), so what netprobe accepts is what a Python client would.
    """
    context = _default_context(options.ca, stage)
    if options.alpn:
        context.set_alpn_protocols(list(options.alpn))
    if options.cert is not None and options.key is not None:
        load_cert_chain(context, options.cert, options.key, stage)
    return context


def client_context(options: TlsOptions, stage: str = "tls") -> ssl.SSLContext:
    """The context of the handshake itself: ``verifying_context``, or CERT_NONE with --insecure."""
    context = verifying_context(options, stage)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# The SNI a client asked for: ssl gives it only to the context's
# sni_callback, during the handshake; listen --tls shows it in the client's
# ``accepted`` event, after.  The callback keeps it on the SSLObject.


def remember_sni(tls: Any, name: str | None, context: ssl.SSLContext) -> None:
    """sni_callback: keep the name the client asked for on its SSLObject."""
    with contextlib.suppress(AttributeError):
        tls.netprobe_sni = name


def remembered_sni(tls: ssl.SSLObject) -> str | None:
    """The name ``remember_sni`` kept (None: the client sent none)."""
    name: str | None = getattr(tls, "netprobe_sni", None)
    return name


def server_context(cert: str | None, key: str | None, alpn: Sequence[str],
                   ephemeral_names: Sequence[str], stage: str = "listen"
                   ) -> tuple[ssl.SSLContext, str | None]:
    """A server context from --cert/--key, or an ephemeral self-signed certificate.

    Returns the context and, for an ephemeral certificate, its SHA-256
    fingerprint (to be shown).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.sni_callback = remember_sni
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if cert is not None and key is not None:
        load_cert_chain(context, cert, key, stage)
        return context, None
    import tempfile

    from netprobe.tls.certs import ephemeral, pem_fingerprint

    cert_pem, key_pem = ephemeral(ephemeral_names)
    # ssl loads certificates from files only: a private temporary directory,
    # removed as soon as they are loaded.
    with tempfile.TemporaryDirectory(prefix="netprobe-tls-") as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context, pem_fingerprint(cert_pem)


def certificate_summary(cert: str | None, fingerprint: str | None,
                        names: Sequence[str]) -> TlsCertificateEvent:
    """The ``tls_certificate`` event of listen: which certificate clients will see."""
    if cert is None:
        return {"ephemeral": True, "sha256": fingerprint, "names": list(dict.fromkeys(names))}
    from cryptography import x509

    from netprobe.tls.certs import describe

    with open(cert, "rb") as f:
        leaf = x509.load_pem_x509_certificate(f.read())
    from cryptography.hazmat.primitives.serialization import Encoding

    fields = describe(leaf.public_bytes(Encoding.DER))
    return {"ephemeral": False, "sha256": fields["sha256"], "file": cert,
            "subject": fields["subject"], "names": fields["san"],
            "not_after": fields["not_after"], "days_left": fields["days_left"]}
