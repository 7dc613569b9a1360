"""``netprobe completion bash|zsh|fish``: print the shell completion script.

The scripts are click's: they call back into netprobe (``_NETPROBE_COMPLETE``)
so completion always knows every option of the installed version.  The
generated copies in ``completions/`` are checked by a test to be current.
"""

from __future__ import annotations

import click

from netprobe import options
from netprobe.commands import examples

SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from netprobe.cli import cli

    kind = get_completion_class(shell)
    if kind is None:  # pragma: no cover - click ships all three
        raise click.BadParameter(f"no completion for {shell}")
    return kind(cli, {}, "netprobe", "_NETPROBE_COMPLETE").source()


@click.command(epilog=examples(
    'eval "$(netprobe completion bash)"',
    'netprobe completion fish | source',
))
@click.argument("shell", type=click.Choice(SHELLS))
@options.global_options
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash: eval "$(netprobe completion bash)"
    zsh:  eval "$(netprobe completion zsh)"
    fish: netprobe completion fish | source
    """
    click.echo(completion_script(shell), nl=False)
