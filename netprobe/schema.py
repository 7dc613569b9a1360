"""The SPEC's events as TypedDicts: what the core emits and the renderers read.

For the type checker only.  Nothing imports this module at run time (every
use is under ``TYPE_CHECKING``, annotations are strings): defining a dozen
TypedDict classes would cost start-up time, which is a feature.

The producers say which event they build (``Attempt.to_json() ->
AttemptEvent``) and the renderers' handlers which one they read
(``on_attempt(self, fields: AttemptEvent)``), so ``mypy --strict`` checks
both sides against the same declaration.  The trace callback itself takes
any ``Mapping[str, Any]``: the event name, a string, picks the handler.

Fields beyond the SPEC's table (``step``, ``started_ms``, ``steps``, ...)
are declared too: the JSON output carries them ("more fields may be
added").  ``NotRequired`` marks the ones only some producers add.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class HintsFields(TypedDict):
    family: str
    socktype: str | int
    protocol: str | int
    flags: list[str]


class CandidateFields(TypedDict):
    index: int
    family: str
    socktype: str | int
    protocol: str | int
    address: str
    port: int | None  # None for AF_UNIX
    flowinfo: int
    scope_id: int
    canonname: str | None


class EndpointFields(TypedDict):
    address: str
    port: int | None  # None for AF_UNIX


class ResolvedEvent(TypedDict):
    host: str | None
    service: str | None
    hints: HintsFields
    canonname: str | None
    candidates: list[CandidateFields]
    elapsed_ms: float
    #: connect --server: "dns" or "numeric", the server asked, its view.
    source: NotRequired[str]
    server: NotRequired[str]
    dns: NotRequired[dict[str, Any] | None]
    #: --explain: where the answer came from and why in this order.
    explain: NotRequired[dict[str, Any]]


class ResolvingEvent(TypedDict):
    host: str | None
    service: str | None
    hints: HintsFields
    source: NotRequired[str]
    server: NotRequired[str]


class ReversingEvent(TypedDict):
    address: str
    port: int
    flags: list[str]


class ReversedEvent(TypedDict):
    address: str
    port: int
    flags: list[str]
    host: str
    service: str
    elapsed_ms: float
    dns: NotRequired[dict[str, Any] | None]
    explain: NotRequired[dict[str, Any]]


class AttemptStartedEvent(TypedDict):
    index: int
    candidate: CandidateFields
    started_ms: float


class AttemptEvent(TypedDict):
    index: int
    candidate: CandidateFields
    outcome: str | None
    errno: str | None
    message: str
    elapsed_ms: float
    step: str
    started_ms: float
    local: EndpointFields | None
    peer: EndpointFields | None
    #: A failed attempt: why, from the kernel's tables (SPEC, "The kernel's side").
    why: NotRequired[dict[str, Any]]


class StepEvent(TypedDict):
    index: int
    step: str
    detail: str
    outcome: str
    errno: str | None
    message: str


class ConnectedEvent(TypedDict):
    index: int
    local: EndpointFields | None
    peer: EndpointFields | None
    elapsed_ms: float
    #: A Unix stream or seqpacket socket: the server's SO_PEERCRED (null: not visible).
    peer_cred: NotRequired[dict[str, Any] | None]


class AttemptsDoneEvent(TypedDict):
    attempts: list[AttemptEvent]


class RoundEvent(TypedDict):
    n: int
    outcome: str
    errno: str | None
    message: str
    elapsed_ms: float
    remaining_ms: float


class ClientFields(TypedDict):
    id: int
    address: str | None  # None: a TCP client that reset before it was accepted
    port: int | None  # None for AF_UNIX
    host: str | None


class ClosedEvent(TypedDict):
    bytes_in: int
    bytes_out: int
    duration_ms: float
    reason: str
    #: listen: which client.
    client: NotRequired[ClientFields]


class BindStepFields(TypedDict):
    step: str
    outcome: str
    errno: str | None
    message: str
    option: NotRequired[str]


class BindEvent(TypedDict):
    index: int
    candidate: CandidateFields
    step: str
    outcome: str
    errno: str | None
    message: str
    option: str | None
    steps: list[BindStepFields]
    elapsed_ms: float
    #: A failed bind: who holds the port (SPEC, "The kernel's side"); None for AF_UNIX yet.
    why: NotRequired[dict[str, Any] | None]


class SocketFields(TypedDict):
    family: str
    socktype: str | int
    address: str
    port: int | None  # None for AF_UNIX
    v6only: NotRequired[bool]


class ListeningEvent(TypedDict):
    sockets: list[SocketFields]
    #: Streams: the accept queue in force, and the cap when somaxconn lowered it.
    backlog: NotRequired[int]
    somaxconn: NotRequired[int]


class AcceptedTlsFields(TypedDict):
    """listen --tls: the client's handshake."""

    version: str | None
    cipher: str | None
    alpn: str | None
    sni: str | None


class AcceptedEvent(TypedDict):
    client: ClientFields
    #: False when --max-clients turned the client away.
    served: NotRequired[bool]
    #: listen --tls.
    tls: NotRequired[AcceptedTlsFields]


# --- TLS (SPEC "TLS") ----------------------------------------------------------


