"""``netprobe resolve HOST [SERVICE]``: getaddrinfo made visible; with --dns, DNS beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from netprobe import options
from netprobe.addrinfo import Hints
from netprobe.commands import examples
from netprobe.commands.explaining import explained_failures, explaining
from netprobe.errors import InvalidInput, ResolutionFailed
from netprobe.events import Event, Trace
from netprobe.inputs import target
from netprobe.render import Renderer, make_trace
from netprobe.resolver import getaddrinfo

if TYPE_CHECKING:
    from netprobe.dnsview import DnsServer

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
@options.syscalls_option
@options.global_options
@click.pass_context
def resolve(ctx: click.Context, /, host: str, service: str | None, *,
            hints: options.HintOptions, timeout: float, dns: bool, server: str | None,
            explain: bool) -> None:
    """Resolve HOST [SERVICE] with getaddrinfo; list every candidate in its order.

    An empty HOST or SERVICE ("") is passed as NULL.  --dns (or --server)
    also asks DNS itself and marks each address as from both, getaddrinfo
    only or DNS only.  --explain says which source answered and why the
    order is what it is.
    """
    settings = options.settings(ctx)
    resolved_hints = options.hints_from(hints, stage="resolve")
    limit = timeout or None
    if not (dns or server is not None):
        with make_trace(settings, HUMAN) as out:
            trace = explaining(out, explain, host=host, hints=resolved_hints, timeout=limit)
            with explained_failures(trace):
                getaddrinfo(host, service, resolved_hints, trace=trace, timeout=limit)
        return

    from netprobe import dnsview

    # Usage errors first: a bad --server must not wait for getaddrinfo.
    chosen = dnsview.parse_server(server) if server is not None else None
    if not host:
        raise InvalidInput("dns", target(None, service or None), "--dns needs a host name")
    with make_trace(settings, HUMAN) as out:
        trace = explaining(out, explain, host=host, hints=resolved_hints, timeout=limit)
        _resolve_with_dns(out, trace, host, service, resolved_hints, chosen, limit,
                          json=settings.json)


def _resolve_with_dns(out: Renderer, trace: Trace, host: str, service: str | None,
                      hints: Hints, server: DnsServer | None, timeout: float | None, *,
                      json: bool) -> None:
    """``trace`` is ``out``, or ``out`` wrapped to add ``--explain``'s answer."""
    from netprobe import dnsview
    from netprobe.commands.results import emit_or_raise

    # The one `resolved` event carries the `dns` object, so the core's event
    # is held back until DNS has answered too.
    held: list[Event] = []

    def hold(event: str, fields: Event) -> None:
        if event == "resolved":
            held.append(fields)
        else:
            trace(event, fields)

    with explained_failures(trace):
        try:
            resolution = getaddrinfo(host, service, hints, trace=hold, timeout=timeout)
        except ResolutionFailed as exc:
            # Exit 3 whatever DNS says, but the view still shows what DNS said
            # (NXDOMAIN, or a server that did not answer).
            view = dnsview.lookup_forward(host, hints.family, server, timeout,
                                          trace=trace).to_json(None)
            exc.extra = {"dns": view}
            out("dns", view)
            raise
    lookup = dnsview.lookup_forward(host, hints.family, server, timeout, trace=trace)
    # NXDOMAIN and NODATA are answers (exit 0, shown in the view); only a
    # server that did not answer is an error (exit 5 on timeout).
    emit_or_raise(
        trace, "resolved", {**held[0], "dns": lookup.to_json(resolution)},
        lookup.error("dns", host, need_addresses=False),
        json=json, keep=("candidates", "dns"),
    )
