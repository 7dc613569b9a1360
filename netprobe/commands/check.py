"""``netprobe check TARGET... [-f FILE]``: the command's arguments, options and help.

What it does is ``netprobe.commands.check_run.run``, which the quick path
(``netprobe.quick``) also calls, with the same values, when it can parse the
command line without click.
"""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.commands.check_run import run


@click.command(epilog=examples(
    "netprobe check db:5432 cache:6379 dns://api.internal udp://10.0.0.53:53",
    "netprobe check -f targets.txt --wait 2m --interval 2s   # wait until all are up",
    "netprobe check localhost:8080 --invert --wait 30s       # until the port is freed",
))
@click.argument("targets", nargs=-1, metavar="TARGET...")
@options.targets_file_option
@options.parallel_option
@options.timeout_option(10.0)
@options.happy_eyeballs_option
@options.he_delay_option
@options.wait_option
@options.interval_option
@options.invert_option
@options.inet4_option
@options.inet6_option
@options.sni_option
@options.alpn_option
@options.ca_option
@options.insecure_option
@options.cert_option
@options.key_option
@options.min_days_option
@options.syscalls_option
@options.global_options
@click.pass_context
def check(ctx: click.Context, /, targets: tuple[str, ...], **params: Any) -> None:
    """Check many targets at once: HOST:PORT, tcp://, udp://, tls://, dns://NAME, [IPV6]:PORT.

    Each target is resolved and connected to as `connect --check` does (every
    candidate, --timeout per attempt; tls://HOST:PORT adds the handshake and
    the TLS options), --parallel at a time.  Exit 0 when all
    passed, else the status of the first target that failed, in the order given.
    """
    run(options.settings(ctx), targets, **params)
