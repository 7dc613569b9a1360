"""Endpoints as text (``ADDR:PORT``, ``[V6]:PORT``) and as the socket module's addresses.

The one formatter of endpoints (``format_endpoint``) and the one splitter
(``split_endpoint``) every command, the DNS view and the renderers use, and
the typed forms of an IP socket address: ``SockAddr`` as the socket module
gives it, ``Source`` for connect's ``--source``.  Parsing a numeric address
into a ``SockAddr`` is a getaddrinfo call (``resolver.numeric_sockaddr``).

Design decision: IP's forms only.  An AF_UNIX address is a path (or
``@NAME``) with no port and no brackets: its own text and sockaddr belong
beside its candidate type, not in branches here.

Ground floor: imports nothing of netprobe's but its errors.
"""

from __future__ import annotations

from netprobe.errors import InvalidInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: An AF_INET (address, port) or AF_INET6 (address, port, flowinfo, scope_id) address.
SockAddr = tuple[str, int] | tuple[str, int, int, int]


def format_endpoint(address: str, port: int | None = None) -> str:
    """``ADDR:PORT``, an IPv6 address in brackets (``[::1]:80``), as curl and ncat print
    them and as ``--source`` and ``--server`` accept them; the address alone without a port.

    The one formatter of endpoints: the core, the DNS view and the renderers use it.
    """
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


def split_endpoint(text: str, stage: str, forms: str) -> tuple[str, str | None, bool]:
    """Split ``ADDR``, ``ADDR:PORT``, ``[IPV6]``, ``[IPV6]:PORT`` or a bare IPv6 address.

    Returns (address, port text or None when absent, bracketed).  A port after
    an IPv6 address needs the brackets: ``::1:53`` is itself an address (the
    rule of URLs, curl, dig and ncat).  ``forms`` ends the error message.
    """
    raw = text.strip()
    if raw.startswith("["):
        address, bracket, rest = raw[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidInput(stage, raw or repr(text), f"malformed address; {forms}")
        return address, (rest[1:] if rest else None), True
    if raw.count(":") == 1:
        address, _, port = raw.partition(":")
        return address, port, False
    return raw, None, False


def ip_sockaddr(raw: tuple[Any, ...]) -> SockAddr:
    """An AF_INET or AF_INET6 socket address as the socket module gives it, typed."""
    if len(raw) == 4:
        return str(raw[0]), int(raw[1]), int(raw[2]), int(raw[3])
    return str(raw[0]), int(raw[1])


class Source:
    """A local address to bind before connecting."""

    def __init__(self, family: int, sockaddr: SockAddr, text: str) -> None:
        self.family = family
        self.sockaddr = sockaddr
        self.text = text

    @property
    def port(self) -> int:
        return self.sockaddr[1]
