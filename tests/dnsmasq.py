"""Hermetic DNS servers for the tests: dnsmasq with its records on the command line.

Tests never ask an outside DNS server.  They get:

* ``dnsmasq_server`` (session): dnsmasq on 127.0.0.1 and ::1, a free port,
  serving ``RECORDS``; for tests that name the server (``--server``).
* ``dns_namespace(hosts=..., records=..., resolv=...)`` (factory): a private
  network namespace (``tests.helpers.Namespace``) whose /etc/resolv.conf says
  ``nameserver 127.0.0.1`` and where dnsmasq answers on port 53, so that
  getaddrinfo runs the real system resolver path (/etc/hosts, then DNS).
  Other commands' tests can use it for names such as ``dual.test``.
* ``dns_stub(rcode)`` (factory): a server on 127.0.0.1 that answers every
  question with one rcode (SERVFAIL, REFUSED, ...) or, with ``None``, never
  answers.  dnsmasq cannot be made to answer SERVFAIL by itself, and a
  silent server is how a timeout is tested.

dnsmasq runs with ``--no-resolv --no-hosts`` (it knows only what it is
given) and ``--local`` for the test zones, so an unknown name gets NXDOMAIN;
a name outside them gets REFUSED (no upstream to forward to).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Namespace, free_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

#: The TTL dnsmasq gives records without their own (its default is 0).
LOCAL_TTL = 600

#: The records every DNS test can count on.  Addresses are from the
#: documentation ranges (RFC 5737, RFC 3849): they are answers, never dialled.
RECORDS: tuple[str, ...] = (
    "--local=/test/",
    "--local=/example.com/",
    "--local=/localhost/",
    # A name with both families and its own TTL; dnsmasq adds the PTRs.
    "--host-record=a.test,192.0.2.1,2001:db8::1,300",
    # A CNAME chain of three: c1 -> c2 -> c3 -> a.test, each with its TTL.
    "--cname=c1.test,c2.test,60",
    "--cname=c2.test,c3.test,70",
    "--cname=c3.test,a.test,80",
    # Several addresses for one name.
    "--host-record=multi.test,192.0.2.31,2001:db8::31",
    "--host-record=multi.test,192.0.2.32",
    # IPv4 only: AAAA gets NODATA.
    "--host-record=v4only.test,192.0.2.4",
    # A PTR whose name does not map back (FCrDNS not confirmed).
    "--ptr-record=20.2.0.192.in-addr.arpa,liar.test",
    "--host-record=liar.test,192.0.2.21",
    # The SPEC's example, and a name that resolves to loopback for connect.
    "--host-record=example.com,192.0.2.80,2001:db8::80,3600",
    "--host-record=svc.test,127.0.0.1",
    "--host-record=localhost,127.0.0.1,::1",
    # An IDN, under its IDNA (ACE) name: bücher.test as the C library is asked for it.
    "--host-record=xn--bcher-kva.test,192.0.2.77",
    # Reverse names under 192.0.2.0/24 that nobody declared get NXDOMAIN.
    "--local=/2.0.192.in-addr.arpa/",
    # More A records than a 1232-byte UDP answer holds: truncated, asked again over TCP.
    *(f"--host-record=big.test,198.51.100.{n}" for n in range(1, 121)),
)


class Dnsmasq:
    """One dnsmasq process, started and waited for; ``stop()`` ends it.

    ``popen`` starts the process (``Namespace.popen`` to run it inside a
    namespace).  Readiness: dnsmasq logs "started" only after its sockets
    are bound, and a bound UDP socket queues queries, so once the line is
    there no query can be lost.
    """

    def __init__(self, records: Sequence[str] = RECORDS, *, port: int | None = None,
                 listen: Sequence[str] = ("127.0.0.1", "::1"),
                 popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="netprobe-dnsmasq-"))
        self.listen = tuple(listen)
        for _ in range(5):  # a free port can be taken again before dnsmasq binds it
            self.port = port or free_port(socket.AF_INET, socket.SOCK_DGRAM)
            self.log = self.dir / "log"
            self.log.write_text("")
            argv = [
                DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
                "--no-resolv", "--no-hosts", "--user=root", "--bind-interfaces",
                f"--port={self.port}", *(f"--listen-address={a}" for a in self.listen),
                f"--log-facility={self.log}", f"--local-ttl={LOCAL_TTL}", *records,
            ]
            self.proc = popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._ready():
                return
            self.proc.kill()
            _, err = self.proc.communicate()
            if port is not None:
                break
        shutil.rmtree(self.dir, ignore_errors=True)
        raise RuntimeError(f"dnsmasq did not start: {err.decode().strip()}")

    def _ready(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if "started, version" in self.log.read_text():
                return True
            time.sleep(0.02)
        return False

    def server(self, address: str = "127.0.0.1") -> str:
        """``--server`` for this dnsmasq: ``127.0.0.1:PORT`` or ``[::1]:PORT``."""
        host = f"[{address}]" if ":" in address else address
        return f"{host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class DnsNamespace(Namespace):
    """A Namespace with dnsmasq on 127.0.0.1:53 and [::1]:53 inside, its resolv.conf's server."""

    def __init__(self, hosts: str = "127.0.0.1 localhost\n::1 localhost\n",
                 records: Sequence[str] = RECORDS,
                 resolv: str = "nameserver 127.0.0.1\n", **namespace: Any) -> None:
        super().__init__(hosts=hosts, resolv=resolv, **namespace)
        try:
            self.dns = Dnsmasq(records, port=53, popen=self.popen)
        except BaseException:
            super().close()
            raise

    def close(self) -> None:
        self.dns.stop()
        super().close()


