"""``netprobe listen PORT``: open_listenfd made visible, then a concurrent server."""

from __future__ import annotations

import socket
from typing import Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.errors import InvalidInput
from netprobe.render import make_trace


@click.command(epilog=examples(
    'netprobe listen 8000 --echo',
    'netprobe listen 8000 --bind 127.0.0.1 --count 1 > received   # one client, to a file',
    'netprobe listen 5353 --udp --echo',
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
@options.global_options
@click.pass_context
def listen(ctx: click.Context, /, port: str, **params: Any) -> None:
    """Bind PORT on every address getaddrinfo gives (AI_PASSIVE), then serve clients.

    Each candidate's socket, setsockopt, bind and listen is shown with its
    outcome.  Without --echo what clients send goes to stdout; with --echo it
    goes back to them.  SIGINT/SIGTERM stop the server with a summary (exit 0).
    """
    from netprobe.listen import open_listeners
    from netprobe.serve import ServeConfig, Server, StopSignals

    settings = options.settings(ctx)
    udp = bool(params.pop("udp"))
    hints = options.hints_from(
        params,
        socktype=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG,
        stage="listen",
    )
    if hints.socktype not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        raise InvalidInput("listen", "--socktype", "listen needs --socktype stream or dgram")
    if udp and hints.socktype != socket.SOCK_DGRAM:
        raise InvalidInput("listen", "--udp", "--udp contradicts --socktype stream")
    idle_timeout: float | None = params["idle_timeout"]
    config = ServeConfig(
        echo=params["echo"],
        iterative=params["iterative"],
        max_clients=params["max_clients"],
        idle_timeout=idle_timeout if idle_timeout else None,
        count=params["count"],
        names=params["names"],
        backlog=params["backlog"],
    )
    # Signals are caught from before the `listening` event on, so whoever
    # waits for it can stop the server at once and still get the summary.
    with make_trace(settings, "netprobe.render.listen:ListenHuman") as out, \
            StopSignals() as signals:
        listeners = open_listeners(
            params["bind_host"] or None, port, hints,
            backlog=params["backlog"], first=params["first"], trace=out,
        )
        try:
            Server(listeners, config, trace=out, payload=out.payload, signals=signals).run()
        finally:
            for listener in listeners:
                listener.sock.close()
