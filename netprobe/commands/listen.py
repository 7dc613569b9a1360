"""``netprobe listen PORT``: open_listenfd made visible, then a concurrent server."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.errors import InvalidInput
from netprobe.render import Settings, make_trace

if TYPE_CHECKING:
    from netprobe.schema import TlsCertificateEvent


@click.command(epilog=examples(
    'netprobe listen 8000 --echo',
    'netprobe listen 8000 --bind 127.0.0.1 --count 1 > received   # one client, to a file',
    'netprobe listen unix:/tmp/app.sock --echo --mode 0660',
))
@click.argument("port")
@options.endpoint_hint_options
@options.bind_option
@options.first_option
@options.backlog_option
@options.echo_option
@options.iterative_option
@options.max_clients_option
@options.idle_timeout_option
@options.count_option
@options.names_option
@options.udp_option
@options.seqpacket_option
@options.unlink_option
@options.mode_option
@options.raw_option
@options.tls_server_options
@options.bind_explain_option
@options.syscalls_option
@options.global_options
@click.pass_context
def listen(ctx: click.Context, /, port: str, *, hints: options.HintOptions,
           bind_host: str | None, first: bool, backlog: int, echo: bool, iterative: bool,
           max_clients: int, idle_timeout: float | None, count: int | None, names: bool,
           udp: bool, seqpacket: bool, unlink: bool, file_mode: str | None,
           tls: options.TlsServerOptions, raw: bool) -> None:
    """Bind PORT on every address getaddrinfo gives (AI_PASSIVE), then serve clients.

    Each candidate's socket, setsockopt, bind and listen is shown with its
    outcome.  Without --echo what clients send goes to stdout; with --echo it
    goes back to them.  SIGINT/SIGTERM stop the server with a summary (exit 0).
    PORT may be a Unix socket: unix:PATH, a path with a /, or unix:@NAME.
    """
    from netprobe.serve import ServeConfig, Server, StopSignals
    from netprobe.serve.listenfd import open_listeners
    from netprobe.syscalls import sys_close
    from netprobe.unix import is_unix

    settings = options.settings(ctx)
    if is_unix(port):
        _listen_unix(settings, port, hints=hints, bind_host=bind_host, first=first,
                     backlog=backlog, echo=echo, iterative=iterative, max_clients=max_clients,
                     idle_timeout=idle_timeout, count=count, names=names, udp=udp,
                     seqpacket=seqpacket, unlink=unlink, file_mode=file_mode, tls=tls, raw=raw)
        return
    for flag, value in (("--seqpacket", seqpacket), ("--unlink", unlink),
                        ("--mode", file_mode)):
        if value:
            raise InvalidInput("listen", flag, f"{flag} applies to a Unix socket "
                               "(unix:PATH, a path with a /, unix:@NAME)")
    resolved_hints = options.hints_from(
        hints,
        socktype=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG,
        stage="listen",
    )
    if resolved_hints.socktype not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        raise InvalidInput("listen", "--socktype", "listen needs --socktype stream or dgram")
    if udp and resolved_hints.socktype != socket.SOCK_DGRAM:
        raise InvalidInput("listen", "--udp", "--udp contradicts --socktype stream")
    tls_setup = _tls_context(tls, udp, bind_host)
    config = ServeConfig(
        echo=echo,
        iterative=iterative,
        max_clients=max_clients,
        idle_timeout=idle_timeout if idle_timeout else None,
        count=count,
        names=names,
        backlog=backlog,
        tls=tls_setup[0] if tls_setup else None,
    )
    # Signals are caught from before the `listening` event on, so whoever
    # waits for it can stop the server at once and still get the summary.
    with make_trace(settings, "netprobe.render.listen:ListenHuman", raw=raw) as out, \
            StopSignals() as signals:
        if tls_setup is not None:
            out("tls_certificate", tls_setup[1])
        listeners = open_listeners(
            bind_host or None, port, resolved_hints, backlog=backlog, first=first, trace=out,
        )
        try:
            Server(listeners, config, trace=out, payload=out.payload, signals=signals).run()
        finally:
            for listener in listeners:
                # The event loop has usually closed it already (then nothing happens).
                sys_close(out, listener.sock)


def _listen_unix(settings: Settings, port: str, *, hints: options.HintOptions,
                 bind_host: str | None, first: bool, backlog: int, echo: bool,
                 iterative: bool, max_clients: int, idle_timeout: float | None,
                 count: int | None, names: bool, udp: bool, seqpacket: bool, unlink: bool,
                 file_mode: str | None, tls: options.TlsServerOptions, raw: bool) -> None:
    from netprobe.commands.unixsockets import hint_flags, listen_unix, refuse, socktype
    from netprobe.serve import ServeConfig

    refuse("listen", port, [*hint_flags(hints), ("--bind", bind_host), ("--first", first)])
    refuse("listen", port, [("--names", names)], "a Unix client has no name to look up")
    refuse("listen", port, [("--tls", tls.tls)], "not supported there")
    config = ServeConfig(echo=echo, iterative=iterative, max_clients=max_clients,
                         idle_timeout=idle_timeout if idle_timeout else None, count=count,
                         backlog=backlog)
    listen_unix(settings, port, kind=socktype(udp, seqpacket, "listen", port),
                backlog=backlog, unlink=unlink, mode=file_mode, config=config, raw=raw)


def _tls_context(tls: options.TlsServerOptions, udp: bool,
                 bind_host: str | None) -> tuple[Any, TlsCertificateEvent] | None:
    """--tls: the server context and the ``tls_certificate`` event; usage errors first."""
    if not tls.tls:
        for flag, value in (("--cert", tls.cert), ("--key", tls.key), ("--alpn", tls.alpn)):
            if value is not None:
                raise InvalidInput("listen", flag, f"{flag} needs --tls")
        return None
    if udp:
        raise InvalidInput("listen", "--tls", "--tls needs a stream socket (no DTLS)")
    from netprobe.tls.context import (
        TlsOptions,
        certificate_summary,
        check,
        parse_alpn,
        server_context,
    )

    check(TlsOptions(cert=tls.cert, key=tls.key), stage="listen")
    protocols = parse_alpn(tls.alpn, stage="listen")
    # The ephemeral certificate names what a client on this machine would
    # connect to: --bind's HOST, or localhost and the loopback addresses.
    names = [bind_host] if bind_host else []
    names += ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    context, fingerprint = server_context(tls.cert, tls.key, protocols, names)
    return context, certificate_summary(tls.cert, fingerprint, names)
