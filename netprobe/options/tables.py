"""check's targets and ``sockets``' filters."""

from __future__ import annotations

import click

# --- check -------------------------------------------------------------------------------

targets_file_option = click.option(
    "-f", "--file", "files", metavar="FILE", multiple=True,
    help="Read targets from FILE, one a line (# comments); - is stdin. Repeatable.",
)
parallel_option = click.option(
    "--parallel", type=click.IntRange(1, 65536), default=64, show_default=True,
    help="Targets checked at once.",
)
invert_option = click.option(
    "--invert", is_flag=True,
    help="Pass when a target does NOT accept (with --wait: until none does).",
)


# --- sockets -----------------------------------------------------------------------------

sockets_all_option = click.option(
    "--all", "-a", "every_state", is_flag=True,
    help="Every state (connections, TIME_WAIT, ...), not only listeners and bound sockets.",
)
sockets_tcp_option = click.option("--tcp", "-t", is_flag=True, help="TCP sockets.")
sockets_udp_option = click.option("--udp", "-u", is_flag=True, help="UDP sockets.")
sockets_unix_option = click.option("--unix", "-x", is_flag=True, help="Unix domain sockets.")
