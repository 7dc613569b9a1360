"""``netprobe check TARGET... [-f FILE]``, its body: many targets at once, each as ``connect -z``.

The click command (arguments, options, help) is ``netprobe.commands.check``;
this is what runs once they are parsed, by click or by the quick path
(``netprobe.quick``), and imports no click.
"""

from __future__ import annotations

import math

from netprobe.check.runner import Config, Runner, TlsSetup, wanted_descriptors
from netprobe.check.targets import Scheme, Target, gather
from netprobe.errors import InvalidInput, TargetsFailed
from netprobe.limits import raise_fd_limit
from netprobe.option_values import HintOptions, hints_from
from netprobe.render import Settings, make_trace
from netprobe.status import status_for


def run(settings: Settings, targets: tuple[str, ...], *, files: tuple[str, ...],
          parallel: int, timeout: float | None, happy_eyeballs: bool, he_delay: float,
          wait: float | None, interval: float, invert: bool, inet4: bool, inet6: bool,
          sni: str | None, alpn: str | None, ca: str | None, insecure: bool,
          cert: str | None, key: str | None, min_days: int | None) -> None:
    """check, its arguments parsed (by click, or by the quick path): see ``check``'s help."""
    # Every target is validated before anything is checked (exit 2 names the bad one).
    parsed = gather(targets, files)
    hints = hints_from(HintOptions(
        family=None, inet4=inet4, inet6=inet6, socktype=None, protocol=None, passive=False,
        canonname=False, addrconfig=False, v4mapped=False, ai_all=False, numeric_host=False,
        numeric_serv=False), stage="check")
    tls = _tls_setup(parsed, sni=sni, alpn=alpn, ca=ca, insecure=insecure, cert=cert, key=key,
                     min_days=min_days)
    config = Config(timeout=timeout or math.inf, family=hints.family,
                    happy_eyeballs=happy_eyeballs, he_delay=he_delay, wait=wait,
                    interval=interval, invert=invert, parallel=parallel, tls=tls)
    wanted = wanted_descriptors(config, len(parsed))
    limit = raise_fd_limit(wanted)
    if not limit.fits(wanted):
        raise InvalidInput(
            "check", f"--parallel {parallel}",
            f"needs up to {wanted} file descriptors, the limit is {limit.soft} "
            f"(hard limit {limit.hard}): lower --parallel or raise 'ulimit -n'", "EMFILE")
    with make_trace(settings, "netprobe.render.check:CheckHuman") as out:
        results = Runner(parsed, config, trace=out, status_of=status_for).run()
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        assert first.error is not None
        raise TargetsFailed(first.error, first.target.text, len(failed), len(results))


def _tls_setup(targets: list[Target], *, sni: str | None, alpn: str | None, ca: str | None,
               insecure: bool, cert: str | None, key: str | None,
               min_days: int | None) -> TlsSetup | None:
    """The TLS options checked and the context made once, when a target is ``tls://``.

    Before anything is checked, as connect does: a bad --ca or --cert is a
    usage error (2), not a failure of every tls:// target.  TLS options
    without a ``tls://`` target are a usage error too: they would be ignored.
    """
    given = {"--sni": sni, "--alpn": alpn, "--ca": ca, "--insecure": insecure or None,
             "--cert": cert, "--key": key, "--min-days": min_days}
    if not any(t.scheme is Scheme.TLS for t in targets):
        for flag, value in given.items():
            if value is not None:
                raise InvalidInput("check", flag, f"{flag} needs a tls:// target")
        return None
    # ssl and the TLS package only load when a target is tls://.
    from netprobe.tls.context import TlsOptions, check, client_context, parse_alpn

    tls_options = TlsOptions(sni=sni, alpn=parse_alpn(alpn, "check"), ca=ca, insecure=insecure,
                             cert=cert, key=key, min_days=min_days)
    check(tls_options, "check")
    return TlsSetup(tls_options, client_context(tls_options, "check"))
