"""``netprobe resolve HOST [SERVICE]``, its body: getaddrinfo made visible (--dns: DNS beside it).

The click command (arguments, options, help) is ``netprobe.commands.resolve``;
this is what runs once they are parsed, by click or by the quick path
(``netprobe.quick``), and imports no click.
"""

from __future__ import annotations

import socket

from netprobe.addrinfo import Hints
from netprobe.commands.explaining import explained_failures, explaining
from netprobe.errors import InvalidInput, ResolutionFailed
from netprobe.events import Event, Trace
from netprobe.inputs import target
from netprobe.option_values import HintOptions, hints_from
from netprobe.render import Renderer, Settings, make_trace
from netprobe.resolver import getaddrinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.dnsview import DnsServer

#: The human renderer, imported only for human output.
HUMAN = "netprobe.render.resolve:ResolveHuman"


def run(settings: Settings, host: str, service: str | None, *,
            hints: HintOptions, timeout: float, dns: bool, server: str | None,
            explain: bool) -> None:
    """resolve, its arguments parsed (by click, or by the quick path): see ``resolve``'s help."""
    resolved_hints = hints_from(hints, stage="resolve")
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

    # AF_INET6 + AI_V4MAPPED: getaddrinfo asks A too, so the view does.
    v4mapped = bool(hints.flags & socket.AI_V4MAPPED)
    with explained_failures(trace):
        try:
            resolution = getaddrinfo(host, service, hints, trace=hold, timeout=timeout)
        except ResolutionFailed as exc:
            # Exit 3 whatever DNS says, but the view still shows what DNS said
            # (NXDOMAIN, or a server that did not answer).
            view = dnsview.lookup_forward(host, hints.family, server, timeout, trace=trace,
                                          v4mapped=v4mapped).to_json(None)
            exc.extra = {"dns": view}
            out("dns", view)
            raise
    lookup = dnsview.lookup_forward(host, hints.family, server, timeout, trace=trace,
                                    v4mapped=v4mapped)
    # NXDOMAIN and NODATA are answers (exit 0, shown in the view); only a
    # server that did not answer is an error (exit 5 on timeout).
    emit_or_raise(
        trace, "resolved", {**held[0], "dns": lookup.to_json(resolution)},
        lookup.error("dns", host, need_addresses=False),
        json=json, keep=("candidates", "dns"),
    )