class KeyFields(TypedDict):
    type: str
    bits: int | None
    curve: NotRequired[str]


class CertificateFields(TypedDict):
    """One certificate of the chain the server sent."""

    subject: str
    issuer: str
    san: list[str]
    not_before: str
    not_after: str
    days_left: int
    seconds_left: int
    key: KeyFields
    signature_algorithm: str
    sha256: str
    serial: str
    self_signed: bool


class VerifyErrorFields(TypedDict):
    code: str
    number: int
    message: str
    depth: int | None


class TlsEvent(TypedDict):
    """connect --tls: the handshake, the chain and the verification."""

    version: str | None
    cipher: str | None
    cipher_bits: int | None
    alpn: str | None
    sni: str | None
    verified: bool
    verification: str
    verify_error: VerifyErrorFields | None
    hostname: str | None
    hostname_match: str | None
    chain: list[CertificateFields]
    chain_complete: bool
    elapsed_ms: float


class TlsStartedEvent(TypedDict):
    sni: str | None
    alpn_offered: list[str]
    verify: bool


class TlsFailedEvent(TypedDict):
    """listen --tls: a client whose handshake failed."""

    client: dict[str, Any]
    code: str
    message: str
    elapsed_ms: float


class TlsCertificateEvent(TypedDict):
    """listen --tls: the certificate clients will see."""

    ephemeral: bool
    sha256: str | None
    names: list[str]
    file: NotRequired[str]
    subject: NotRequired[str]
    not_after: NotRequired[str]
    days_left: NotRequired[int]


class StoppedEvent(TypedDict):
    clients: int
    bytes_in: int
    bytes_out: int
    duration_ms: float
    reason: str
    rejected: NotRequired[int]
    datagrams: NotRequired[int]


class DataEvent(TypedDict):
    bytes: int
    text: NotRequired[str]
    base64: NotRequired[str]
    client: NotRequired[ClientFields]
    echoed: NotRequired[bool]


class ErrorEvent(TypedDict):
    stage: str
    target: str
    code: str | None
    message: str
    exit: int


# --- check: every event of a target's probe also carries ``target`` ----------------------


class SummaryTargetFields(TypedDict):
    target: str
    ok: bool
    exit: int
    outcome: str
    address: str | None
    elapsed_ms: float
    errno: str | None
    message: str
    rounds: int
    attempts: int
    #: A failed target: its last failed attempt's why.
    why: NotRequired[dict[str, Any] | None]


class SummaryEvent(TypedDict):
    total: int
    ok: int
    failed: int
    elapsed_ms: float
    invert: bool
    targets: list[SummaryTargetFields]


class CheckStartedEvent(TypedDict):
    """For the human renderer: every target, before the first is checked."""

    targets: list[str]
    parallel: int


class TargetStartedEvent(TypedDict):
    target: str
    round: int


class TargetDoneEvent(TypedDict):
    """For the human renderer: one round of one target is over (``final``: its verdict)."""

    target: str
    round: int
    ok: bool
    final: bool
    outcome: str
    address: str | None
    errno: str | None
    message: str
    elapsed_ms: float
    attempts: int


class SyscallEvent(TypedDict):
    """--syscalls: one sockets-interface call (netprobe.syscalls)."""

    n: int
    call: str
    #: Named as in the C prototype; constants by their C names.
    args: dict[str, Any]
    result: Any
    errno: str | None
    #: None for a call the event loop made (it is not timed).
    elapsed_us: int | None
    fd: int | None
    #: The event loop that made the call (listen), absent for netprobe's own.
    by: NotRequired[str]
    #: A getaddrinfo abandoned at --timeout.
    unfinished: NotRequired[bool]


class CallCount(TypedDict):
    calls: int | None
    bytes: int


class SyscallSummaryEvent(TypedDict):
    """--syscalls without -v: the recv()/send() calls on one descriptor, summed up."""

    fd: int
    recv: NotRequired[CallCount]
    send: NotRequired[CallCount]
    by: NotRequired[str]


# --- probes: connect --count (SPEC "Probes") ------------------------------------------


class TcpInfoFields(TypedDict):
    """The kernel's view of one connection (TCP_INFO), times in microseconds."""

    rtt_us: int
    rttvar_us: int
    retransmits: int
    total_retrans: int
    snd_mss: int
    pmtu: int
    snd_cwnd: int


class ProbeEvent(TypedDict):
    seq: int
    candidate: CandidateFields | None
    outcome: str
    errno: str | None
    message: str
    elapsed_ms: float
    tcp_info: TcpInfoFields | None
    #: -v, a probe that timed out: the SYNs its socket sent, none answered.
    unanswered_syns: NotRequired[int]
    #: A failed local probe: the kernel's explanation (SPEC "The kernel's side").
    why: NotRequired[dict[str, Any]]


class ProbeFigures(TypedDict):
    sent: int
    ok: int
    failed: int
    loss_pct: float
    min_ms: float | None
    avg_ms: float | None
    median_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    stdev_ms: float | None


class ProbeAddressStats(ProbeFigures):
    address: str
    port: int | None


class ProbeStatsEvent(ProbeFigures):
    per_address: list[ProbeAddressStats]
