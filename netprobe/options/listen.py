"""listen's options: binding, serving, bounding the server."""

from __future__ import annotations

import click

from netprobe.options.base import DURATION

# --- listen ---------------------------------------------------------------------------

bind_option = click.option(
    "--bind", "bind_host", metavar="HOST", default=None,
    help="Resolve HOST with AI_PASSIVE instead of the NULL host.",
)
first_option = click.option("--first", is_flag=True, help="Stop at the first candidate that binds.")
backlog_option = click.option(
    "--backlog", type=click.IntRange(1, 65535), default=4096, show_default=True,
    help="listen() backlog.",
)
echo_option = click.option("--echo", is_flag=True, help="Send every byte back to its sender.")
iterative_option = click.option("--iterative", is_flag=True, help="Serve one client at a time.")
max_clients_option = click.option(
    "--max-clients", type=click.IntRange(1), default=1024, show_default=True,
    help="Clients served at once.",
)
idle_timeout_option = click.option(
    "--idle-timeout", type=DURATION, default=None, help="Close a client idle this long.",
)
count_option = click.option(
    "--count", type=click.IntRange(1), default=None, help="Stop after N clients were served.",
)
names_option = click.option("--names", is_flag=True, help="Show client names (getnameinfo).")
