"""TLS: ``connect --tls`` and ``listen --tls``."""

from __future__ import annotations

import click

from netprobe.option_values import TlsClientOptions as TlsClientOptions
from netprobe.option_values import TlsServerOptions as TlsServerOptions
from netprobe.options.base import collect, compose

# --- TLS (connect --tls, listen --tls) -------------------------------------------------

tls_option = click.option("--tls", is_flag=True, help="TLS on the connection (Python's ssl).")
sni_option = click.option(
    "--sni", metavar="NAME", default=None,
    help="TLS: server name sent and verified (default HOST unless numeric; '' for none).",
)
alpn_option = click.option(
    "--alpn", metavar="LIST", default=None, help="TLS: ALPN protocols, e.g. h2,http/1.1.",
)
ca_option = click.option(
    "--ca", metavar="FILE|DIR", default=None,
    help="TLS: trust these CA certificates (default: the system store).",
)
insecure_option = click.option(
    "--insecure", "-k", is_flag=True,
    help="TLS: do not verify the certificate (still report what would fail).",
)
cert_option = click.option(
    "--cert", metavar="FILE", default=None, help="TLS: certificate chain to present (PEM).",
)
key_option = click.option("--key", metavar="FILE", default=None, help="TLS: its private key.")
min_days_option = click.option(
    "--min-days", type=click.IntRange(min=0), default=None, metavar="N",
    help="TLS: exit 6 when a certificate of the chain expires within N days.",
)


#: ``connect``'s TLS options, reaching the command as ``tls: TlsClientOptions``.
tls_client_options = compose(
    collect("tls", TlsClientOptions),
    tls_option, sni_option, alpn_option, ca_option, insecure_option, cert_option, key_option,
    min_days_option,
)
#: ``listen``'s TLS options (without --cert/--key: an ephemeral self-signed certificate),
#: reaching the command as ``tls: TlsServerOptions``.
tls_server_options = compose(
    collect("tls", TlsServerOptions),
    tls_option, cert_option, key_option, alpn_option,
)
