"""``netprobe reverse ADDR [PORT]``: getnameinfo made visible (and, with --dns, PTR and FCrDNS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from netprobe import options
from netprobe.commands import examples
from netprobe.commands.explaining import explained_failures, explaining
from netprobe.errors import CheckFailed, NetprobeError, ResolutionFailed
from netprobe.events import Event, Trace
from netprobe.render import Renderer, make_trace
from netprobe.resolver import getnameinfo

if TYPE_CHECKING:
    from netprobe.dnsview import DnsServer

#: The human renderer, imported only for human output.
HUMAN = "netprobe.render.resolve:ResolveHuman"


@click.command(epilog=examples(
    'netprobe reverse 127.0.0.1 80',
    'netprobe reverse 2001:db8::1 443 --numeric-serv',
    'netprobe reverse 192.0.2.1 --fcrdns   # PTR + forward confirmation; exit 6 if not',
))
@click.argument("address")
@click.argument("port", required=False)
@options.ni_options
@options.timeout_option(10.0)
@options.dns_option
@options.server_option
@options.fcrdns_option
@options.explain_option
@options.syscalls_option
@options.global_options
@click.pass_context
def reverse(ctx: click.Context, /, address: str, port: str | None, *, ni_flags: int,
            timeout: float, dns: bool, server: str | None, fcrdns: bool,
            explain: bool) -> None:
    """Turn ADDR [PORT] back into names with getnameinfo (IPv6 may carry %scope).

    --dns (or --server, or --fcrdns) also asks DNS for ADDR's PTR records and
    whether each name's A/AAAA lead back to ADDR (forward-confirmed reverse DNS).
    """
    settings = options.settings(ctx)
    limit = timeout or None
    if not (dns or server is not None or fcrdns):
        with make_trace(settings, HUMAN) as out:
            trace = explaining(out, explain, host=address, ni_flags=ni_flags, timeout=limit)
            with explained_failures(trace):
                getnameinfo(address, port, ni_flags, trace=trace, timeout=limit)
        return

    from netprobe import dnsview

    chosen = dnsview.parse_server(server) if server is not None else None
    with make_trace(settings, HUMAN) as out:
        trace = explaining(out, explain, host=address, ni_flags=ni_flags, timeout=limit)
        _reverse_with_dns(out, trace, address, port, ni_flags, chosen, limit, fcrdns=fcrdns,
                          json=settings.json)


def _reverse_with_dns(out: Renderer, trace: Trace, address: str, port: str | None,
                      flags: int, server: DnsServer | None, timeout: float | None, *,
                      fcrdns: bool, json: bool) -> None:
    """``trace`` is ``out``, or ``out`` wrapped to add ``--explain``'s answer."""
    from netprobe import dnsview
    from netprobe.commands.results import emit_or_raise

    held: list[Event] = []

    def hold(event: str, fields: Event) -> None:
        if event == "reversed":
            held.append(fields)
        else:
            trace(event, fields)

    with explained_failures(trace):
        try:
            getnameinfo(address, port, flags, trace=hold, timeout=timeout)
        except ResolutionFailed as exc:
            # getnameinfo's failure decides the exit status (3); DNS is still shown.
            view = dnsview.lookup_reverse(address, server, timeout, trace=trace).to_json()
            exc.extra = {"dns": view}
            out("dns", view)
            raise
    lookup = dnsview.lookup_reverse(address, server, timeout, trace=trace)
    error: NetprobeError | None = lookup.error("dns", address)
    if error is None and fcrdns and not lookup.confirmed:
        error = CheckFailed("fcrdns", address, lookup.unconfirmed_reason(), "FCRDNS")
    emit_or_raise(
        trace, "reversed", {**held[0], "dns": lookup.to_json()}, error,
        json=json, keep=("host", "service", "dns"),
    )