class DnsStub:
    """A DNS server on 127.0.0.1 (a thread) answering every question with ``rcode``.

    ``rcode=None``: it reads the questions and never answers.  ``answers``
    maps (name, type) to records in zone-file form (``"far.test. 60 IN A
    192.0.2.7"``), each question getting only its own: how a server that is
    not authoritative for a CNAME's target answers.
    """

    def __init__(self, rcode: str | None,
                 answers: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.rcode = rcode
        self.answers = answers or {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.server = f"127.0.0.1:{self.port}"
        self.questions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.questions += 1
            if self.rcode is None:
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # not a DNS message: a real server ignores it too
                continue
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.from_text(self.rcode))
            question = query.question[0]
            key = (question.name.to_text(omit_final_dot=True).lower(),
                   dns.rdatatype.to_text(question.rdtype))
            for record in self.answers.get(key, []):
                response.answer.append(dns.rrset.from_text(*record.split()))
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="session")
def dnsmasq_server() -> Iterator[Dnsmasq]:
    """dnsmasq on 127.0.0.1 and ::1 (one free port) serving RECORDS."""
    server = Dnsmasq()
    yield server
    server.stop()


@pytest.fixture
def dns_namespace() -> Iterator[Callable[..., DnsNamespace]]:
    """Factory: ``dns_namespace(hosts=..., records=..., resolv=...)`` -> a DnsNamespace."""
    made: list[DnsNamespace] = []

    def make(**kwargs: Any) -> DnsNamespace:
        ns = DnsNamespace(**kwargs)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        ns.close()


@pytest.fixture
def dns_stub() -> Iterator[Callable[..., DnsStub]]:
    """Factory: ``dns_stub("SERVFAIL")`` or ``dns_stub(None)`` (silent) -> a running DnsStub."""
    made: list[DnsStub] = []

    def make(rcode: str | None,
             answers: dict[tuple[str, str], list[str]] | None = None) -> DnsStub:
        stub = DnsStub(rcode, answers)
        made.append(stub)
        return stub

    yield make
    for stub in made:
        stub.close()
