"""The options' ground: the settings object, composing decorators, the parameter types,
and ``collect`` (several options reaching a command as one value)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from netprobe.constants import PROTOCOLS
from netprobe.durations import parse_duration
from netprobe.render import Settings as Settings

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):
        obj = ctx.find_root().obj = Settings()
    return obj


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
        text = str(value).lower()
        if text in PROTOCOLS:
            return PROTOCOLS[text]
        if text.isascii() and text.isdigit() and int(text) <= 255:
            return int(text)
        self.fail(f"{value!r} is not any, tcp, udp or a protocol number 0-255", param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in PROTOCOLS if name.startswith(incomplete)]


DURATION = Duration()
PROTOCOL = Protocol()


def collect(name: str, build: Callable[[dict[str, Any]], object],
             keys: tuple[str, ...]) -> Callable[[F], F]:
    """A decorator: the options ``keys`` reach the command as one value, ``name``.

    So a command's signature says ``hints: HintOptions`` instead of a dozen
    flags, and nothing pops them out of a shared ``**params`` dict.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = build({key: kwargs.pop(key) for key in keys})
            return fn(*args, **kwargs)

        return cast(F, command)

    return decorate
