"""``netprobe connect HOST PORT``: open_clientfd made visible, then a netcat-style client."""

from __future__ import annotations

import math
import re
import socket
import time
from typing import TYPE_CHECKING

import click

from netprobe import options
from netprobe.addrinfo import Hints, Resolution
from netprobe.commands import examples
from netprobe.commands.explaining import explain_failure, explaining
from netprobe.connect import (
    Attempt,
    CandidatesFailed,
    CandidatesTimedOut,
    Connected,
    Outcome,
    Plan,
    compile_expect,
    connect_every,
    connect_sequential,
    happy_eyeballs,
    relay,
    relay_datagrams,
    usable_stdin,
)
from netprobe.errors import InvalidInput, NetprobeError, ResolutionFailed, TimedOut, TlsFailed
from netprobe.events import Trace, monotonic, ms
from netprobe.inputs import target
from netprobe.render import Renderer, make_trace
from netprobe.resolver import getaddrinfo, parse_source
from netprobe.syscalls import sys_close

if TYPE_CHECKING:
    from netprobe.connect.tls import TlsClient
    from netprobe.schema import ClosedEvent, RoundEvent
    from netprobe.tls.channel import TlsChannel

# --udp --check waits this long for an ICMP port-unreachable (or a reply).
# On loopback and LANs the ICMP error arrives within a millisecond; a second
# covers slow paths without making a check of an open port (which answers
# nothing at all) feel hung.  --timeout shortens it.
UDP_PROBE_WAIT = 1.0


def _resolve(host: str, service: str | None, hints: Hints, server: str | None,
             timeout: float | None, trace: Trace) -> Resolution:
    if hints.family == socket.AF_UNIX:
        from netprobe.unix.candidate import unix_resolution

        return unix_resolution(host, hints.socktype)  # nothing to resolve
    if server is not None:
        # The DNS view is its own module (dnspython, imported only when asked).
        from netprobe.dnsview import dns_resolution

        resolution: Resolution = dns_resolution(host, service, hints, server,
                                                timeout=timeout, trace=trace)
        return resolution
    try:
        return getaddrinfo(host, service, hints, trace=trace, timeout=timeout, stage="connect")
    except ResolutionFailed as exc:
        explain_failure(trace, exc)
        raise


def _round_outcome(exc: NetprobeError) -> str:
    attempts: list[Attempt] = getattr(exc, "attempts", [])
    if attempts and attempts[-1].outcome is not None:
        return attempts[-1].outcome.value
    if isinstance(exc, ResolutionFailed):
        return "unresolved"
    if exc.stage == "tls":
        return "tls_failed"
    if isinstance(exc, TimedOut):
        return Outcome.TIMEOUT.value
    return Outcome.ERROR.value


