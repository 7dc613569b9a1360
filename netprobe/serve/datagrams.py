"""The UDP side of ``listen``: one ``Datagrams`` protocol per bound socket."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from netprobe.errors import errno_name
from netprobe.serve.loopcalls import loop_call
from netprobe.serve.stream import HIGH_WATER

if TYPE_CHECKING:
    from netprobe.serve.owner import DatagramOwner


def _buffered(transport: asyncio.BaseTransport) -> int:
    """Bytes a transport holds unsent (datagram transports have the method, untyped)."""
    size = getattr(transport, "get_write_buffer_size", None)
    return int(size()) if size is not None else 0


class Datagrams(asyncio.DatagramProtocol):
    """A UDP socket: every datagram traced; echoed back to its sender with --echo."""

    def __init__(self, server: DatagramOwner, fd: int = -1) -> None:
        self.server = server
        self.fd = fd
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.server.loop_name == "uvloop":
            # libuv's uv_udp_open sets SO_REUSEADDR again (seen with strace).
            loop_call(self.server, "setsockopt", {"sockfd": self.fd, "level": "SOL_SOCKET",
                                                  "optname": "SO_REUSEADDR", "optval": 1,
                                                  "optlen": 4}, 0, self.fd)
        # Known at once, not after create_datagram_endpoint returns: a datagram
        # can arrive (and --count stop the server) before the await resumes.
        self.server.add_endpoint(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        echoed = False
        transport = self.transport
        # The datagram transport buffers when the socket is full; past the
        # high-water mark the echo is dropped (UDP may lose it anyway) rather
        # than buffered without bound.
        if (self.server.echo and transport is not None
                and _buffered(transport) < HIGH_WATER):
            transport.sendto(data, addr)
            echoed = True
        self.server.took_datagram(data, addr, echoed=echoed)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a sender that went away: not our failure.
        number = exc.errno if isinstance(exc, OSError) else None
        self.server.emit("datagram_error", {"errno": errno_name(number), "message": str(exc)})
