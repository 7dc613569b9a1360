"""``netprobe resolve HOST [SERVICE]``: getaddrinfo made visible."""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.errors import ResolutionFailed
from netprobe.events import Fields, Trace
from netprobe.resolver import getaddrinfo


def make_trace(settings: options.Settings) -> Trace:
    if settings.json:
        from netprobe.render.jsonl import JsonLines

        return JsonLines()
    from netprobe.render.resolve import ResolveHuman

    return ResolveHuman(settings)


@click.command()
@click.argument("host")
@click.argument("service", required=False)
@options.resolve_hint_options
@options.timeout_option(10.0)
@options.dns_option
@options.server_option
@options.global_options
@click.pass_context
def resolve(ctx: click.Context, /, host: str, service: str | None, **params: Any) -> None:
    """Resolve HOST [SERVICE] with getaddrinfo; list every candidate in its order.

    An empty HOST or SERVICE ("") is passed as NULL.
    """
    settings = options.settings(ctx)
    hints = options.hints_from(params, stage="resolve")
    trace = make_trace(settings)
    timeout: float | None = params["timeout"] or None
    server: str | None = params["server"]
    if not (params["dns"] or server):
        getaddrinfo(host, service, hints, trace=trace, timeout=timeout)
        return

    # With the DNS view the one `resolved` event carries a `dns` object, so
    # the core's event is held back until DNS has answered too.
    from netprobe.dnsview import forward_view

    held: list[Fields] = []

    def hold(event: str, fields: Fields) -> None:
        if event == "resolved":
            held.append(fields)
        else:
            trace(event, fields)

    try:
        resolution = getaddrinfo(host, service, hints, trace=hold, timeout=timeout)
    except ResolutionFailed as exc:
        # Exit 3 whatever DNS says, but the view still shows what DNS said.
        exc.extra = {"dns": forward_view(host or "", hints.family, None, server, timeout)}
        trace("dns", exc.extra["dns"])
        raise
    view = forward_view(host or "", hints.family, resolution, server, timeout)
    trace("resolved", {**held[0], "dns": view})
