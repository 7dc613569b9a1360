"""The kernel's view of one TCP connection: getsockopt(IPPROTO_TCP, TCP_INFO), parsed.

Linux's ``struct tcp_info`` (linux/tcp.h) has grown at its end since 2.6;
the fields read here are all in the first 104 bytes, the part every
kernel since 2.6.2 fills in, plus ``tcpi_segs_out`` (4.2+), which a socket
still in SYN_SENT uses to count the SYNs it sent.  The kernel copies
min(asked, its own size) bytes and says how many: a shorter answer simply
lacks the newer fields.

Design decisions:

* **struct, not ctypes.**  One ``struct.Struct`` of the layout (eight u8,
  then u32s; u64s from ``tcpi_pacing_rate`` on), decoded in one call:
  no C declarations to keep in step, nothing imported that costs start-up.
* **Reported like every other call.**  The getsockopt goes to the trace as
  a ``syscall`` event (``--syscalls`` shows it, strace sees the same), the
  structure as strace prints it: ``{tcpi_state=TCP_ESTABLISHED, ...}``.
* **Unanswered SYNs.**  A probe that timed out leaves a socket in
  SYN_SENT: every segment it sent was a SYN and none was answered, so
  ``tcpi_segs_out`` is the count; on a kernel without it, the first SYN
  plus its retransmissions (``tcpi_total_retrans``).  It must be read
  before the socket is closed: afterwards there is nothing to ask.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import TYPE_CHECKING

from netprobe.syscalls import report

if TYPE_CHECKING:
    from netprobe.events import Trace
    from netprobe.schema import TcpInfoFields

TCP_INFO: int = getattr(socket, "TCP_INFO", 11)

#: u8 state .. options, the wscale byte, the flags byte; then 24 u32 up to
#: tcpi_total_retrans (104 bytes); then 4 u64 (pacing rates, bytes acked and
#: received) and tcpi_segs_out, tcpi_segs_in (144 bytes).
_BASE = struct.Struct("=8B24I")
_EXTENDED = struct.Struct("=8B24I4Q2I")

#: The kernel's TCP states (include/net/tcp_states.h), as strace names them.
STATES = {1: "TCP_ESTABLISHED", 2: "TCP_SYN_SENT", 3: "TCP_SYN_RECV", 4: "TCP_FIN_WAIT1",
          5: "TCP_FIN_WAIT2", 6: "TCP_TIME_WAIT", 7: "TCP_CLOSE", 8: "TCP_CLOSE_WAIT",
          9: "TCP_LAST_ACK", 10: "TCP_LISTEN", 11: "TCP_CLOSING"}
SYN_SENT = 2


class TcpInfo:
    """The fields of ``struct tcp_info`` netprobe shows (times in microseconds)."""

    __slots__ = ("pmtu", "retransmits", "rtt_us", "rttvar_us", "segs_out", "snd_cwnd",
                 "snd_mss", "state", "total_retrans")

    def __init__(self, *, state: int, retransmits: int, snd_mss: int, pmtu: int, rtt_us: int,
                 rttvar_us: int, snd_cwnd: int, total_retrans: int,
                 segs_out: int | None = None) -> None:
        self.state = state
        self.retransmits = retransmits
        self.snd_mss = snd_mss
        self.pmtu = pmtu
        self.rtt_us = rtt_us
        self.rttvar_us = rttvar_us
        self.snd_cwnd = snd_cwnd
        self.total_retrans = total_retrans
        #: None on a kernel older than 4.2 (a shorter structure).
        self.segs_out = segs_out

    def to_json(self) -> TcpInfoFields:
        return {"rtt_us": self.rtt_us, "rttvar_us": self.rttvar_us,
                "retransmits": self.retransmits, "total_retrans": self.total_retrans,
                "snd_mss": self.snd_mss, "pmtu": self.pmtu, "snd_cwnd": self.snd_cwnd}

    def unanswered_syns(self) -> int | None:
        """The SYNs a socket still in SYN_SENT has sent (None in any other state)."""
        if self.state != SYN_SENT:
            return None
        return self.segs_out if self.segs_out is not None else 1 + self.total_retrans

    def c_form(self) -> str:
        """As strace shows the structure (the fields read here)."""
        state = STATES.get(self.state, str(self.state))
        return (f"{{tcpi_state={state}, tcpi_retransmits={self.retransmits}, "
                f"tcpi_snd_mss={self.snd_mss}, tcpi_pmtu={self.pmtu}, tcpi_rtt={self.rtt_us}, "
                f"tcpi_rttvar={self.rttvar_us}, tcpi_snd_cwnd={self.snd_cwnd}, "
                f"tcpi_total_retrans={self.total_retrans}, ...}}")


def parse(data: bytes) -> TcpInfo:
    """``struct tcp_info`` as the kernel returned it (at least 104 bytes); ValueError if shorter."""
    if len(data) >= _EXTENDED.size:
        fields = _EXTENDED.unpack_from(data)
        segs_out: int | None = fields[36]
    elif len(data) >= _BASE.size:
        fields = _BASE.unpack_from(data)
        segs_out = None
    else:
        raise ValueError(f"struct tcp_info of {len(data)} bytes: at least {_BASE.size} expected")
    u32 = fields[8:]
    # u32 offsets: 0 rto, 1 ato, 2 snd_mss, 3 rcv_mss, ... 13 pmtu, 14 rcv_ssthresh,
    # 15 rtt, 16 rttvar, 17 snd_ssthresh, 18 snd_cwnd, ... 23 total_retrans.
    return TcpInfo(state=fields[0], retransmits=fields[2], snd_mss=u32[2], pmtu=u32[13],
                   rtt_us=u32[15], rttvar_us=u32[16], snd_cwnd=u32[18],
                   total_retrans=u32[23], segs_out=segs_out)


def read(trace: Trace, sock: socket.socket) -> TcpInfo | None:
    """getsockopt(fd, IPPROTO_TCP, TCP_INFO) on a TCP socket, reported; None where it fails."""
    fd = sock.fileno()
    started = time.monotonic()
    args = {"sockfd": fd, "level": "IPPROTO_TCP", "optname": "TCP_INFO"}
    try:
        data = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _EXTENDED.size)
        info = parse(data)
    except (OSError, ValueError) as exc:
        number = exc.errno if isinstance(exc, OSError) else None
        report(trace, "getsockopt", {**args, "optval": None, "optlen": _EXTENDED.size}, -1,
               number, started, fd)
        return None
    report(trace, "getsockopt", {**args, "optval": info.c_form(), "optlen": len(data)}, 0,
           None, started, fd)
    return info


def read_descriptor(trace: Trace, fd: int, family: int) -> TcpInfo | None:
    """TCP_INFO of a socket the core owns, known only by its descriptor.

    The descriptor is wrapped in a socket object for the one call and
    detached again, so it is never closed here.  Python checks that the
    descriptor is a socket with one getsockname(): reported too, since it
    happens.
    """
    started = time.monotonic()
    try:
        view = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    except OSError as exc:
        report(trace, "getsockname", {"sockfd": fd, "addr": None, "addrlen": None}, -1,
               exc.errno, started, fd)
        return None
    try:
        report(trace, "getsockname", {"sockfd": fd, "addr": None, "addrlen": None}, 0, None,
               started, fd)
        return read(trace, view)
    finally:
        view.detach()
