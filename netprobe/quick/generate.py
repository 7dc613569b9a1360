"""Writes the quick path's table from the click commands: ``python -m netprobe.quick.generate``.

The options are defined once, as click options (``netprobe.options``);
this reads them back from click's own objects (names, types, defaults as
click computes them, the callbacks' marks, ``collect``'s groups) and writes
them as plain data for ``netprobe.quick``, which must not import click.
Anything the quick path could not do exactly as click does (a callback with
no mark, an option taking several values, a type not listed here) is an
error here, not a silent difference there.  tests/test_quick.py fails when
the committed table is not what this writes.
"""

from __future__ import annotations

import importlib
import pprint
import sys
from pathlib import Path
from typing import Any

import click

from netprobe.cli import cli
from netprobe.options import Duration, Protocol
from netprobe.quick.shape import Command, Option
from netprobe.render import Settings

#: The commands the quick path runs, and the click-free body each one's click command calls.
BODIES = {"connect": "netprobe.commands.connect_run:run",
          "resolve": "netprobe.commands.resolve_run:run",
          "check": "netprobe.commands.check_run:run"}

TABLE = Path(__file__).with_name("tables.py")


class Unsupported(Exception):
    """the quick path cannot read this option as click does."""


def value_type(param: click.Option) -> tuple[Any, ...]:
    """The quick path's name for a value option's click type."""
    kind = param.type
    if isinstance(kind, Duration):
        return ("duration",)
    if isinstance(kind, Protocol):
        return ("protocol",)
    if isinstance(kind, click.Choice):
        if not kind.case_sensitive or not all(isinstance(c, str) for c in kind.choices):
            raise Unsupported(param.name)
        return ("choice", tuple(kind.choices))
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        if kind.clamp or kind.min_open or kind.max_open:
            raise Unsupported(param.name)
        return ("int" if isinstance(kind, click.IntRange) else "float", kind.min, kind.max)
    if kind is click.STRING:
        return ("str",)
    raise Unsupported(f"{param.name}: {kind!r}")


def entry(param: click.Option) -> Option | None:
    """An option's entry, or None for one the quick path leaves to click (--version)."""
    if param.nargs != 1 or param.secondary_opts or (param.multiple and param.is_flag):
        raise Unsupported(str(param.name))
    name = str(param.name)
    callback = param.callback
    setting: str | None = getattr(callback, "sets_setting", None)
    if callback is not None and setting is None:
        if getattr(callback, "acts_when_given", False):
            return None
        raise Unsupported(f"{name}: a callback that says nothing of what it does")
    if param.count:
        if setting is None or param.expose_value:
            raise Unsupported(name)
        return ("count", name, None, setting)
    if param.is_flag:
        if not param.is_bool_flag:
            raise Unsupported(name)
        return ("setting" if not param.expose_value else "flag", name, None, setting)
    if setting is not None:
        raise Unsupported(name)
    return ("values" if param.multiple else "value", name, value_type(param), None)


