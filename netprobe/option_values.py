"""The options' values as commands receive them, without click.

What several options become together (``HintOptions``, the TLS options),
the Hints made of them, and the one parse of ``--protocol``: shared by the
click definitions (``netprobe.options``) and the quick path
(``netprobe.quick``), which must reach a command with exactly the values
click would give it, and must not import click to do so.
"""

from __future__ import annotations

from netprobe.addrinfo import Hints
from netprobe.constants import AI_FLAGS, FAMILIES, PROTOCOLS, SOCKTYPES
from netprobe.errors import InvalidInput
from netprobe.record import Record, field


class HintOptions(Record):
    """The hints options as given on the command line (``hints_from`` makes Hints of them)."""

    __slots__ = ()
    _fields = ("family", "inet4", "inet6", "socktype", "protocol", "passive", "canonname",
               "addrconfig", "v4mapped", "ai_all", "numeric_host", "numeric_serv")
    family: str | None = field(0)
    inet4: bool = field(1)
    inet6: bool = field(2)
    socktype: str | None = field(3)
    protocol: int | None = field(4)
    passive: bool = field(5)
    canonname: bool = field(6)
    addrconfig: bool = field(7)
    v4mapped: bool = field(8)
    ai_all: bool = field(9)
    numeric_host: bool = field(10)
    numeric_serv: bool = field(11)

    def __new__(cls, family: str | None, inet4: bool, inet6: bool, socktype: str | None,
                protocol: int | None, passive: bool, canonname: bool, addrconfig: bool,
                v4mapped: bool, ai_all: bool, numeric_host: bool,
                numeric_serv: bool) -> HintOptions:
        return tuple.__new__(cls, (family, inet4, inet6, socktype, protocol, passive, canonname,
                                   addrconfig, v4mapped, ai_all, numeric_host, numeric_serv))


class TlsClientOptions(Record):
    """``connect``'s TLS options as given (``netprobe.connect.tls`` checks and uses them)."""

    __slots__ = ()
    _fields = ("tls", "sni", "alpn", "ca", "insecure", "cert", "key", "min_days")
    tls: bool = field(0)
    sni: str | None = field(1)
    alpn: str | None = field(2)
    ca: str | None = field(3)
    insecure: bool = field(4)
    cert: str | None = field(5)
    key: str | None = field(6)
    min_days: int | None = field(7)

    def __new__(cls, tls: bool, sni: str | None, alpn: str | None, ca: str | None,
                insecure: bool, cert: str | None, key: str | None,
                min_days: int | None) -> TlsClientOptions:
        return tuple.__new__(cls, (tls, sni, alpn, ca, insecure, cert, key, min_days))


class TlsServerOptions(Record):
    """``listen``'s TLS options as given."""

    __slots__ = ()
    _fields = ("tls", "cert", "key", "alpn")
    tls: bool = field(0)
    cert: str | None = field(1)
    key: str | None = field(2)
    alpn: str | None = field(3)

    def __new__(cls, tls: bool, cert: str | None, key: str | None,
                alpn: str | None) -> TlsServerOptions:
        return tuple.__new__(cls, (tls, cert, key, alpn))


def protocol_number(text: str) -> int | None:
    """``--protocol``: any, tcp, udp or a number 0-255; None for anything else."""
    name = text.lower()
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    if name.isascii() and name.isdigit() and int(name) <= 255:
        return int(name)
    return None


def hints_from(
    given: HintOptions, *, socktype: int = 0, flags: int = 0, stage: str = "usage"
) -> Hints:
    """Build Hints from the options.

    ``socktype`` and ``flags`` are the command's defaults (SPEC: connect
    defaults to SOCK_STREAM and AI_ADDRCONFIG, listen adds AI_PASSIVE).
    """
    if given.inet4 and given.inet6:
        raise InvalidInput(stage, "-4 -6", "-4 and -6 exclude each other")
    family_text = given.family or (
        "inet" if given.inet4 else "inet6" if given.inet6 else "unspec"
    )
    if given.family and (given.inet4 or given.inet6):
        wanted = "inet" if given.inet4 else "inet6"
        if wanted != given.family:
            raise InvalidInput(stage, "--family", f"--family {given.family} contradicts -4/-6")
    values = given._asdict()
    for key, (_, bit) in AI_FLAGS.items():
        if values.get("ai_all" if key == "all" else key):
            flags |= bit
    return Hints(
        family=FAMILIES[family_text],
        socktype=SOCKTYPES[given.socktype] if given.socktype else socktype,
        protocol=given.protocol if given.protocol is not None else 0,
        flags=flags,
    )
