"""TLS for ``connect --tls`` and ``listen --tls``: the standard library's ssl, made visible.

* ``context``: the TLS options (``--sni``, ``--alpn``, ``--ca``, ``--insecure``,
  ``--cert``/``--key``, ``--min-days``), checked, and the SSLContexts built
  from them.
* ``channel``: a TLS connection over an already-connected socket (an
  SSLObject over memory BIOs), the client handshake bounded by ``--timeout``,
  and what it saw (the ``tls`` event).
* ``relay``: the data phase over TLS (stdin/stdout, ``--send``, ``--expect``,
  close_notify on half-close).
* ``verify``: X509_V_ERR_* names, the failing depth, the name that matched,
  and what verification would say under ``--insecure``.
* ``certs``: certificates as data (``cryptography``), the ephemeral one.
* ``serving``: ``listen --tls``: a TLS layer under the server's protocol.

Nothing here prints; like the rest of the core it reports through ``trace``.
This package is imported only when TLS is asked for.
"""
