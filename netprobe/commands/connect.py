"""``netprobe connect HOST PORT``: the command's arguments, options and help.

What it does is ``netprobe.commands.connect_run.run``, which the quick path
(``netprobe.quick``) also calls, with the same values, when it can parse the
command line without click.
"""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.commands.connect_run import run


@click.command(epilog=examples(
    'netprobe connect localhost 8000',
    'netprobe connect db 5432 -z --wait 60 --interval 0.5   # wait-for-it in CI',
    'netprobe connect localhost 8000 -c 10 --interval 0.2   # probes, with statistics',
))
@click.argument("host")
@click.argument("port", required=False)
@options.endpoint_hint_options
@options.timeout_option(10.0)
@options.all_candidates_option
@options.happy_eyeballs_option
@options.he_delay_option
@options.check_option
@options.send_option
@options.expect_option
@options.wait_option
@options.interval_option
@options.probe_count_option
@options.max_loss_option
@options.resolve_each_option
@options.udp_option
@options.seqpacket_option
@options.source_option
@options.server_option
@options.explain_option
@options.raw_option
@options.tls_client_options
@options.syscalls_option
@options.global_options
@click.pass_context
def connect(ctx: click.Context, /, host: str, port: str | None, **params: Any) -> None:
    """Connect to HOST PORT, trying every candidate in getaddrinfo's order.

    Each attempt is shown with its outcome, errno and time.  Once connected,
    stdin goes to the peer and the peer's data to stdout; at stdin's EOF the
    write side is shut down and netprobe exits when the peer closes.  HOST
    may be a Unix socket (unix:PATH, a path with a /, unix:@NAME): no PORT.
    """
    run(options.settings(ctx), host, port, **params)
