"""``netprobe connect HOST PORT``, its body: open_clientfd made visible, then a netcat-style client.

The click command (arguments, options, help) is ``netprobe.commands.connect``;
this module is what runs once they are parsed, by click or by the quick path
(``netprobe.quick``), and imports no click: a ``connect`` in a CI loop starts
without it.
"""

from __future__ import annotations

import math
import socket

from netprobe.addrinfo import Hints, Resolution
from netprobe.commands.explaining import explained_failures, explaining
from netprobe.connect import Plan, compile_expect, usable_stdin
from netprobe.connect.rounds import (
    UDP_PROBE_WAIT,
    Exchange,
    Method,
    Resolve,
    Round,
    connect_round,
    connect_rounds,
    smallest,
    talk,
)
from netprobe.errors import InvalidInput
from netprobe.events import Trace
from netprobe.inputs import is_ip_literal, target
from netprobe.option_values import HintOptions, TlsClientOptions, hints_from
from netprobe.render import Settings, make_trace
from netprobe.resolver import getaddrinfo, parse_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.connect.tls import TlsClient
    from netprobe.probes.loop import ProbePlan


def _resolver(host: str, service: str | None, hints: Hints, server: str | None,
              trace: Trace) -> Resolve:
    """Each round's resolution: getaddrinfo (explained when it fails, with --explain),
    or the DNS view with --server."""

    if hints.family == socket.AF_UNIX:
        from netprobe.unix.candidate import unix_resolution

        return lambda timeout: unix_resolution(host, hints.socktype)  # nothing to resolve
    # A numeric address is answered from the string: no bounding thread (as check
    # does, netprobe.check.runner), which would cost more than the probe itself.
    bound = not is_ip_literal(host)

    def resolve(timeout: float | None) -> Resolution:
        if server is not None:
            # The DNS view is its own module (dnspython, imported only when asked).
            from netprobe.dnsview import dns_resolution

            resolution: Resolution = dns_resolution(host, service, hints, server,
                                                    timeout=timeout, trace=trace)
            return resolution
        with explained_failures(trace):
            return getaddrinfo(host, service, hints, trace=trace,
                               timeout=timeout if bound else None, stage="connect")

    return resolve


def run(settings: Settings, host: str, port: str | None, *,
            hints: HintOptions, timeout: float, all_candidates: bool,
            happy_eyeballs: bool, he_delay: float, check: bool, send: str | None,
            expect: str | None, wait: float | None, interval: float, probes: int | None,
            max_loss: float | None, resolve_each: bool, udp: bool, seqpacket: bool,
            source: str | None, server: str | None, explain: bool,
            tls: TlsClientOptions, raw: bool) -> None:
    """connect, its arguments parsed (by click, or by the quick path): see ``connect``'s help."""
    from netprobe.unix import is_unix

    # Asked before any socket exists: started with fd 0 closed (``<&-``), the
    # first socket would be fd 0, and be taken for stdin once connected.
    stdin_open = usable_stdin() is not None

    unix_hints: Hints | None = None
    if is_unix(host):
        from netprobe.commands.unixsockets import connect_hints

        unix_hints = connect_hints(host, port, hints=hints, udp=udp, seqpacket=seqpacket,
                                   given=[("--happy-eyeballs", happy_eyeballs),
                                          ("--source", source), ("--server", server),
                                          ("--explain", explain), ("--tls", tls.tls)])
    elif port is None or seqpacket:
        raise InvalidInput("connect", host, "missing PORT (only a Unix socket, a path with "
                           "a / or unix:PATH, takes none)" if port is None else
                           "--seqpacket applies to a Unix socket (unix:PATH, a path with a "
                           "/, unix:@NAME)")
    resolved_hints = unix_hints or hints_from(
        hints, socktype=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM,
        flags=socket.AI_ADDRCONFIG, stage="connect",
    )
    attempt_timeout = timeout or None
    pattern = compile_expect(expect)
    payload = send.encode("utf-8", "surrogateescape") if send is not None else None
    where = target(host or None, port or None)
    if explain and server is not None:
        raise InvalidInput("connect", where, "--explain explains getaddrinfo's answer; "
                           "--server bypasses getaddrinfo")
    _probe_options(probes, max_loss, resolve_each, wait, all_candidates)
    # The probe only applies to datagram candidates (the core checks), so it
    # is armed for --check whatever the socktype hint says, and for each of
    # --count's probes that has no --expect (a probe is -z's).  No ICMP on a
    # Unix socket: a datagram connect() itself says whether anything is bound.
    armed = (check or (probes is not None and pattern is None)) and unix_hints is None
    probe = min(attempt_timeout or UDP_PROBE_WAIT, UDP_PROBE_WAIT) if armed else None
    tls_client = _tls_client(host, tls, udp)
    # connect_renderer: ConnectHuman, or under -q off a terminal one without rich.
    human = ("netprobe.render.quiet:connect_renderer" if probes is None
             else "netprobe.render.probes:ProbesHuman")
    with make_trace(settings, human,
                    show_steps=source is not None, compact=wait is not None,
                    raw=raw) as out:
        # After the renderer exists: parsing --source is a getaddrinfo call (--syscalls).
        bind_to = parse_source(source, trace=out) if source else None
        plan = Plan(timeout=attempt_timeout if attempt_timeout is not None else math.inf,
                    source=bind_to, probe=probe)
        happy = happy_eyeballs and resolved_hints.socktype == socket.SOCK_STREAM
        trace = explaining(out, explain, host=host, hints=resolved_hints,
                           timeout=attempt_timeout,
                           attempts="happy_eyeballs" if happy else "sequential")
        method = Method(plan, every=all_candidates, race=happy_eyeballs, he_delay=he_delay,
                        tls=tls_client)
        resolve = _resolver(host, port, resolved_hints, server, trace)
        if probes is not None:
            from netprobe.probes.loop import ProbePlan

            # -z's close, or with --send the exchange (ended by --expect's match,
            # else by the peer's close); stdin is never read.
            exchange = Exchange(check=payload is None or pattern is not None, send=payload,
                                expect=pattern, timeout=attempt_timeout, stdin=False)
            _probe(resolve, method, where, ProbePlan(probes, interval, max_loss),
                   exchange=exchange, resolve_each=resolve_each, trace=trace,
                   verbose=settings.verbose, syscalls=settings.syscalls)
            return
        done = connect_rounds(resolve, method, where, wait=wait, interval=interval, trace=trace)
        if done.connected is None:
            return  # --all: every candidate connected (and closed)
        talk(done, Exchange(check=check, send=payload, expect=pattern, timeout=attempt_timeout,
                            stdin=stdin_open),
             where=where, trace=out, output=out.payload)


