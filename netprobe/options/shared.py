"""The global options (`--json`, `-q`, `-v`, `--debug`, `--version`) and `--syscalls`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from netprobe.options.base import F, acts_when_given, compose, sets_setting, settings

# --- global options -------------------------------------------------------------


@sets_setting("json")
def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).json |= value


@sets_setting("quiet")
def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).quiet |= value


@sets_setting("verbose")
def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    settings(ctx).verbose += value


@sets_setting("debug")
def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).debug |= value


@acts_when_given
def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from netprobe import __version__

        click.echo(f"netprobe {__version__}")
        ctx.exit(0)


def _global_flag(*decls: str, callback: Callable[[click.Context, click.Parameter, Any], None],
                 help: str, count: bool = False) -> Callable[[F], F]:
    """A global option: handled by its callback as it is parsed, never passed to a command."""
    return click.option(*decls, is_flag=not count, count=count, callback=callback, help=help,
                        expose_value=False, is_eager=True)


json_option = _global_flag("--json", callback=_set_json,
                           help="JSON Lines on stdout, one event a line.")
quiet_option = _global_flag("-q", "--quiet", callback=_set_quiet,
                            help="Only results, errors and payload.")
verbose_option = _global_flag("-v", "--verbose", count=True, callback=_set_verbose,
                              help="More detail (repeatable).")
debug_option = _global_flag("--debug", callback=_set_debug,
                            help="Show a traceback for internal errors.")
version_option = _global_flag("--version", callback=_version,
                              help="Print the version and exit.")
#: Accepted before and after the subcommand: ``netprobe --json resolve x`` and
#: ``netprobe resolve x --json`` are the same.
global_options = compose(json_option, quiet_option, verbose_option, debug_option, version_option)


@sets_setting("syscalls")
def _set_syscalls(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).syscalls |= value


#: resolve, reverse, connect, listen: every sockets-interface call, in C form.
syscalls_option = click.option(
    "--syscalls", is_flag=True, callback=_set_syscalls, expose_value=False,
    help="Show every sockets-interface call in C form, numbered and timed.",
)
