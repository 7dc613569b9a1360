"""The options' ground: the settings object, composing decorators, the parameter types,
and ``collect`` (several options reaching a command as one value)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from netprobe.constants import PROTOCOLS
from netprobe.durations import parse_duration
from netprobe.option_values import protocol_number
from netprobe.render import Settings as Settings

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):
        obj = ctx.find_root().obj = Settings()
    return obj


C = TypeVar("C", bound=Callable[..., Any])


def sets_setting(field: str) -> Callable[[C], C]:
    """Marks an option's callback as one that only merges the option's value into
    ``Settings.<field>`` (``|=``, or ``+=`` for a count): the quick path does that in its
    stead (``netprobe.quick``), and refuses a command whose callbacks say nothing."""

    def mark(callback: C) -> C:
        setattr(callback, "sets_setting", field)  # noqa: B010 (a function's attribute)
        return callback

    return mark


def acts_when_given(callback: C) -> C:
    """Marks an option's callback as one that does nothing unless the option is given
    (``--version``): the quick path leaves a command line with that option to click."""
    setattr(callback, "acts_when_given", True)  # noqa: B010
    return callback


def compose(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """One decorator made of several, applied so that help lists them in order."""

    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


# --- parameter types ------------------------------------------------------------


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Protocol(click.ParamType):  # type: ignore[type-arg]
    """``any``, ``tcp``, ``udp`` or a protocol number."""

    name = "protocol"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        number = protocol_number(str(value))
        if number is not None:
            return number
        self.fail(f"{value!r} is not any, tcp, udp or a protocol number 0-255", param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in PROTOCOLS if name.startswith(incomplete)]


class Percent(click.FloatRange):
    """0-100, and a number: click's FloatRange lets ``nan`` through (no comparison with
    it is true), and a loss is never "at most nan"."""

    name = "percent"

    def __init__(self) -> None:
        super().__init__(0, 100)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:  # nan: the one float unequal to itself
            self.fail(f"{value!r} is not a percentage 0-100", param, ctx)
        return number


DURATION = Duration()
PROTOCOL = Protocol()
PERCENT = Percent()


#: A command's groups of options, outermost first: (name, build, keys) each, as the quick
#: path's table records them (``netprobe.quick.generate``).
Collected = tuple[tuple[str, Callable[..., object], tuple[str, ...]], ...]


def collect(name: str, build: Callable[..., object],
            keys: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """A decorator: the options ``keys`` reach the command as one value, ``name``.

    So a command's signature says ``hints: HintOptions`` instead of a dozen
    flags, and nothing pops them out of a shared ``**params`` dict.
    ``build`` is a record class (``netprobe.record``: its fields are the keys, its
    constructor takes them by name) or a function of the dict of them.
    The command keeps the grouping (``collected``), so that the quick path
    can group the same options into the same value without click.
    """
    by_name = keys is None
    # A record class (or a NamedTuple): its fields, in order, are the keys.
    fields: tuple[str, ...] = build._fields if keys is None else keys  # type: ignore[attr-defined]

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in fields}
            kwargs[name] = build(**values) if by_name else build(values)
            return fn(*args, **kwargs)

        inner: Collected = getattr(fn, "collected", ())
        command.collected = ((name, build, fields), *inner)  # type: ignore[attr-defined]
        return cast(F, command)

    return decorate
