"""What one explanation reads once: the files glibc reads and the interfaces' addresses.

``Paths`` names the files (tests point them elsewhere; the CLI never does).
``Context`` reads them when an explanation starts and collects every
problem found in them (a line skipped, a file unreadable) for the
``problems`` list: a bad file is reported, never raised.  The DNS model
(and dnspython with it) is made only when the ``dns`` source is reached.
"""

from __future__ import annotations

from collections.abc import Mapping

from netprobe.events import Trace, no_trace
from netprobe.explain.addrconfig import Interfaces, read_interfaces
from netprobe.explain.gaiconf import GAI_CONF
from netprobe.explain.hosts import HOST_CONF, HOSTS, read_host_conf, read_hosts
from netprobe.explain.nsswitch import NSSWITCH_CONF, read_nsswitch
from netprobe.explain.problems import Problem
from netprobe.explain.resolvconf import RESOLV_CONF, read_stub_conf
from netprobe.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from netprobe.explain.dnsmodel import DnsModel


class Paths(Record):
    """The files glibc reads (tests point them elsewhere; the CLI never does)."""

    __slots__ = ()
    _fields = ("nsswitch", "hosts", "host_conf", "resolv", "gai")
    nsswitch: str = field(0)
    hosts: str = field(1)
    host_conf: str = field(2)
    resolv: str = field(3)
    gai: str = field(4)

    def __new__(cls, nsswitch: str = NSSWITCH_CONF, hosts: str = HOSTS, host_conf: str = HOST_CONF,
                resolv: str = RESOLV_CONF, gai: str = GAI_CONF) -> Paths:
        return tuple.__new__(cls, (nsswitch, hosts, host_conf, resolv, gai))


class Context:
    """Everything read once for one explanation."""

    def __init__(self, paths: Paths, environ: Mapping[str, str], timeout: float | None,
                 interfaces: Interfaces | None, trace: Trace = no_trace) -> None:
        self.problems: list[Problem] = []
        #: Where the probes' socket calls are reported (``--syscalls``).
        self.trace = trace
        self.paths = paths
        self.environ = environ
        self.timeout = timeout
        self.config = read_nsswitch(paths.nsswitch, self.problems)
        self.multi = read_host_conf(paths.host_conf, self.problems, environ)
        self.hosts_file = read_hosts(paths.hosts, self.problems)
        self.interfaces = interfaces if interfaces is not None else read_interfaces(trace)
        if self.interfaces.error:
            self.problems.append(Problem("rtnetlink", None, self.interfaces.error))
        self._dns: DnsModel | None = None

    def dns(self) -> DnsModel:
        # Imported and read only when the dns source is reached.
        if self._dns is None:
            from netprobe.explain.dnsmodel import DnsModel

            conf = read_stub_conf(self.paths.resolv, self.problems, self.environ)
            self._dns = DnsModel(conf, self.timeout, self.trace)
        return self._dns
