"""A HOST as the user gave it: how it is handed to the C library, and whether it is numeric.

Design decision: two "is this host numeric" questions, named apart by what
they mean.  They differ on purpose and were three private copies:

- ``is_ip_literal``: an IPv4 dotted quad or an IPv6 address (``%scope``
  allowed), as inet_pton(3) reads them: what an *address literal* is for TLS
  (no SNI for one, RFC 6066 section 3; the certificate is checked for an
  iPAddress instead) and for ``check``, whose resolution of such a host
  needs no time limit (the C library answers it from the string).
- ``numeric_address``: what getaddrinfo(AI_NUMERICHOST) makes of the host,
  which is more than inet_pton accepts (inet_aton's ``127.1``, ``0x7f.1``,
  ``2130706433``): what ``--explain`` must predict, since it is what
  getaddrinfo itself will do before asking any source.

Ground floor: imports nothing of netprobe's.
"""

from __future__ import annotations

import socket


def host_argument(host: str | None) -> str | bytes | None:
    """``host`` as handed to socket.getaddrinfo: an ASCII name as its bytes.

    Design decision: CPython encodes a ``str`` host with the IDNA codec, whose
    first use imports ``encodings.idna``, ``stringprep`` and ``unicodedata``:
    about 15% of the instructions of a whole ``resolve --json`` run (valgrind),
    spent to turn ASCII into the same ASCII.  Bytes go to the C library as
    they are, which is what the codec returns for an ASCII name once it has
    checked that no label is empty or longer than 63 octets; ``check_host``
    makes both checks first.  A non-ASCII name still goes through the codec.
    (CPython's own sockaddr conversion skips the codec for ASCII the same way.)
    """
    return host.encode("ascii") if host is not None and host.isascii() else host


def is_ip_literal(host: str) -> bool:
    """An IPv4 dotted quad or an IPv6 address (``%scope`` allowed), as inet_pton reads them."""
    address = host.partition("%")[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except (OSError, ValueError):  # ValueError: a NUL byte
            continue
        return True
    return False


def numeric_address(host: str) -> str | None:
    """The address getaddrinfo(AI_NUMERICHOST) parses ``host`` as, or None for a name.

    ``127.1`` gives ``127.0.0.1``.  Not reported for --syscalls: it is a
    question netprobe asks to predict the library, not a call the user asked
    for (and no resolver is consulted).
    """
    if "\x00" in host:
        return None  # as bytes, the C library would read only up to the NUL
    try:
        # host_argument: an ASCII host as bytes, so no IDNA codec is imported
        # (the start-up cost the resolution core avoids the same way).
        entries = socket.getaddrinfo(host_argument(host), None, 0, socket.SOCK_STREAM, 0,
                                     socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return str(entries[0][4][0]) if entries else None
