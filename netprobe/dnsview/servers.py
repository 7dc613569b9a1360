"""Which DNS servers to ask: ``--server ADDR[:PORT]``, or resolv.conf read as glibc does."""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple

from netprobe.endpoints import format_endpoint, split_endpoint
from netprobe.errors import InvalidInput

#: The DNS port (RFC 1035 section 4.2).
DNS_PORT = 53
#: glibc uses at most three nameservers from resolv.conf (MAXNS in resolv.h).
MAXNS = 3
#: glibc's defaults: RES_TIMEOUT seconds a try, ndots 1, caps 30 and 15.
RES_TIMEOUT = 5.0
RES_MAXTIMEOUT = 30.0
RES_MAXNDOTS = 15
#: Where the system resolver's configuration lives.
RESOLV_CONF = "/etc/resolv.conf"

_SERVER_FORMS = "give IPv4[:PORT] or [IPv6][:PORT], e.g. 127.0.0.1:5353 or [::1]:5353"


class DnsServer(NamedTuple):
    """A DNS server's numeric address and port."""

    address: str
    port: int = DNS_PORT

    def endpoint(self) -> str:
        """``127.0.0.1:53`` or ``[::1]:5353``: the form ``--server`` accepts."""
        return format_endpoint(self.address, self.port)


def parse_server(text: str, stage: str = "dns") -> DnsServer:
    """``ADDR[:PORT]`` -> DnsServer; InvalidInput (exit 2) for anything else.

    Only numeric addresses: a server given by name would have to be resolved
    by the very resolver being examined.  A bare IPv6 address (``::1``) is
    accepted without a port, as dig and ncat take it; with a port it must be
    bracketed, since ``::1:53`` is itself a valid IPv6 address.
    """
    host, port_text, bracketed = split_endpoint(text, stage, _SERVER_FORMS)
    text = text.strip() or repr(text)  # how the error line names it; never an empty target
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput(
            stage, text, f"not a numeric DNS server address; {_SERVER_FORMS}"
        ) from None
    if bracketed and address.version != 6:
        raise InvalidInput(stage, text, f"brackets are for IPv6 addresses; {_SERVER_FORMS}")
    scope = getattr(address, "scope_id", None)
    if scope and not scope.isdigit():
        try:
            socket.if_nametoindex(scope)
        except OSError:
            raise InvalidInput(stage, text, f"no network interface named {scope!r}") from None
    port = DNS_PORT
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
            raise InvalidInput(stage, text, "the DNS server's port must be a number 1-65535")
        port = int(port_text)
    return DnsServer(str(address), port)


class ResolvConf(NamedTuple):
    """What /etc/resolv.conf tells the stub resolver."""

    servers: list[DnsServer]
    search: list[str]
    ndots: int
    timeout: float


def read_resolv_conf(path: str = RESOLV_CONF) -> ResolvConf:
    """Read resolv.conf as glibc does (resolv.conf(5)).

    glibc's rules, kept because the view must ask what getaddrinfo asked:
    at most MAXNS nameservers, unparsable ones skipped; ``domain`` and
    ``search`` replace each other, the last wins; no nameserver at all means
    the local one (127.0.0.1).  The LOCALDOMAIN and RES_OPTIONS environment
    overrides are not applied (rare, and a hidden input to a diagnostic).
    """
    servers: list[DnsServer] = []
    search: list[str] = []
    ndots, per_try = 1, RES_TIMEOUT
    try:
        with open(path, encoding="utf-8", errors="replace") as conf:
            lines = conf.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        key, args = words[0], words[1:]
        if key == "nameserver" and args and len(servers) < MAXNS:
            try:
                servers.append(DnsServer(str(ipaddress.ip_address(args[0]))))
            except ValueError:
                continue
        elif key == "search" and args:
            search = args
        elif key == "domain" and args:
            search = args[:1]
        elif key == "options":
            for option in args:
                name, _, value = option.partition(":")
                if value.isdigit() and name == "ndots":
                    ndots = min(int(value), RES_MAXNDOTS)
                elif value.isdigit() and name == "timeout":
                    per_try = min(float(value), RES_MAXTIMEOUT) or 1.0
    return ResolvConf(servers or [DnsServer("127.0.0.1")], search, ndots, per_try)


def names_to_ask(host: str, conf: ResolvConf | None) -> list[str]:
    """The absolute names the stub resolver tries for ``host``, in its order.

    glibc's res_search: a name with a trailing dot is only itself; a name
    with at least ``ndots`` dots is tried as it is first, then under each
    search domain; a shorter one under the search domains first.
    """
    bare = host.rstrip(".")
    if conf is None or host.endswith(".") or not conf.search:
        return [bare]
    searched = [f"{bare}.{domain.strip('.')}" for domain in conf.search if domain.strip(".")]
    if bare.count(".") >= conf.ndots:
        return [bare, *searched]
    return [*searched, bare]


def servers_and_conf(
    server: DnsServer | None,
) -> tuple[list[DnsServer], ResolvConf | None, float | None]:
    """The servers to ask, the configuration naming them, and the per-server try time."""
    if server is not None:
        return [server], None, None
    conf = read_resolv_conf()
    return conf.servers, conf, conf.timeout