def _probe_options(probes: int | None, max_loss: float | None, resolve_each: bool,
                   wait: float | None, every: bool) -> None:
    """--max-loss and --resolve-each need --count; --wait is another loop; a probe
    counts for the one address it ended on, which --all does not have."""
    if probes is None:
        for flag, value in (("--max-loss", max_loss), ("--resolve-each", resolve_each)):
            if value not in (None, False):
                raise InvalidInput("connect", flag, f"{flag} needs --count")
    elif wait is not None:
        raise InvalidInput("connect", "--wait", "--wait retries until one connect succeeds; "
                           "--count probes a number of times: choose one")
    elif every:
        raise InvalidInput("connect", "--all", "a probe ends on one address; --all connects "
                           "to every candidate (netprobe check probes many targets)")


def _probe(resolve: Resolve, method: Method, where: str, plan: ProbePlan, *,
           exchange: Exchange, resolve_each: bool, trace: Trace, verbose: int,
           syscalls: bool) -> None:
    """--count: the probes, each one round of the connect core (netprobe.probes)."""
    from netprobe.probes.loop import run_probes
    from netprobe.probes.probe import Watcher, make_probe

    # Once, before the first probe (a name that does not resolve is then the
    # run's error, 3, not a probe's), or by each probe with --resolve-each.
    each = resolve if resolve_each else _kept(resolve(smallest(method.plan.timeout)))
    watcher = Watcher(trace, verbose=verbose, syscalls=syscalls, rounds=True)
    asks = ("exchange" if exchange.send is not None or exchange.expect is not None
            else "tls" if method.tls is not None else "connect")

    def once(watched: Trace) -> Round:
        return connect_round(each, method, where, exchange=exchange, trace=watched)

    run_probes(make_probe(once, watcher, asks=asks), plan, trace=trace)


def _kept(resolution: Resolution) -> Resolve:
    """A resolution made once, as every probe's."""

    def resolve(bound: float | None) -> Resolution:
        return resolution

    return resolve


def _tls_client(host: str, tls: TlsClientOptions, udp: bool) -> TlsClient | None:
    """--tls: the options checked and the context made; ssl is imported only then."""
    if not tls.tls:
        for flag, value in (("--sni", tls.sni), ("--alpn", tls.alpn), ("--ca", tls.ca),
                            ("--insecure", tls.insecure), ("--cert", tls.cert),
                            ("--key", tls.key), ("--min-days", tls.min_days)):
            if value not in (None, False):
                raise InvalidInput("connect", flag, f"{flag} needs --tls")
        return None
    if udp:
        raise InvalidInput("connect", "--tls", "--tls needs a stream socket (no DTLS)")
    from netprobe.connect.tls import TlsClient
    from netprobe.tls.context import TlsOptions, parse_alpn

    return TlsClient(host, TlsOptions(
        sni=tls.sni, alpn=parse_alpn(tls.alpn, "connect"), ca=tls.ca, insecure=tls.insecure,
        cert=tls.cert, key=tls.key, min_days=tls.min_days))
