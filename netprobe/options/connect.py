"""``--timeout``, the DNS view, ``--explain``, and connect's own options (probes included)."""

from __future__ import annotations

from collections.abc import Callable

import click

from netprobe.options.base import DURATION, PERCENT, F, sets_setting, settings

# --- time and the DNS view ----------------------------------------------------------


def timeout_option(default: float | None) -> Callable[[F], F]:
    shown = f"{default:g} s" if default is not None else "none"
    return click.option(
        "--timeout", type=DURATION, default=default, show_default=False,
        help=f"Give up after this long (default {shown}); 2.5, 250ms, 2m.",
    )


dns_option = click.option("--dns", is_flag=True, help="Also ask DNS itself (dnspython).")
server_option = click.option(
    "--server", metavar="ADDR[:PORT]", default=None,
    help="DNS server to ask (implies --dns); IPv6 as [::1]:5353.",
)
fcrdns_option = click.option(
    "--fcrdns", is_flag=True, help="Exit 6 unless forward-confirmed reverse DNS holds.",
)
@sets_setting("explain")
def _set_explain(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # The renderers show a failure's sockets and route with --explain too.
    settings(ctx).explain |= value
    return value


explain_option = click.option(
    "--explain", is_flag=True, callback=_set_explain,
    help="Say where each answer came from and why in this order (glibc's rules); "
         "-v adds the policy table.",
)
#: listen: a failed bind's holders, with their processes.
bind_explain_option = click.option(
    "--explain", is_flag=True, callback=_set_explain, expose_value=False,
    help="With a failed bind: the sockets that hold the port, with their processes.",
)


# --- connect ---------------------------------------------------------------------------

all_candidates_option = click.option(
    "--all", "all_candidates", is_flag=True,
    help="Try every candidate; succeed only if all connect.",
)
happy_eyeballs_option = click.option(
    "--happy-eyeballs", is_flag=True, help="Race the candidates as RFC 8305 does.",
)
he_delay_option = click.option(
    "--he-delay", type=DURATION, default=0.25, show_default="250ms",
    help="Happy Eyeballs: delay before the next attempt starts.",
)
check_option = click.option("--check", "-z", is_flag=True, help="Connect, close, report.")
send_option = click.option(
    "--send", metavar="TEXT", default=None, help="Send TEXT instead of stdin."
)
expect_option = click.option(
    "--expect", metavar="REGEX", default=None,
    help="Succeed as soon as the peer's data matches REGEX; exit 6 if it never does.",
)
wait_option = click.option(
    "--wait", type=DURATION, default=None, metavar="DURATION",
    help="Retry resolve and connect until this deadline (wait-for-it).",
)
interval_option = click.option(
    "--interval", type=DURATION, default=1.0, show_default="1s",
    help="Pause between --wait rounds; with --count, from one probe's start to the next's.",
)
probe_count_option = click.option(
    "--count", "-c", "probes", type=click.IntRange(0), default=None, metavar="N",
    help="Probe N times (0: until Ctrl-C), with statistics, as ping does.",
)
max_loss_option = click.option(
    "--max-loss", type=PERCENT, default=None, metavar="PERCENT",
    help="--count: succeed when at most PERCENT % of the probes were lost "
         "(not: when one succeeded).",
)
resolve_each_option = click.option(
    "--resolve-each", is_flag=True, help="--count: resolve again for every probe.",
)
udp_option = click.option("--udp", "-u", is_flag=True, help="Datagrams (SOCK_DGRAM).")
source_option = click.option(
    "--source", metavar="ADDR[:PORT]", default=None, help="Bind to this local address first.",
)


# --- connect and listen -------------------------------------------------------------

raw_option = click.option(
    "--raw", is_flag=True,
    help="Peer bytes raw to a terminal too (as nc); a pipe or file always gets them raw.",
)
