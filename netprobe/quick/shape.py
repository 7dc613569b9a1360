"""The shape of the quick path's table (``netprobe.quick.tables``, generated)."""

from __future__ import annotations

from typing import Any, NamedTuple

#: One option name's entry: (kind, dest, type, setting).
#:
#: * kind: ``"flag"`` (True when given), ``"value"`` (takes one value of ``type``),
#:   ``"values"`` (repeatable: a tuple of every value given, in order),
#:   ``"setting"`` (a global flag: it only sets ``setting`` in the Settings) or
#:   ``"count"`` (each time given, adds one to ``setting``);
#: * dest: the parameter's name (two names of one option share it);
#: * type: for a value, ``("str",)``, ``("choice", choices)``, ``("int", low, high)``,
#:   ``("float", low, high)`` (None: no bound), ``("duration",)`` or ``("protocol",)``;
#: * setting: the Settings field its click callback sets, if it has one.
Option = tuple[str, str, "tuple[Any, ...] | None", "str | None"]


class Command(NamedTuple):
    """A command the quick path may run: what click would parse, and the body it calls."""

    #: "module:function", called as body(settings, *arguments, **values).
    body: str
    #: The positional arguments in order: (name, required, variadic); a variadic one
    #: (the last) takes every argument left, as a tuple.
    arguments: tuple[tuple[str, bool, bool], ...]
    #: Every option name (``--count``, ``-c``) the quick path reads.
    options: dict[str, Option]
    #: The value of every option that is not given, as click gives it.
    defaults: dict[str, Any]
    #: Options reaching the body as one value (``collect``): (name, "module:build", keys).
    groups: tuple[tuple[str, str, tuple[str, ...]], ...]
