"""Every command-line option, defined exactly once and shared by the commands.

Commands compose these decorators; none of them calls ``click.option``
itself (``tests/test_contract.py`` checks it).  Options that mean the same
thing on several commands (the hints, ``--timeout``, the DNS view) are the
same object everywhere, so their spelling, help and parsing cannot drift.

SPEC conflict, resolved here: the SPEC gives AI_ALL the flag ``--all`` on every
command that resolves, and also gives ``connect --all`` the meaning "try every
candidate".  ``connect`` keeps ``--all`` for its own meaning (the issue asks
for it) and every command spells AI_ALL ``--ai-all``; ``resolve`` and
``reverse``, where there is no clash, accept ``--all`` for AI_ALL too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import click

from netprobe.addrinfo import Hints
from netprobe.constants import AI_FLAGS, FAMILIES, NI_FLAGS, PROTOCOLS, SOCKTYPES
from netprobe.durations import parse_duration
from netprobe.errors import InvalidInput
from netprobe.render import Settings as Settings

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def settings(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):
        obj = ctx.find_root().obj = Settings()
    return obj


def compose(*decorators: Callable[[Any], Any]) -> Callable[[F], F]:
    """One decorator made of several, applied so that help lists them in order."""

    def apply(fn: F) -> F:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


# --- parameter types ------------------------------------------------------------


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Protocol(click.ParamType):  # type: ignore[type-arg]
    """``any``, ``tcp``, ``udp`` or a protocol number."""

    name = "protocol"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).lower()
        if text in PROTOCOLS:
            return PROTOCOLS[text]
        if text.isascii() and text.isdigit() and int(text) <= 255:
            return int(text)
        self.fail(f"{value!r} is not any, tcp, udp or a protocol number 0-255", param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in PROTOCOLS if name.startswith(incomplete)]


DURATION = Duration()
PROTOCOL = Protocol()


# --- global options -------------------------------------------------------------


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).json |= value


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).quiet |= value


def _set_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    settings(ctx).verbose += value


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).debug |= value


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from netprobe import __version__

        click.echo(f"netprobe {__version__}")
        ctx.exit(0)


def _global_flag(*decls: str, callback: Callable[[click.Context, click.Parameter, Any], None],
                 help: str, count: bool = False) -> Callable[[F], F]:
    """A global option: handled by its callback as it is parsed, never passed to a command."""
    return click.option(*decls, is_flag=not count, count=count, callback=callback, help=help,
                        expose_value=False, is_eager=True)


json_option = _global_flag("--json", callback=_set_json,
                           help="JSON Lines on stdout, one event a line.")
quiet_option = _global_flag("-q", "--quiet", callback=_set_quiet,
                            help="Only results, errors and payload.")
verbose_option = _global_flag("-v", "--verbose", count=True, callback=_set_verbose,
                              help="More detail (repeatable).")
debug_option = _global_flag("--debug", callback=_set_debug,
                            help="Show a traceback for internal errors.")
version_option = _global_flag("--version", callback=_version,
                              help="Print the version and exit.")
#: Accepted before and after the subcommand: ``netprobe --json resolve x`` and
#: ``netprobe resolve x --json`` are the same.
global_options = compose(json_option, quiet_option, verbose_option, debug_option, version_option)


def _set_syscalls(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings(ctx).syscalls |= value


#: resolve, reverse, connect, listen: every sockets-interface call, in C form.
syscalls_option = click.option(
    "--syscalls", is_flag=True, callback=_set_syscalls, expose_value=False,
    help="Show every sockets-interface call in C form, numbered and timed.",
)


# --- getaddrinfo hints (resolve, connect, listen) ---------------------------------

family_option = click.option(
    "--family", type=click.Choice(list(FAMILIES)), default=None,
    help="ai_family (default unspec).",
)
inet4_option = click.option("-4", "inet4", is_flag=True, help="Same as --family inet.")
inet6_option = click.option("-6", "inet6", is_flag=True, help="Same as --family inet6.")
socktype_option = click.option(
    "--socktype", type=click.Choice(list(SOCKTYPES)), default=None, help="ai_socktype.",
)
protocol_option = click.option(
    "--protocol", type=PROTOCOL, default=None, help="ai_protocol: any, tcp, udp or a number.",
)
passive_option = click.option("--passive", is_flag=True, help="AI_PASSIVE.")
canonname_option = click.option("--canonname", is_flag=True, help="AI_CANONNAME.")
# --numeric-host and --numeric-serv mean AI_* flags where names are resolved
# and NI_* flags for reverse: one spelling, two options, so that each
# command's help names the flag it passes.
numeric_host_option = click.option(
    "--numeric-host", "numeric_host", is_flag=True,
    help="AI_NUMERICHOST: HOST must be a numeric address.",
)
numeric_serv_option = click.option(
    "--numeric-serv", "numeric_serv", is_flag=True,
    help="AI_NUMERICSERV: the service must be a port number.",
)
addrconfig_option = click.option("--addrconfig", is_flag=True, help="AI_ADDRCONFIG.")
v4mapped_option = click.option("--v4mapped", is_flag=True, help="AI_V4MAPPED.")
ai_all_option = click.option("--ai-all", "ai_all", is_flag=True, help="AI_ALL.")
ai_all_or_all_option = click.option("--ai-all", "--all", "ai_all", is_flag=True, help="AI_ALL.")

_hint_options = (
    family_option, inet4_option, inet6_option, socktype_option, protocol_option,
    passive_option, canonname_option, addrconfig_option, v4mapped_option,
)
class HintOptions(NamedTuple):
    """The hints options as given on the command line (``hints_from`` makes Hints of them)."""

    family: str | None
    inet4: bool
    inet6: bool
    socktype: str | None
    protocol: int | None
    passive: bool
    canonname: bool
    addrconfig: bool
    v4mapped: bool
    ai_all: bool
    numeric_host: bool
    numeric_serv: bool


def _collect(name: str, build: Callable[[dict[str, Any]], object],
             keys: tuple[str, ...]) -> Callable[[F], F]:
    """A decorator: the options ``keys`` reach the command as one value, ``name``.

    So a command's signature says ``hints: HintOptions`` instead of a dozen
    flags, and nothing pops them out of a shared ``**params`` dict.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[name] = build({key: kwargs.pop(key) for key in keys})
            return fn(*args, **kwargs)

        return cast(F, command)

    return decorate


