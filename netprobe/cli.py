"""The command line: a lazy click group and ``main``, where errors become exit statuses.

Start-up time matters (CI runs netprobe thousands of times), so this module
imports only click and the small core modules; each subcommand's module is
imported when that subcommand runs (``LazyGroup``), and rich only by the
human renderer.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click

from netprobe.errors import (
    NetprobeError,
    StdoutClosed,
    TargetsFailed,
    printable,
)
from netprobe.options import global_options
from netprobe.render import Settings
from netprobe.startup import exit_with, silence_stdout
from netprobe.status import EXIT_STATUS as EXIT_STATUS
from netprobe.status import ExitStatus
from netprobe.status import status_for as status_for

#: subcommand -> "module:attribute"; imported only when used.
COMMANDS = {
    "resolve": "netprobe.commands.resolve:resolve",
    "reverse": "netprobe.commands.reverse:reverse",
    "connect": "netprobe.commands.connect:connect",
    "listen": "netprobe.commands.listen:listen",
    "check": "netprobe.commands.check:check",
    "sockets": "netprobe.commands.sockets:sockets",
    "completion": "netprobe.commands.completion:completion",
}

class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, _, attribute = spec.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # click turns EPIPE into a silent exit 1; the SPEC wants 141, so a
        # closed stdout must not reach click as an OSError.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise StdoutClosed() from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
def cli() -> None:
    """The sockets interface made visible: resolve, reverse, connect, listen, check, sockets."""


def _error_event(settings: Settings, stage: str, target: str, code: str | None,
                 message: str, status: ExitStatus, extra: dict[str, Any] | None = None) -> None:
    if not settings.json:
        return
    from netprobe.render.jsonl import JsonLines

    fields: dict[str, Any] = {"stage": stage, "target": target, "code": code,
                              "message": message, "exit": int(status)}
    fields.update(extra or {})
    JsonLines()("error", fields)


# click >= 8.2 raises this for a group run without a subcommand.
_NO_ARGS: type[BaseException] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def run(args: list[str], settings: Settings) -> int:
    """Run the command line; every exception becomes an exit status here and only here."""
    try:
        result = cli.main(args, prog_name="netprobe", standalone_mode=False, obj=settings)
        # --help and --version end with click's own exit code; commands return None.
        return result if isinstance(result, int) else ExitStatus.SUCCESS
    except SystemExit:
        raise
    except BaseException as exc:
        return failed(exc, settings)


def failed(exc: BaseException, settings: Settings) -> ExitStatus:
    """The exit status of a command that raised ``exc``, reported on stderr (and as an
    ``error`` event with --json): the one place that maps them all, for the click path
    (``run``) and the quick path (``netprobe.quick``) alike."""
    status = status_for(exc)
    try:
        _report(exc, status, settings)
    except StdoutClosed:
        status = ExitStatus.STDOUT_CLOSED
    if status is ExitStatus.STDOUT_CLOSED:
        silence_stdout()
    return status


def _report(exc: BaseException, status: ExitStatus, settings: Settings) -> None:
    if isinstance(exc, NetprobeError):
        line = exc.line()
        if isinstance(exc, TargetsFailed):
            # Each failed target already had its own ``error`` event, and the
            # ``summary`` must stay the last line.
            sys.stderr.write(f"netprobe: {line}\n")
            return
        _error_event(settings, exc.stage, exc.target, exc.code, exc.message, status, exc.extra)
    elif isinstance(exc, _NO_ARGS) and isinstance(exc, click.UsageError) and exc.ctx:
        # Plain `netprobe`: the help is the useful answer (as git does), exit 2.
        sys.stderr.write(exc.ctx.get_help() + "\n")
        _error_event(settings, "usage", exc.ctx.command_path, None, "missing command", status)
        return
    elif isinstance(exc, click.ClickException):
        message = printable(exc.format_message().replace("\n", " "))
        command = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
        line = f"usage: {message}" + (f" (see '{command} --help')" if command else "")
        _error_event(settings, "usage", command, None, message, status)
    elif status in (ExitStatus.INTERRUPTED, ExitStatus.STDOUT_CLOSED):
        if status is ExitStatus.INTERRUPTED:
            sys.stderr.write("netprobe: interrupted\n")
            _error_event(settings, "interrupted", "", "SIGINT", "interrupted", status)
        return
    else:
        line = printable(f"internal error: {type(exc).__name__}: {exc}")
        if settings.debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        else:
            line += " (run with --debug for the traceback)"
        _error_event(settings, "internal", "", type(exc).__name__, str(exc), status)
    sys.stderr.write(f"netprobe: {line}\n")
    sys.stderr.flush()


def _early_settings(args: list[str]) -> Settings:
    """Global flags seen before parsing, so even a usage error honours --json."""
    options = args[: args.index("--")] if "--" in args else args
    return Settings(json="--json" in options, debug="--debug" in options)


def main(argv: list[str] | None = None) -> NoReturn:
    """The command line parsed by click (``netprobe.__main__`` tries the quick path first)."""
    args = list(sys.argv[1:] if argv is None else argv)
    exit_with(run(args, _early_settings(args)))
