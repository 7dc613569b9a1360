"""The Unix-socket side of ``connect`` and ``listen``: what their options mean for AF_UNIX.

``connect HOST`` and ``listen PORT`` hand over here when HOST (or PORT) is a
Unix socket (``netprobe.unix.is_unix``).  The options that only make
sense for IP (the getaddrinfo hints, ``--bind``, ``--first``, ``--names``,
``--source``, ``--server``...) are refused with a usage error naming them,
rather than silently ignored: a user who wrote ``-6`` meant something by it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from netprobe.addrinfo import Hints
from netprobe.errors import InvalidInput
from netprobe.unix.address import UnixAddress, parse

if TYPE_CHECKING:
    from netprobe import options


def refuse(stage: str, where: str, given: Iterable[tuple[str, Any]],
           why: str = "nothing is resolved") -> None:
    """A usage error for the first IP-only option given with a Unix socket."""
    for flag, value in given:
        if value not in (None, False, 0, ""):
            raise InvalidInput(stage, where, f"{flag} does not apply to a Unix socket ({why})")


def hint_flags(hints: options.HintOptions) -> list[tuple[str, Any]]:
    """The getaddrinfo hints options, as (flag, value) for ``refuse``."""
    return [("--family", hints.family), ("-4", hints.inet4), ("-6", hints.inet6),
            ("--socktype", hints.socktype), ("--protocol", hints.protocol),
            ("--passive", hints.passive), ("--canonname", hints.canonname),
            ("--addrconfig", hints.addrconfig), ("--v4mapped", hints.v4mapped),
            ("--ai-all", hints.ai_all), ("--numeric-host", hints.numeric_host),
            ("--numeric-serv", hints.numeric_serv)]


def socktype(udp: bool, seqpacket: bool, stage: str, where: str) -> int:
    if udp and seqpacket:
        raise InvalidInput(stage, where, "--udp and --seqpacket exclude each other")
    if seqpacket:
        return socket.SOCK_SEQPACKET
    return socket.SOCK_DGRAM if udp else socket.SOCK_STREAM


def listen_unix(settings: Any, text: str, *, kind: int, backlog: int, unlink: bool,
                mode: str | None, config: Any, raw: bool) -> None:
    """``listen unix:PATH``: bind and listen, serve as for TCP, remove the file at stop."""
    from netprobe.render import make_trace
    from netprobe.serve import Server, StopSignals
    from netprobe.syscalls import sys_close
    from netprobe.unix import socketfile
    from netprobe.unix.listening import open_unix_listener

    address = parse(text, "listen")
    if kind == socket.SOCK_SEQPACKET:
        raise InvalidInput("listen", text, "--seqpacket: listen serves streams (and --udp "
                           "datagrams) only; connect --seqpacket talks to such servers")
    file_mode = socketfile.parse_mode(mode) if mode is not None else None
    if address.abstract and (file_mode is not None or unlink):
        flag = "--mode" if file_mode is not None else "--unlink"
        raise InvalidInput("listen", text, f"{flag}: an abstract name has no file")
    with make_trace(settings, "netprobe.render.listen:ListenHuman", raw=raw) as out, \
            StopSignals() as signals:
        opened = open_unix_listener(address, kind, backlog=backlog, unlink=unlink,
                                    mode=file_mode, trace=out)
        try:
            Server([opened.listener], config, trace=out, payload=out.payload,
                   signals=signals).run()
        finally:
            sys_close(out, opened.listener.sock)
            if opened.made is not None:
                socketfile.remove(out, opened.made)


def unix_address(host: str, port: str | None, stage: str) -> UnixAddress:
    """HOST (with PORT refused) as a Unix address: usage errors before any call."""
    from netprobe.unix.address import refuse_port

    address = parse(host, stage)
    refuse_port(port, host, stage)
    return address


def connect_hints(host: str, port: str | None, *, hints: options.HintOptions, udp: bool,
                  seqpacket: bool, given: Iterable[tuple[str, Any]]) -> Hints:
    """``connect``'s Unix side: the hints standing for the one candidate.

    Every usage error comes first, before any call: a PORT with a path, a
    path sun_path cannot hold, an IP-only option (``given``: flag, value).
    """
    unix_address(host, port, "connect")
    refuse("connect", host, [*hint_flags(hints), *given])
    return Hints(socket.AF_UNIX, socktype(udp, seqpacket, "connect", host), 0, 0)
