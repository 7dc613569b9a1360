"""The TLS options, checked before anything connects, the SSLContexts made from them, SNI kept."""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import sys
import threading
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
    _client_extras(context, options, stage)
    return context


def _client_extras(context: ssl.SSLContext, options: TlsOptions, stage: str) -> None:
    """--alpn and --cert/--key on a client context."""
    if options.alpn:
        context.set_alpn_protocols(list(options.alpn))
    if options.cert is not None and options.key is not None:
        load_cert_chain(context, options.cert, options.key, stage)


def client_context(options: TlsOptions, stage: str = "tls") -> ssl.SSLContext:
    """The context of the handshake itself: ``verifying_context``, or CERT_NONE with --insecure.

    With --insecure and no --ca the system trust store is not loaded yet
    (``load_deferred_trust``, before a prediction needs it).
    """
    if options.insecure and options.ca is None:
        context: ssl.SSLContext = _untrusting_context()
        _client_extras(context, options, stage)
    else:
        context = verifying_context(options, stage)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# Design decision: with --insecure (and no --ca) the system trust store is
# loaded only when a prediction is made.  The handshake runs with CERT_NONE
# and never consults it; only the "would verify" verdict of the ``tls``
# event does (netprobe.tls.verify, predict_verification).  Loading it is
# ``set_default_verify_paths``: OpenSSL parses the whole CA bundle (~150
# certificates, some 50 ms, a third of an empty ``connect --tls
# --insecure -q``), and under -q without --json nothing shows the verdict.
# So the context starts with create_default_context()'s settings and no
# trust store; predict_verification loads the store into it first
# (``load_deferred_trust``), once, under a lock (``check`` shares one
# context between its worker threads).  The verdict is the same: the same
# store, loaded the same way into the same context.  An explicit --ca is
# loaded at once as before: a bad --ca is a usage error (exit 2) before
# anything connects, and must stay one.
#
# Rejected: loading a cheaper store when the verdict is shown.  OpenSSL
# looks certificates up in the hashed directory (capath) lazily, one file
# per issuer asked for, while the bundle (cafile) is parsed whole; but
# ``set_default_verify_paths`` loads both, and the directory holds the
# same certificates as the bundle only where the distribution makes it so
# (Debian's update-ca-certificates does; a bundle edited by hand, a
# SSL_CERT_FILE, a distribution with no hashed directory do not).  Using
# the directory alone could turn "would verify" into "would fail" and back:
# the verdict must be the system's default paths', so the bundle is read.


# Design decision: one lock for a client context's verification settings.
# ``check`` shares one context between its worker threads, and the --insecure
# replay (netprobe.tls.verify) switches that context to verify, TLS 1.2 only,
# for the moment it takes.  An SSL object copies its context's settings when
# it is made, so a handshake begun in another thread during that moment would
# verify (and fail, under --insecure) or be held to TLS 1.2.  So the switch
# and every ``wrap_bio`` of a shared context hold this lock: a wrap takes
# microseconds, a replay about a millisecond.  Rejected: a copy of the
# context for the replay, which would load the trust store a second time
# (tens of milliseconds, the cost the borrowing exists to avoid).
SETTINGS_LOCK = threading.Lock()


class _TrustLater(ssl.SSLContext):
    """A client context whose system trust store is loaded at the first prediction."""

    trust_pending: bool
    trust_lock: threading.Lock


def _untrusting_context() -> _TrustLater:
    """``ssl.create_default_context()`` without ``load_default_certs`` (done later).

    PROTOCOL_TLS_CLIENT already means CERT_REQUIRED and check_hostname;
    what create_default_context adds is mirrored here (3.13's verify flags,
    SSLKEYLOGFILE), and tests/test_tls_startup.py compares the two contexts.
    """
    context = _TrustLater(ssl.PROTOCOL_TLS_CLIENT)
    if sys.version_info >= (3, 13):
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    context.trust_pending = True
    context.trust_lock = threading.Lock()
    return context


def load_deferred_trust(context: ssl.SSLContext) -> None:
    """Load the system trust store into ``context`` if ``client_context`` deferred it."""
    if not isinstance(context, _TrustLater):
        return
    with context.trust_lock:
        if context.trust_pending:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
            context.trust_pending = False


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
