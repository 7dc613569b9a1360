"""``check`` targets: what a user wrote, parsed and validated before anything runs.

A target is ``HOST:PORT`` (TCP), ``tcp://HOST:PORT``, ``udp://HOST:PORT``,
``tls://HOST:PORT``, ``dns://NAME``, ``unix:PATH`` or ``unix:@NAME``; an IPv6
address goes in brackets, ``[::1]:80``, as in URLs, curl and ncat.  Targets
come from the command line and from files (one a line, ``#`` comments, blank
lines; ``-`` is stdin).

Design decision: every target is parsed before the first one is checked.  A
CI job with a typo in its fifteenth target must fail at once with exit 2 and
the position of the typo, not after fourteen connections (and possibly a
``--wait`` of minutes).  So parsing is pure: no resolver, no socket; it only
refuses what no resolver could ever accept (the same checks ``resolve`` and
``connect`` make on their input, ``check_host`` and the port range).

Rejected: accepting ``HOST PORT`` pairs or a bare IPv6 address followed by
``:PORT`` (``::1:80`` is itself a valid address: guessing where the port
starts would check the wrong thing).
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import NamedTuple, TextIO

from netprobe.endpoints import split_endpoint
from netprobe.errors import InvalidInput
from netprobe.inputs import check_host

STAGE = "check"

#: What a port may be: a number, or a service name getaddrinfo looks up in
#: /etc/services (``db:postgresql``).  Names follow RFC 6335 section 5.1.
_SERVICE_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
#: Builds the usage error for the target being parsed, from a message.
Complaint = Callable[[str], InvalidInput]

_FORMS = ("expected HOST:PORT, [IPV6]:PORT, tcp://, udp://, tls://, dns://NAME, unix:PATH "
          "or unix:@NAME")


class Scheme(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    TLS = "tls"
    DNS = "dns"
    #: A Unix domain socket: ``unix:PATH``, ``unix:@NAME`` (``host`` is the whole target).
    UNIX = "unix"


class Target(NamedTuple):
    """One parsed target; ``text`` is exactly what the user wrote (it names the target)."""

    text: str
    scheme: Scheme
    host: str
    #: The port or service name; None for ``dns://``.
    port: str | None
    #: Where it was given, for error messages: ``argument 3``, ``hosts.txt line 7``.
    origin: str


def parse_target(text: str, origin: str) -> Target:
    """Parse one target or raise InvalidInput naming it and where it was given."""

    def bad(message: str) -> InvalidInput:
        return InvalidInput(STAGE, repr(text) if not text.strip() else text.strip(),
                            f"{origin}: {message}")

    raw = text.strip()
    if not raw:
        raise bad("empty target; " + _FORMS)
    if raw.startswith("unix:"):
        return _unix(raw, origin, bad)
    if any(c.isspace() for c in raw):
        raise bad("a target contains no spaces; " + _FORMS)
    if not raw.isprintable():
        # No host name or port holds one, and the target is echoed in tables.
        raise bad(_unprintable(raw))
    scheme = Scheme.TCP
    rest = raw
    if "://" in raw:
        name, _, rest = raw.partition("://")
        try:
            scheme = Scheme(name.lower())
        except ValueError:
            raise bad(f"unknown scheme {name + '://'!r}; " + _FORMS) from None
    if scheme is Scheme.DNS:
        return Target(raw, scheme, _dns_name(rest, bad), None, origin)
    try:
        host, port, bracketed = split_endpoint(rest, STAGE, _FORMS)
    except InvalidInput:
        raise bad("unbalanced '[': " + _FORMS) from None
    if port is None:
        hint = " (an IPv6 address goes in brackets: [::1]:80)" if ":" in host else ""
        raise bad(f"missing :PORT{hint}")
    if not host:
        raise bad("missing host before ':PORT'")
    if not port:
        raise bad("missing port after ':'")
    if bracketed:
        _ipv6_literal(host, bad)
    else:
        _checked_host(host, bad)
    _port(port, bad)
    return Target(raw, scheme, host, port, origin)


def _unprintable(raw: str) -> str:
    """What is wrong with a target that is not printable: a byte that is not UTF-8 (read
    with surrogateescape: U+DC80-U+DCFF), or a control character."""
    for char in raw:
        if "\udc80" <= char <= "\udcff":
            return f"a target is UTF-8 text: byte 0x{ord(char) - 0xDC00:02x} is not"
    return "a target contains no control characters"


def _unix(raw: str, origin: str, bad: Complaint) -> Target:
    """``unix:PATH`` (a path may hold spaces) or ``unix:@NAME``, checked as connect checks it."""
    from netprobe.unix.address import parse

    if not raw.isprintable():
        raise bad(_unprintable(raw))
    try:
        parse(raw, STAGE)
    except InvalidInput as exc:
        raise bad(exc.message) from None
    return Target(raw, Scheme.UNIX, raw, None, origin)


def _dns_name(name: str, bad: Complaint) -> str:
    if not name:
        raise bad("dns:// needs a NAME")
    if "/" in name:
        raise bad("dns://NAME takes a name only, no path or port")
    if name.startswith("["):
        # An IPv6 address in brackets, as in every other target: the address.
        try:
            host, port, _ = split_endpoint(name, STAGE, _FORMS)
        except InvalidInput:
            raise bad("unbalanced '[': " + _FORMS) from None
        if port is not None:
            raise bad("dns://NAME takes a name only, no path or port")
        _ipv6_literal(host, bad)
        return host
    if ":" in name:
        # No host name holds a ':': either an IPv6 address, or NAME:PORT, which
        # getaddrinfo would send to DNS as the name "NAME:PORT".
        _ipv6_literal(name, lambda _: bad("dns://NAME takes a name only, no path or port"))
        return name
    _checked_host(name, bad)
    return name


def _checked_host(host: str, bad: Complaint) -> None:
    try:
        check_host(host, STAGE)
    except InvalidInput as exc:
        raise bad(exc.message) from None


def _ipv6_literal(host: str, bad: Complaint) -> None:
    address = host.partition("%")[0]
    try:
        socket.inet_pton(socket.AF_INET6, address)
    except (OSError, ValueError):
        raise bad(f"[{host}] is not an IPv6 address") from None


def _port(port: str, bad: Complaint) -> None:
    if port.isascii() and port.isdigit():
        if not 1 <= int(port) <= 65535:
            # Port 0 is "any port" to bind(); nothing can be connected to on it.
            raise bad(f"port {port} is outside 1-65535")
        return
    if not _SERVICE_NAME.fullmatch(port):
        raise bad(f"{port!r} is neither a port 1-65535 nor a service name")


# --- where targets come from ------------------------------------------------------------


def file_lines(name: str, stdin: TextIO | None = None) -> Iterator[tuple[str, str]]:
    """(target text, origin) for each target line of FILE (``-``: stdin).

    ``#`` starts a comment (no target contains one), blank lines are skipped.
    An unreadable file is a usage error, like a malformed target.
    """
    label = "stdin" if name == "-" else name
    try:
        if name == "-":
            source = stdin or sys.stdin
            if source is None:
                # Started with fd 0 closed (``<&-``): Python has no sys.stdin at all.
                raise InvalidInput(STAGE, name, "cannot read the target file: stdin is closed")
            text = source.read()
        else:
            with open(name, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
    except OSError as exc:
        raise InvalidInput(STAGE, name, f"cannot read the target file: "
                           f"{exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(STAGE, name, f"cannot read the target file: {exc}") from None
    # A byte-order mark (Windows editors write one) is no part of the first target.
    text = text.removeprefix("\ufeff")
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.partition("#")[0].strip()
        if content:
            yield content, f"{label} line {number}"


def gather(arguments: Iterable[str], files: Iterable[str], *,
           stdin: TextIO | None = None) -> list[Target]:
    """Every target, arguments first then files in the order given, all validated.

    Nothing is checked if one is malformed: the first bad one is the error.
    """
    given: list[tuple[str, str]] = [(text, f"argument {n}")
                                    for n, text in enumerate(arguments, start=1)]
    for name in files:
        given.extend(file_lines(name, stdin))
    if not given:
        raise InvalidInput(STAGE, "", "no targets: give TARGET arguments or -f FILE")
    return [parse_target(text, origin) for text, origin in given]
