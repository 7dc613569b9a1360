"""The quick path: a command line netprobe can read with certainty, run without click.

Why: click is a third of a ``connect``'s start-up (importing it pulls in
inspect, ast, dis, uuid, platform and datetime: some 70 million
instructions, 30 ms here), and ``netprobe connect ... -z --wait`` or
``--count`` runs thousands of times in CI loops, where the command line is
always a plain one.  So ``netprobe.__main__`` first asks ``run_quick``; when
it answers None, click parses the command line as it always has.

Design decision: the options are still defined once, by click.  The table
this module reads (``netprobe.quick.tables``) is generated from the click
commands (``python -m netprobe.quick.generate``) and committed;
tests/test_quick.py fails when the two differ, and checks, over random
command lines, that the quick path reaches the command's body with exactly
the values and settings click gives it, or declines.

Design decision: decline whatever is not certain.  The quick path reads
only ``--name value``, ``--name=value``, ``-x value``, flags, the group's
global flags before the command, and positional arguments that do not
start with ``-``.  Anything else goes to click, which then also writes the
error, the help and the completions: combined short flags (``-zv``, ``-vv``),
``-c5``, ``--``, an option given twice (click keeps the last), a value that
starts with ``-``, a number click would read but a plain-digits check does
not (``+5``, `` 5``), a value click would reject (so that click's own
message is the one written), an option whose callback does more than set a
flag, too few or too many arguments, a shell asking for completions.
Declining costs nothing but click's start-up, which is what every run paid
before.

Errors of the command itself (a refused connect, a bad --source) are mapped
to their exit status where every exception is (``netprobe.cli.failed``),
imported then: a failure pays for click, a success does not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from netprobe.durations import parse_duration
from netprobe.option_values import protocol_number
from netprobe.quick.shape import Option
from netprobe.quick.tables import COMMANDS, GROUP
from netprobe.render import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    #: What the quick path hands a command's body: the settings, the positional
    #: arguments, the keyword arguments (options, grouped as click groups them).
    Parsed = tuple[Callable[..., Any], Settings, list[Any], dict[str, Any]]


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _number(text: str) -> bool:
    """Plain decimal digits with at most one point inside: what float() and click agree on."""
    whole, point, fraction = text.partition(".")
    return _digits(whole) and (not point or _digits(fraction))


def convert(kind: tuple[Any, ...], text: str) -> tuple[bool, Any]:
    """(True, the value click would give) for ``text`` of that type, or (False, None)."""
    name = kind[0]
    if name == "str":
        return True, text
    if name == "choice":
        return (True, text) if text in kind[1] else (False, None)
    if name == "int" or name == "float":
        if not (_digits(text) if name == "int" else _number(text)):
            return False, None
        value = int(text) if name == "int" else float(text)
        low, high = kind[1], kind[2]
        if (low is not None and value < low) or (high is not None and value > high):
            return False, None
        return True, value
    if name == "duration":
        try:
            return True, parse_duration(text)
        except ValueError:
            return False, None
    if name == "protocol":
        number = protocol_number(text)
        return (number is not None), number
    return False, None


def _set(settings: Settings, option: Option) -> None:
    """A global flag given: what its click callback would do to the settings."""
    field = option[3]
    if field is None:
        return
    if option[0] == "count":
        setattr(settings, field, getattr(settings, field) + 1)
    else:
        setattr(settings, field, True)


def parse(args: list[str]) -> Parsed | None:
    """The body, settings and arguments of a command line read with certainty, else None."""
    settings = Settings()
    at = 0
    given: set[str] = set()
    while at < len(args) and args[at].startswith("-"):
        option = GROUP.get(args[at])
        if option is None or option[1] in given:
            return None
        given.add(option[1])
        _set(settings, option)
        at += 1
    command = COMMANDS.get(args[at]) if at < len(args) else None
    if command is None:
        return None
    options = command.options
    values = dict(command.defaults)
    positional: list[str] = []
    given = set()
    at += 1
    while at < len(args):
        arg = args[at]
        at += 1
        if not arg.startswith("-"):
            positional.append(arg)
            continue
        name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = options.get(name)
        if option is None or (option[1] in given and option[0] != "values"):
            return None
        given.add(option[1])
        kind, dest, value_type, _ = option
        if kind not in ("value", "values"):
            if equals:
                return None
            _set(settings, option)
            if kind == "flag":
                values[dest] = True
            continue
        if not equals:
            if at == len(args) or args[at].startswith("-"):
                return None
            inline = args[at]
            at += 1
        ok, value = convert(value_type, inline) if value_type is not None else (False, None)
        if not ok:
            return None
        values[dest] = (*values[dest], value) if kind == "values" else value
    arguments = _arguments(command.arguments, positional)
    if arguments is None:
        return None
    for name, build, keys in command.groups:
        values[name] = _built(build)(**{key: values.pop(key) for key in keys})
    return _built(command.body), settings, arguments, values


def _arguments(wanted: tuple[tuple[str, bool, bool], ...],
               given: list[str]) -> list[Any] | None:
    """The positional arguments as click hands them over (None where absent, a tuple for a
    variadic last one), or None when there are too few or too many."""
    variadic = bool(wanted) and wanted[-1][2]
    fixed = wanted[:-1] if variadic else wanted
    required = sum(1 for _, needed, _ in fixed if needed)
    if len(given) < required or (variadic and wanted[-1][1] and len(given) <= len(fixed)):
        return None
    if not variadic and len(given) > len(fixed):
        return None
    values: list[Any] = [*given[:len(fixed)], *[None] * (len(fixed) - len(given))]
    if variadic:
        values.append(tuple(given[len(fixed):]))
    return values


def _built(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    # importlib.import_module's work without importing importlib (and warnings).
    __import__(module)
    function: Callable[..., Any] = getattr(sys.modules[module], name)
    return function


def run_quick(args: list[str]) -> int | None:
    """Run the command line by the quick path: its exit status, or None to leave it to click."""
    if os.environ.get("_NETPROBE_COMPLETE"):
        return None  # a shell asking for completions: click's
    parsed = parse(args)
    if parsed is None:
        return None
    body, settings, positional, values = parsed
    try:
        try:
            body(settings, *positional, **values)
        except BrokenPipeError:
            # As the click group does: the SPEC's 141, not click's silent 1.
            from netprobe.errors import StdoutClosed

            raise StdoutClosed() from None
        except (EOFError, KeyboardInterrupt):
            # As click does: end the line ^C left on the terminal, then report an
            # interruption (click's Abort, which EOFError becomes too).
            sys.stderr.write("\n")
            sys.stderr.flush()
            raise KeyboardInterrupt from None
    except SystemExit:
        raise
    except BaseException as exc:
        from netprobe.cli import failed

        return failed(exc, settings)
    return 0
