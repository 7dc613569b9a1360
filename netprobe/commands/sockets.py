"""``netprobe sockets [PORT|PATH]``: the kernel's socket table, as ``ss -tulpnx`` lists it."""

from __future__ import annotations

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.errors import InvalidInput
from netprobe.kernel.table import PROTOCOLS, Query


def query_from(target: str | None, *, every_state: bool, tcp: bool, udp: bool,
               unix: bool) -> Query:
    """The query the arguments ask for; InvalidInput (exit 2) for a bad filter.

    PORT is a number 0-65535 (TCP and UDP local ports), PATH contains a
    ``/`` or is ``unix:PATH`` / ``unix:@NAME`` (a Unix socket's path or
    abstract name); without either, every socket of the protocols asked
    (all three by default).
    """
    chosen = tuple(name for name, wanted in zip(PROTOCOLS, (tcp, udp, unix), strict=True)
                   if wanted) or PROTOCOLS
    port: int | None = None
    path: str | None = None
    if target is not None:
        if target.startswith("unix:"):
            # The forms connect, listen and check take (unix:PATH, unix:@NAME),
            # matched as the table writes the name (a path, or @NAME).
            from netprobe.unix.address import parse

            name = parse(target, "sockets").text
            if not unix and (tcp or udp):
                raise InvalidInput("sockets", target, "a PATH names a Unix socket; "
                                   "--tcp and --udp cannot match it")
            path, chosen = name, ("unix",)
        elif "/" in target:
            if not unix and (tcp or udp):
                raise InvalidInput("sockets", target, "a PATH names a Unix socket; "
                                   "--tcp and --udp cannot match it")
            path, chosen = target, ("unix",)
        elif target.isascii() and target.isdigit() and int(target) <= 65535:
            if unix and not (tcp or udp):
                raise InvalidInput("sockets", target, "Unix sockets have no port "
                                   "(a PATH contains a '/')")
            port, chosen = int(target), tuple(p for p in chosen if p != "unix")
        else:
            raise InvalidInput("sockets", target, "not a PORT (a number 0-65535) or a PATH "
                               "(it contains a '/')")
    return Query(protocols=chosen, listening=not every_state, port=port, path=path)


@click.command(epilog=examples(
    "netprobe sockets              # who listens, on every port",
    "netprobe sockets 8000         # who listens on port 8000, with pid and command",
    "netprobe sockets --all --tcp  # every TCP socket: connections, TIME_WAIT too",
))
@click.argument("target", required=False, metavar="[PORT|PATH]")
@options.sockets_all_option
@options.sockets_tcp_option
@options.sockets_udp_option
@options.sockets_unix_option
@options.global_options
@click.pass_context
def sockets(ctx: click.Context, /, target: str | None, *, every_state: bool, tcp: bool,
            udp: bool, unix: bool) -> None:
    """List the host's sockets from the kernel's own table (NETLINK_SOCK_DIAG).

    By default the listening ones: TCP listeners, bound UDP and Unix
    sockets.  Each row: protocol, state, local and peer address, the accept
    queue (waiting/backlog) of a listener, IPV6_V6ONLY, uid, and the
    processes holding it ("not permitted" where this user may not look).
    """
    from netprobe.kernel.table import read_table, report
    from netprobe.render.sockets import sockets_renderer

    settings = options.settings(ctx)
    query = query_from(target, every_state=every_state, tcp=tcp, udp=udp, unix=unix)
    with sockets_renderer(settings) as out:
        report(read_table(query), out)