@click.command(epilog=examples(
    'netprobe connect localhost 8000',
    'netprobe connect db 5432 -z --wait 60 --interval 0.5   # wait-for-it in CI',
    "netprobe connect 127.0.0.1 22 -z --expect '^SSH-2'     # banner check",
))
@click.argument("host")
@click.argument("port", required=False)
@options.endpoint_hint_options
@options.timeout_option(10.0)
@options.all_candidates_option
@options.happy_eyeballs_option
@options.he_delay_option
@options.check_option
@options.send_option
@options.expect_option
@options.wait_option
@options.interval_option
@options.udp_option
@options.seqpacket_option
@options.source_option
@options.server_option
@options.explain_option
@options.raw_option
@options.tls_client_options
@options.syscalls_option
@options.global_options
@click.pass_context
def connect(ctx: click.Context, /, host: str, port: str | None, *,
            hints: options.HintOptions, timeout: float, all_candidates: bool,
            happy_eyeballs: bool, he_delay: float, check: bool, send: str | None,
            expect: str | None, wait: float | None, interval: float, udp: bool,
            seqpacket: bool, source: str | None, server: str | None, explain: bool,
            tls: options.TlsClientOptions, raw: bool) -> None:
    """Connect to HOST PORT, trying every candidate in getaddrinfo's order.

    Each attempt is shown with its outcome, errno and time.  Once connected,
    stdin goes to the peer and the peer's data to stdout; at stdin's EOF the
    write side is shut down and netprobe exits when the peer closes.  HOST
    may be a Unix socket (unix:PATH, a path with a /, unix:@NAME): no PORT.
    """
    from netprobe.commands.unixsockets import connect_hints

    settings = options.settings(ctx)
    unix_hints = connect_hints(host, port, hints=hints, udp=udp, seqpacket=seqpacket, given=[
        ("--happy-eyeballs", happy_eyeballs), ("--source", source), ("--server", server),
        ("--explain", explain), ("--tls", tls.tls)])
    resolved_hints = unix_hints or options.hints_from(
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
    # The probe only applies to datagram candidates (the core checks), so it
    # is armed for --check whatever the socktype hint says.
    # No ICMP on a Unix socket: a datagram connect() itself says whether anything is bound.
    probe = (min(attempt_timeout or UDP_PROBE_WAIT, UDP_PROBE_WAIT)
             if check and unix_hints is None else None)
    tls_client = _tls_client(host, tls, udp)
    with make_trace(settings, "netprobe.render.connect:ConnectHuman",
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
        done = _connect(host, port, resolved_hints, plan, server=server, wait=wait,
                        interval=interval, every=all_candidates, race=happy_eyeballs,
                        he_delay=he_delay, where=where, trace=trace, tls=tls_client)
        if done is None:
            return
        connected, channel = done
        if channel is not None:
            from netprobe.connect.tls import talk_tls

            # --check --expect: a banner check; stdin unread, write side kept open.
            talk_tls(channel, check=check, stdin=None if check else usable_stdin(),
                     send=payload, expect=pattern, timeout=attempt_timeout, where=where,
                     out=out)
            return
        # The candidate that connected decides how to talk: --socktype any
        # or dgram can give a datagram socket without --udp.
        # SOCK_SEQPACKET is connected, with an EOF: it talks as a stream does.
        datagrams = connected.attempt.candidate.socktype == socket.SOCK_DGRAM
        _talk(connected, check=check, udp=datagrams, timeout=attempt_timeout, send=payload,
              expect=pattern, where=where, out=out)


def _connect(host: str, port: str | None, hints: Hints, plan: Plan, *, server: str | None,
             wait: float | None, interval: float, every: bool, race: bool, he_delay: float,
             where: str, trace: Trace, tls: TlsClient | None = None
             ) -> tuple[Connected, TlsChannel | None] | None:
    """Resolve, connect (and with --tls, handshake), in rounds with --wait; None after --all."""
    clock = monotonic
    deadline = clock() + wait if wait is not None else None
    timeout = None if math.isinf(plan.timeout) else plan.timeout
    plan = plan._replace(deadline=deadline)
    number = 0
    while True:
        number += 1
        started = clock()
        try:
            remaining = None if deadline is None else max(deadline - started, 0.001)
            resolve_timeout = _smallest(timeout, remaining)
            resolution = _resolve(host or "", port, hints, server, resolve_timeout, trace)
            candidates = resolution.candidates
            channel: TlsChannel | None = None
            if every and tls is not None:
                from netprobe.connect.tls import connect_every_tls

                connect_every_tls(candidates, plan, where, tls, _smallest(timeout, remaining),
                                  trace=trace)
                result: Connected | None = None
            elif every:
                connect_every(candidates, plan, where, trace=trace)
                result = None
            elif race and hints.socktype == socket.SOCK_STREAM:
                # Datagram "connects" finish at once: there is nothing to race.
                result = happy_eyeballs(candidates, plan, where, delay=he_delay, trace=trace)
            else:
                result = connect_sequential(candidates, plan, where, trace=trace)
            if result is not None and tls is not None:
                # TLS on the candidate that connected (the race, if any, was on TCP).
                channel = tls.handshake(result.sock, where, _smallest(timeout, remaining),
                                        trace=trace)
        except (ResolutionFailed, CandidatesFailed, CandidatesTimedOut, TimedOut,
                TlsFailed) as exc:
            if deadline is None or wait is None:
                raise
            now = clock()
            failed: RoundEvent = {"n": number, "outcome": _round_outcome(exc),
                                  "errno": exc.code, "message": exc.message,
                                  "elapsed_ms": ms(now - started),
                                  "remaining_ms": ms(max(deadline - now, 0.0))}
            trace("round", failed)
            if now + interval >= deadline:
                # Sleeping past the deadline would only delay the verdict.
                time.sleep(max(deadline - now, 0.0))
                raise TimedOut("connect", where,
                               f"not connected within {wait:g} s ({number} round"
                               f"{'s' * (number != 1)}; last: {exc.message})",
                               exc.code) from None
            time.sleep(interval)
            continue
        if deadline is not None:
            succeeded: RoundEvent = {"n": number, "outcome": Outcome.CONNECTED.value,
                                     "errno": None, "message": "",
                                     "elapsed_ms": ms(clock() - started),
                                     "remaining_ms": ms(max(deadline - clock(), 0.0))}
            trace("round", succeeded)
        return None if result is None else (result, channel)


def _smallest(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _talk(connected: Connected, *, check: bool, udp: bool, timeout: float | None,
          send: bytes | None, expect: re.Pattern[bytes] | None, where: str,
          out: Renderer) -> None:
    """The data phase: --check closes at once, otherwise relay both ways."""
    sock = connected.sock
    try:
        if check and expect is None:
            checked: ClosedEvent = {"bytes_in": 0, "bytes_out": 0, "duration_ms": 0.0,
                                    "reason": "check"}
            out("closed", checked)
            return
        # --check --expect: a banner check (-z --expect '^SSH-'): stdin is not
        # read, only --send is sent, and the write side stays open.
        stdin = None if check else usable_stdin()
        if udp:
            relay_datagrams(sock, stdin=stdin, send=send, output=out.payload, where=where,
                            idle=timeout if timeout is not None else math.inf,
                            expect=expect, trace=out)
        else:
            relay(sock, stdin=stdin, send=send, output=out.payload, expect=expect,
                  timeout=timeout, half_close=not check, trace=out)
    finally:
        sys_close(out, sock)


def _tls_client(host: str, tls: options.TlsClientOptions, udp: bool) -> TlsClient | None:
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
