"""``netprobe resolve HOST [SERVICE]``: getaddrinfo made visible; with --dns, DNS beside it."""

from __future__ import annotations

from typing import Any

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.commands.explaining import explain_failure, explaining
from netprobe.commands.results import emit_or_raise
from netprobe.errors import InvalidInput, ResolutionFailed
from netprobe.events import Fields
from netprobe.render import make_trace
from netprobe.resolver import getaddrinfo, target

#: The human renderer, imported only for human output.
HUMAN = "netprobe.render.resolve:ResolveHuman"


@click.command(epilog=examples(
    'netprobe resolve example.com http --family inet6',
    'netprobe resolve www.example.com --dns                   # DNS beside getaddrinfo',
    'netprobe resolve www.example.com --server 192.0.2.53:5353',
))
@click.argument("host")
@click.argument("service", required=False)
@options.resolve_hint_options
@options.timeout_option(10.0)
@options.dns_option
@options.server_option
@options.explain_option
@options.global_options
@click.pass_context
def resolve(ctx: click.Context, /, host: str, service: str | None, **params: Any) -> None:
    """Resolve HOST [SERVICE] with getaddrinfo; list every candidate in its order.

    An empty HOST or SERVICE ("") is passed as NULL.  --dns (or --server)
    also asks DNS itself and marks each address as from both, getaddrinfo
    only or DNS only.  --explain says which source answered and why the
    order is what it is.
    """
    settings = options.settings(ctx)
    hints = options.hints_from(params, stage="resolve")
    timeout: float | None = params["timeout"] or None
    server_text: str | None = params["server"]
    if not (params["dns"] or server_text is not None):
        with make_trace(settings, HUMAN) as out:
            trace = explaining(out, params["explain"], host=host, hints=hints, timeout=timeout)
            try:
                getaddrinfo(host, service, hints, trace=trace, timeout=timeout)
            except ResolutionFailed as exc:
                explain_failure(trace, exc)
                raise
        return

    from netprobe import dnsview

    # Usage errors first: a bad --server must not wait for getaddrinfo.
    server = dnsview.parse_server(server_text) if server_text is not None else None
    if not host:
        raise InvalidInput("dns", target(None, service or None), "--dns needs a host name")
    with make_trace(settings, HUMAN) as out:
        trace = explaining(out, params["explain"], host=host, hints=hints, timeout=timeout)
        # The one `resolved` event carries the `dns` object, so the core's event
        # is held back until DNS has answered too.
        held: list[Fields] = []

        def hold(event: str, fields: Fields) -> None:
            if event == "resolved":
                held.append(fields)
            else:
                trace(event, fields)

        try:
            resolution = getaddrinfo(host, service, hints, trace=hold, timeout=timeout)
        except ResolutionFailed as exc:
            # Exit 3 whatever DNS says, but the view still shows what DNS said
            # (NXDOMAIN, or a server that did not answer).
            view = dnsview.lookup_forward(host, hints.family, server, timeout).to_json(None)
            exc.extra = {"dns": view}
            out("dns", view)
            explain_failure(trace, exc)
            raise
        lookup = dnsview.lookup_forward(host, hints.family, server, timeout)
        # NXDOMAIN and NODATA are answers (exit 0, shown in the view); only a
        # server that did not answer is an error (exit 5 on timeout).
        emit_or_raise(
            trace, "resolved", {**held[0], "dns": lookup.to_json(resolution)},
            lookup.error("dns", host, need_addresses=False),
            json=settings.json, keep=("candidates", "dns"),
        )