def options_of(command: click.Command) -> dict[str, Option]:
    table: dict[str, Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            found = entry(param)
            if found is not None:
                for opt in param.opts:
                    table[opt] = found
    return table


def _path(function: Any) -> str:
    path = f"{function.__module__}:{function.__qualname__}"
    module, _, name = path.partition(":")
    if getattr(importlib.import_module(module), name, None) is not function:
        raise Unsupported(f"{path} is not importable by that name")
    return path


def command_entry(name: str, body: str) -> Command:
    command = cli.commands.get(name) or cli.get_command(click.Context(cli), name)
    assert command is not None
    settings = command.context_settings
    if set(settings) - {"help_option_names"} or command.allow_extra_args \
            or command.ignore_unknown_options or not command.allow_interspersed_args:
        raise Unsupported(f"{name}: context settings")
    arguments = tuple((str(p.name), bool(p.required), p.nargs == -1) for p in command.params
                      if isinstance(p, click.Argument))
    for at, param in enumerate(p for p in command.params if isinstance(p, click.Argument)):
        variadic = param.nargs == -1 and at == len(arguments) - 1
        if (param.nargs != 1 and not variadic) or param.type is not click.STRING:
            raise Unsupported(str(param.name))
    # The defaults as click computes them: a command line of the required arguments only.
    given = [f"argument-{n}" for n, required, _ in arguments if required]
    context = command.make_context(name, given, obj=Settings())
    defaults = {key: value for key, value in context.params.items()
                if key not in {argument[0] for argument in arguments}}
    groups = tuple((group, _path(build), keys)
                   for group, build, keys in getattr(command.callback, "collected", ()))
    return Command(body, arguments, options_of(command), defaults, groups)


def _literal(value: Any, indent: str) -> str:
    """``value`` as Python: a dict one entry a line, anything else as pprint writes it."""
    if isinstance(value, dict) and value:
        inner = indent + "    "
        entries = "".join(f"{inner}{key!r}: {_literal(item, inner)},\n"
                          for key, item in value.items())
        return f"{{\n{entries}{indent}}}"
    if isinstance(value, tuple) and value and all(isinstance(item, tuple) for item in value):
        inner = indent + "    "
        items = "".join(f"{inner}{item!r},\n" for item in value)
        return f"(\n{items}{indent})"
    return pprint.pformat(value, width=10_000)


def shared(tables: dict[str, dict[str, Any]], kind: str,
           group: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries several commands' tables (``kind``: options or defaults) have alike (the
    hints, --timeout, the TLS options), by the commands that have them: written once,
    each command's table naming them (``group``'s are written as GROUP)."""
    owners: dict[tuple[str, Any], list[str]] = {}
    for name, table in tables.items():
        for key, found in table.items():
            if key not in group or group[key] != found:
                owners.setdefault((key, found), []).append(name)
    sets: dict[str, dict[str, Any]] = {}
    for (key, found), names in owners.items():
        if len(names) > 1:
            label = f"{kind.upper()}_OF_" + "_".join(name.upper() for name in sorted(names))
            sets.setdefault(label, {})[key] = found
    return sets


def _table_text(table: dict[str, Any], sets: dict[str, dict[str, Any]]) -> str:
    """A command's table, naming the shared sets it holds whole, then its own entries."""
    names = [label for label, entries in sets.items() if entries.items() <= table.items()]
    taken = {key for label in names for key in sets[label]}
    own = {key: found for key, found in table.items() if key not in taken}
    spread = "".join(f"            **{label},\n" for label in names)
    return "{\n" + spread + _literal(own, "        ")[2:] if own else \
        "{\n" + spread + "        }"


def table_text() -> str:
    group = options_of(cli)
    commands = {name: command_entry(name, body) for name, body in BODIES.items()}
    sets = {"GROUP": group}
    for kind in ("options", "defaults"):
        sets |= shared({name: getattr(c, kind) for name, c in commands.items()}, kind,
                       group if kind == "options" else {})
    lines = [
        '"""The quick path\'s table, written by ``python -m netprobe.quick.generate`` from the',
        'click commands: do not edit (tests/test_quick.py fails when the two differ)."""',
        "",
        "# ruff: noqa: E501 (one entry a line, however long)",
        "",
        "from __future__ import annotations",
        "",
        "from netprobe.quick.shape import Command, Option",
        "",
        "TYPE_CHECKING = False",
        "if TYPE_CHECKING:",
        "    from typing import Any",
        "",
        "#: The global flags before the command (``netprobe --json connect ...``), and after it.",
        f"GROUP: dict[str, Option] = {_literal(group, '')}",
    ]
    for label, entries in sets.items():
        if label == "GROUP":
            continue
        kind, _, of = label.lower().partition("_of_")
        *first, last = of.split("_")
        value = "Option" if kind == "options" else "Any"
        lines += ["", f"#: The {kind} {', '.join(first)} and {last} have alike.",
                  f"{label}: dict[str, {value}] = {_literal(entries, '')}"]
    lines += ["", "COMMANDS: dict[str, Command] = {"]
    for name, command in commands.items():
        lines.append(f"    {name!r}: Command(")
        for field, value in command._asdict().items():
            text = (_table_text(value, {k: v for k, v in sets.items()
                                        if k == "GROUP" or k.startswith(field.upper())})
                    if field in ("options", "defaults") else _literal(value, "        "))
            lines.append(f"        {field}={text},")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    TABLE.write_text(table_text(), encoding="utf-8")
    sys.stdout.write(f"wrote {TABLE}\n")


if __name__ == "__main__":
    main()