_collect_hints = _collect("hints", lambda values: HintOptions(**values), HintOptions._fields)

#: The hints of the SPEC for ``resolve`` (numeric flags and AI_ALL included).
resolve_hint_options = compose(
    _collect_hints, *_hint_options, numeric_host_option, numeric_serv_option,
    ai_all_or_all_option,
)
#: The same hints for ``connect`` and ``listen``, where ``--all`` means something else.
endpoint_hint_options = compose(
    _collect_hints, *_hint_options, numeric_host_option, numeric_serv_option, ai_all_option
)


def hints_from(
    given: HintOptions, *, socktype: int = 0, flags: int = 0, stage: str = "usage"
) -> Hints:
    """Build Hints from the options.

    ``socktype`` and ``flags`` are the command's defaults (SPEC: connect
    defaults to SOCK_STREAM and AI_ADDRCONFIG, listen adds AI_PASSIVE).
    """
    if given.inet4 and given.inet6:
        raise InvalidInput(stage, "-4 -6", "-4 and -6 exclude each other")
    family_text = given.family or (
        "inet" if given.inet4 else "inet6" if given.inet6 else "unspec"
    )
    if given.family and (given.inet4 or given.inet6):
        wanted = "inet" if given.inet4 else "inet6"
        if wanted != given.family:
            raise InvalidInput(stage, "--family", f"--family {given.family} contradicts -4/-6")
    values = given._asdict()
    for key, (_, bit) in AI_FLAGS.items():
        if values.get("ai_all" if key == "all" else key):
            flags |= bit
    return Hints(
        family=FAMILIES[family_text],
        socktype=SOCKTYPES[given.socktype] if given.socktype else socktype,
        protocol=given.protocol if given.protocol is not None else 0,
        flags=flags,
    )


# --- getnameinfo flags (reverse) ---------------------------------------------------

ni_numeric_host_option = click.option(
    "--numeric-host", "numeric_host", is_flag=True,
    help="NI_NUMERICHOST: the address, not its name.",
)
ni_numeric_serv_option = click.option(
    "--numeric-serv", "numeric_serv", is_flag=True,
    help="NI_NUMERICSERV: the port number, not its service name.",
)
namereqd_option = click.option("--namereqd", is_flag=True, help="NI_NAMEREQD.")
dgram_option = click.option("--dgram", is_flag=True, help="NI_DGRAM.")
nofqdn_option = click.option("--nofqdn", is_flag=True, help="NI_NOFQDN.")


def _ni_flags(values: dict[str, Any]) -> int:
    flags = 0
    for key, (_, bit) in NI_FLAGS.items():
        if values.get(key):
            flags |= bit
    return flags


#: getnameinfo's flags, reaching ``reverse`` as one int, ``ni_flags``.
ni_options = compose(
    _collect("ni_flags", _ni_flags, tuple(NI_FLAGS)),
    ni_numeric_host_option, ni_numeric_serv_option, namereqd_option, dgram_option, nofqdn_option,
)


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
    "--max-loss", type=click.FloatRange(0, 100), default=None, metavar="PERCENT",
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


# --- listen ---------------------------------------------------------------------------

