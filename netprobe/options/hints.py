"""getaddrinfo's hints (resolve, connect, listen) and getnameinfo's flags (reverse)."""

from __future__ import annotations

from typing import Any

import click

from netprobe.constants import FAMILIES, NI_FLAGS, SOCKTYPES
from netprobe.option_values import HintOptions as HintOptions
from netprobe.option_values import hints_from as hints_from
from netprobe.options.base import PROTOCOL, collect, compose

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
_collect_hints = collect("hints", HintOptions)

#: The hints of the SPEC for ``resolve`` (numeric flags and AI_ALL included).
resolve_hint_options = compose(
    _collect_hints, *_hint_options, numeric_host_option, numeric_serv_option,
    ai_all_or_all_option,
)
#: The same hints for ``connect`` and ``listen``, where ``--all`` means something else.
endpoint_hint_options = compose(
    _collect_hints, *_hint_options, numeric_host_option, numeric_serv_option, ai_all_option
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
    collect("ni_flags", _ni_flags, tuple(NI_FLAGS)),
    ni_numeric_host_option, ni_numeric_serv_option, namereqd_option, dgram_option, nofqdn_option,
)
