"""Peer bytes to stdout: exactly as they came on a pipe or file, made safe on a terminal.

A pipe or a file gets the bytes unchanged (``netprobe connect h p > f`` is
binary-safe, as nc is).  A terminal would *obey* some of them (escape
sequences, BEL, CR, bidi controls: ``netprobe.safe``), so there they are shown
visibly instead, the escapes dim when colour is on; ``--raw`` writes them
raw to a terminal too, as nc does.  The decision is ``isatty(1)``, not
rich's idea of a terminal: ``FORCE_COLOR`` must never change bytes written
to a pipe.

Several streams can share stdout (``listen`` serves clients concurrently):
each has its own filter, so a UTF-8 character or a CRLF split across two
reads of one client is not mangled by another client's bytes in between.

No rich here: the payload path is the hot one, and it needs none.
"""

from __future__ import annotations

import os
from collections.abc import Hashable

from netprobe.safe import PayloadFilter, Segment
from netprobe.stdio import write_all

#: SGR "dim" and "normal intensity": how an escape is set apart with colour on.
DIM_ON, DIM_OFF = b"\x1b[2m", b"\x1b[22m"


class PayloadOutput:
    """Writes peer bytes to ``fd``: raw, or made safe when ``fd`` is a terminal.

    ``raw`` (``--raw``) forces raw bytes on a terminal; ``dim`` styles the
    escapes (the renderer knows whether colour is on: not with NO_COLOR).
    """

    def __init__(self, fd: int = 1, *, raw: bool = False, dim: bool = False) -> None:
        self.fd = fd
        try:
            terminal = os.isatty(fd)
        except OSError:
            terminal = False
        #: Whether bytes are made safe (a terminal, and no --raw).
        self.safe = terminal and not raw
        self.dim = dim
        self._filters: dict[Hashable, PayloadFilter] = {}

    def write(self, data: bytes | memoryview, stream: Hashable = None) -> None:
        """Bytes that ``stream`` (a client id; None for connect's one peer) sent.

        A view (of a relay's buffer) is written or decoded before this returns,
        never kept."""
        if not self.safe:
            write_all(self.fd, data)
            return
        segments = self._filters.setdefault(stream, PayloadFilter()).feed(data)
        if segments:
            write_all(self.fd, self._encode(segments))

    def end(self, stream: Hashable = None) -> None:
        """``stream`` ended: what its filter held back (half a character) is shown escaped."""
        held = self._filters.pop(stream, None)
        if held is not None:
            segments = held.flush()
            if segments:
                write_all(self.fd, self._encode(segments))

    def end_all(self) -> None:
        """Every stream ended (the output closes)."""
        for stream in list(self._filters):
            self.end(stream)

    def message(self, data: bytes) -> None:
        """A datagram: a whole message, nothing held for the next one."""
        self.write(data, stream=_DATAGRAM)
        self.end(_DATAGRAM)

    def _encode(self, segments: list[Segment]) -> bytes:
        parts: list[bytes] = []
        dimmed = False
        for piece, escaped in segments:
            if self.dim and escaped != dimmed:
                # One dim run for neighbouring escapes (\x1b\x07 is one run).
                parts.append(DIM_ON if escaped else DIM_OFF)
                dimmed = escaped
            parts.append(piece.encode("utf-8"))  # safe text holds no surrogates
        if dimmed:
            parts.append(DIM_OFF)
        return b"".join(parts)


#: The stream key for a datagram (never a client id, which are ints).
_DATAGRAM = object()