bind_option = click.option(
    "--bind", "bind_host", metavar="HOST", default=None,
    help="Resolve HOST with AI_PASSIVE instead of the NULL host.",
)
first_option = click.option("--first", is_flag=True, help="Stop at the first candidate that binds.")
backlog_option = click.option(
    "--backlog", type=click.IntRange(1, 65535), default=4096, show_default=True,
    help="listen() backlog.",
)
echo_option = click.option("--echo", is_flag=True, help="Send every byte back to its sender.")
iterative_option = click.option("--iterative", is_flag=True, help="Serve one client at a time.")
max_clients_option = click.option(
    "--max-clients", type=click.IntRange(1), default=1024, show_default=True,
    help="Clients served at once.",
)
idle_timeout_option = click.option(
    "--idle-timeout", type=DURATION, default=None, help="Close a client idle this long.",
)
count_option = click.option(
    "--count", type=click.IntRange(1), default=None, help="Stop after N clients were served.",
)
names_option = click.option("--names", is_flag=True, help="Show client names (getnameinfo).")


# --- Unix domain sockets (HOST with a /, unix:PATH, unix:@NAME) -------------------------

seqpacket_option = click.option(
    "--seqpacket", is_flag=True, help="Unix sockets: SOCK_SEQPACKET (records, connected).",
)
unlink_option = click.option(
    "--unlink", is_flag=True,
    help="Unix: replace a stale socket file (never a live socket's, never a non-socket).",
)
mode_option = click.option(
    "--mode", "file_mode", metavar="MODE", default=None,
    help="Unix: the socket file's mode, set after bind (octal, e.g. 0660).",
)



# --- TLS (connect --tls, listen --tls) -------------------------------------------------

tls_option = click.option("--tls", is_flag=True, help="TLS on the connection (Python's ssl).")
sni_option = click.option(
    "--sni", metavar="NAME", default=None,
    help="TLS: server name sent and verified (default HOST unless numeric; '' for none).",
)
alpn_option = click.option(
    "--alpn", metavar="LIST", default=None, help="TLS: ALPN protocols, e.g. h2,http/1.1.",
)
ca_option = click.option(
    "--ca", metavar="FILE|DIR", default=None,
    help="TLS: trust these CA certificates (default: the system store).",
)
insecure_option = click.option(
    "--insecure", "-k", is_flag=True,
    help="TLS: do not verify the certificate (still report what would fail).",
)
cert_option = click.option(
    "--cert", metavar="FILE", default=None, help="TLS: certificate chain to present (PEM).",
)
key_option = click.option("--key", metavar="FILE", default=None, help="TLS: its private key.")
min_days_option = click.option(
    "--min-days", type=click.IntRange(min=0), default=None, metavar="N",
    help="TLS: exit 6 when a certificate of the chain expires within N days.",
)


class TlsClientOptions(NamedTuple):
    """``connect``'s TLS options as given (``netprobe.connect.tls`` checks and uses them)."""

    tls: bool
    sni: str | None
    alpn: str | None
    ca: str | None
    insecure: bool
    cert: str | None
    key: str | None
    min_days: int | None


class TlsServerOptions(NamedTuple):
    """``listen``'s TLS options as given."""

    tls: bool
    cert: str | None
    key: str | None
    alpn: str | None


#: ``connect``'s TLS options, reaching the command as ``tls: TlsClientOptions``.
tls_client_options = compose(
    _collect("tls", lambda values: TlsClientOptions(**values), TlsClientOptions._fields),
    tls_option, sni_option, alpn_option, ca_option, insecure_option, cert_option, key_option,
    min_days_option,
)
#: ``listen``'s TLS options (without --cert/--key: an ephemeral self-signed certificate),
#: reaching the command as ``tls: TlsServerOptions``.
tls_server_options = compose(
    _collect("tls", lambda values: TlsServerOptions(**values), TlsServerOptions._fields),
    tls_option, cert_option, key_option, alpn_option,
)


# --- connect and listen -------------------------------------------------------------

raw_option = click.option(
    "--raw", is_flag=True,
    help="Peer bytes raw to a terminal too (as nc); a pipe or file always gets them raw.",
)


# --- check -------------------------------------------------------------------------------

targets_file_option = click.option(
    "-f", "--file", "files", metavar="FILE", multiple=True,
    help="Read targets from FILE, one a line (# comments); - is stdin. Repeatable.",
)
parallel_option = click.option(
    "--parallel", type=click.IntRange(1, 65536), default=64, show_default=True,
    help="Targets checked at once.",
)
invert_option = click.option(
    "--invert", is_flag=True,
    help="Pass when a target does NOT accept (with --wait: until none does).",
)


# --- sockets -----------------------------------------------------------------------------

sockets_all_option = click.option(
    "--all", "-a", "every_state", is_flag=True,
    help="Every state (connections, TIME_WAIT, ...), not only listeners and bound sockets.",
)
sockets_tcp_option = click.option("--tcp", "-t", is_flag=True, help="TCP sockets.")
sockets_udp_option = click.option("--udp", "-u", is_flag=True, help="UDP sockets.")
sockets_unix_option = click.option("--unix", "-x", is_flag=True, help="Unix domain sockets.")
