"""The shape of the quick path's table (``netprobe.quick.tables``, generated)."""

from __future__ import annotations

from netprobe.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


class Command(Record):
    """A command the quick path may run: what click would parse, and the body it calls."""

    __slots__ = ()
    _fields = ("body", "arguments", "options", "defaults", "groups")
    #: "module:function", called as body(settings, *arguments, **values).
    body: str = field(0)
    #: The positional arguments in order: (name, required, variadic); a variadic one
    #: (the last) takes every argument left, as a tuple.
    arguments: tuple[tuple[str, bool, bool], ...] = field(1)
    #: Every option name (``--count``, ``-c``) the quick path reads.
    options: dict[str, Option] = field(2)
    #: The value of every option that is not given, as click gives it.
    defaults: dict[str, Any] = field(3)
    #: Options reaching the body as one value (``collect``): (name, "module:build", keys).
    groups: tuple[tuple[str, str, tuple[str, ...]], ...] = field(4)

    def __new__(cls, body: str, arguments: tuple[tuple[str, bool, bool], ...],
                options: dict[str, Option], defaults: dict[str, Any],
                groups: tuple[tuple[str, str, tuple[str, ...]], ...]) -> Command:
        return tuple.__new__(cls, (body, arguments, options, defaults, groups))
