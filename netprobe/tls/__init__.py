"""TLS for ``connect --tls`` and ``listen --tls``: the standard library's ssl, made visible.

* ``context``: the TLS options (``--sni``, ``--alpn``, ``--ca``, ``--insecure``,
  ``--cert``/``--key``, ``--min-days``), checked, the SSLContexts built
  from them, and the SNI a client asked for (kept by the server context).
* ``channel``: a TLS connection over an already-connected socket (an
  SSLObject over memory BIOs), the client handshake bounded by ``--timeout``,
  and what it saw (the ``tls`` event).
* ``relay``: the data phase over TLS (stdin/stdout, ``--send``, ``--expect``,
  close_notify on half-close).
* ``errors``: every TLS failure by name: X509_V_ERR_* for a verification,
  OpenSSL's reason (with a hint) or the errno for the rest.
* ``verify``: the chains OpenSSL saw and built, the failing depth, the name
  that matched, and what verification would say under ``--insecure``.
* ``wire``: the few TLS bytes netprobe reads or makes itself (the server's
  ServerHello; the replay's fake server).
* ``certs``: certificates as data (``cryptography``), the ephemeral one.
* ``serving``: ``listen --tls``: a TLS layer under the server's protocol.

Nothing here prints; like the rest of the core it reports through ``trace``.
This package is imported only when TLS is asked for.
"""
