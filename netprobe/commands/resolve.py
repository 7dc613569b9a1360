"""``netprobe resolve HOST [SERVICE]``: the command's arguments, options and help.

What it does is ``netprobe.commands.resolve_run.run``, which the quick path
(``netprobe.quick``) also calls, with the same values, when it can parse the
command line without click.
"""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.commands.resolve_run import run


@click.command(epilog=examples(
    'netprobe resolve example.com http --family inet6',
    'netprobe resolve www.example.com --dns                   # DNS beside getaddrinfo',
    'netprobe resolve www.example.com --server 192.0.2.53:5353',
))
@click.argument("host")
@click.argument("service", required=False)
@options.resolve_hint_options
@options.timeout_option(10.0)
@options.dns_option
@options.server_option
@options.explain_option
@options.syscalls_option
@options.global_options
@click.pass_context
def resolve(ctx: click.Context, /, host: str, service: str | None, **params: Any) -> None:
    """Resolve HOST [SERVICE] with getaddrinfo; list every candidate in its order.

    An empty HOST or SERVICE ("") is passed as NULL.  --dns (or --server)
    also asks DNS itself and marks each address as from both, getaddrinfo
    only or DNS only.  --explain says which source answered and why the
    order is what it is.
    """
    run(options.settings(ctx), host, service, **params)
