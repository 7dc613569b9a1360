"""``netprobe reverse ADDR [PORT]``: getnameinfo made visible."""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.errors import CheckFailed
from netprobe.events import Fields, Trace
from netprobe.resolver import getnameinfo


def make_trace(settings: options.Settings) -> Trace:
    if settings.json:
        from netprobe.render.jsonl import JsonLines

        return JsonLines()
    from netprobe.render.resolve import ResolveHuman

    return ResolveHuman(settings)


@click.command()
@click.argument("address")
@click.argument("port", required=False)
@options.ni_options
@options.timeout_option(10.0)
@options.dns_option
@options.server_option
@options.fcrdns_option
@options.global_options
@click.pass_context
def reverse(ctx: click.Context, /, address: str, port: str | None, **params: Any) -> None:
    """Turn ADDR [PORT] back into names with getnameinfo (IPv6 may carry %scope)."""
    settings = options.settings(ctx)
    flags = options.ni_flags_from(params)
    trace = make_trace(settings)
    timeout: float | None = params["timeout"] or None
    server: str | None = params["server"]
    if not (params["dns"] or server or params["fcrdns"]):
        getnameinfo(address, port, flags, trace=trace, timeout=timeout)
        return

    from netprobe.dnsview import reverse_view

    held: list[Fields] = []

    def hold(event: str, fields: Fields) -> None:
        (held.append(fields) if event == "reversed" else trace(event, fields))

    getnameinfo(address, port, flags, trace=hold, timeout=timeout)
    view = reverse_view(address, server, timeout)
    trace("reversed", {**held[0], "dns": view})
    if params["fcrdns"] and not view.get("confirmed"):
        raise CheckFailed("fcrdns", address, "no PTR name maps back to the address", "FCRDNS")
