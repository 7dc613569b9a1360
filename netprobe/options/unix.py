"""Unix domain sockets' options (HOST with a /, unix:PATH, unix:@NAME): connect's and listen's."""

from __future__ import annotations

import click

seqpacket_option = click.option(
    "--seqpacket", is_flag=True, help="Unix sockets: SOCK_SEQPACKET (records, connected).",
)
unlink_option = click.option(
    "--unlink", is_flag=True,
    help="Unix: replace a stale socket file (never a live socket's, never a non-socket).",
)
mode_option = click.option(
    "--mode", "file_mode", metavar="MODE", default=None,
    help="Unix: the socket file's mode, set after bind (octal, e.g. 0660).",
)
