"""HOST, SERVICE and PORT as the user gave them: checked before any call, and told apart.

Design decision: input is checked before it reaches the library.  A port
outside 0-65535, a NUL byte or a host longer than DNS allows is the user's
mistake (exit 2), not a resolver failure, and must never turn into a
Python exception; refusing here also keeps a typo from waiting on a
resolver.  (The calls themselves are ``netprobe.resolver``'s.)

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

Ground floor: imports nothing of netprobe's but its errors.
"""

from __future__ import annotations

import socket

from netprobe.errors import InvalidInput


def _is_number(text: str) -> bool:
    """A decimal integer, sign allowed (``[+-]?[0-9]+``): no re to import for it."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


def target(host: str | None, service: str | None) -> str:
    """How an error names what was being resolved."""
    return " ".join(part for part in (host, service) if part is not None) or "(null)"


def _not_utf8(text: str) -> str | None:
    """The first byte of ``text`` that was not UTF-8 (argv is read with surrogateescape:
    such a byte is U+DC80-U+DCFF), as ``0xNN``, or None."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return f"0x{ord(char) - 0xDC00:02x}"
    return None


def check_host(host: str | None, stage: str = "resolve") -> None:
    """Reject hosts no resolver could answer for, before asking one.

    The limits are DNS's (RFC 1035 section 2.3.4: 63 octets a label, 253 a
    name in text form), checked on the IDNA form that Python hands to the
    C library.  Refusing here keeps a typo from waiting on a resolver.
    """
    if host is None:
        return
    if "\x00" in host:
        raise InvalidInput(stage, repr(host), "host contains a NUL byte")
    byte = _not_utf8(host)
    if byte is not None:
        # Python cannot hand the C library such a name (nor encode it for IDNA).
        raise InvalidInput(stage, host, f"the host name is not UTF-8 text: byte {byte} is not")
    # IDNA refuses over-long labels with an opaque message: check the limits
    # on the text first, then on the encoded form of a non-ASCII name.
    if host.isascii():
        encoded = host.encode()
        # What the IDNA codec refuses in an ASCII name (see host_argument).
        if not all(encoded.split(b".")[:-1]):
            raise InvalidInput(stage, host, "the host name has an empty label (\"..\" or a "
                               "leading dot)")
    else:
        try:
            encoded = host.encode("idna")
        except UnicodeError as exc:
            raise InvalidInput(stage, repr(host), f"not a valid host name ({exc})") from None
    if len(encoded.rstrip(b".")) > 253:
        raise InvalidInput(stage, host[:40] + "...", "host name longer than 253 characters")
    if any(len(label) > 63 for label in encoded.split(b".")):
        raise InvalidInput(stage, host, "a label of the host name is longer than 63 characters")


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


def library_host(host: str) -> str:
    """The name the C library is asked for: a non-ASCII ``host`` in its IDNA form.

    CPython hands getaddrinfo a ``str`` host encoded with the IDNA codec
    (``bücher.test`` becomes ``xn--bcher-kva.test``), so that is the name
    /etc/hosts is searched for and DNS asked: what ``--explain`` predicts
    and ``--dns`` asks must be the same name.  A name the codec refuses is
    returned as it is (``check_host`` has refused it before any lookup).
    """
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def check_service(service: str | None, stage: str = "resolve", host: str | None = None) -> None:
    """A service is a name or a port 0-65535; a number outside that is a usage error."""
    if service is None:
        return
    where = target(host, service)
    if "\x00" in service:
        raise InvalidInput(stage, repr(service), "service contains a NUL byte")
    byte = _not_utf8(service)
    if byte is not None:
        raise InvalidInput(stage, where, f"the service is not UTF-8 text: byte {byte} is not")
    if _is_number(service.strip()) and not 0 <= int(service) <= 65535:
        raise InvalidInput(stage, where, f"port {service} is outside 0-65535")


def parse_port(text: str, stage: str) -> int:
    """A numeric port 0-65535 (for reverse, listen and connect's --source)."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise InvalidInput(stage, text, "port must be a number 0-65535")
    return int(text)


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
