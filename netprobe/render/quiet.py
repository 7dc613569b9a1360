"""``connect -q``: when nothing but the peer's bytes is written, a renderer without rich.

Design decision: ``connect -q`` picks its renderer here (``connect_renderer``,
named to ``make_trace`` as the human renderer).  Under -q every line of
``ConnectHuman`` is trace, dropped (the SPEC: -q keeps results, errors and
payload; connect's only result is the payload, and the one-line error is
written by ``netprobe.cli`` without a renderer).  What is left is the payload
on fd 1, which ``render.payload`` writes without rich; yet building the rich
renderer imports rich.console and makes two consoles (~60 ms: a large share
of an empty ``connect --tls -q``).  So ``QuietConnect`` does that one thing
and says it wants no event (``Renderer.wants``), so the core builds none of
the costly ones either (the ``tls`` event's chain and verdict).

Only where the bytes are written as they are: a pipe, a file, or ``--raw``.
On a terminal they are made safe, their escapes dim when rich's console
decides colour is on (TERM, NO_COLOR, FORCE_COLOR...); that decision is
rich's, so there ``ConnectHuman`` is used as before and the bytes stay the
same.  ``connect --count`` keeps ``ProbesHuman``: its probe lines are results.
"""

from __future__ import annotations

import os
from typing import Any

from netprobe.events import Event, Fields
from netprobe.render import Renderer, Settings
from netprobe.render.payload import PayloadOutput


class QuietConnect(Renderer):
    """``connect -q`` off a terminal: the peer's bytes to fd 1, no event shown."""

    def __init__(self, *, raw: bool = False) -> None:
        # Never made safe here (``connect_renderer``): ``dim`` would not matter.
        self.payload_output = PayloadOutput(1, raw=raw)

    def __call__(self, event: str, fields: Event) -> None:
        """Every event: -q shows none of connect's."""

    def wants(self, event: str) -> bool:
        return False

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        if datagram:
            self.payload_output.message(data)
        else:
            self.payload_output.write(data)

    def payload_view(self, data: bytes | memoryview) -> None:
        """A stream's bytes, possibly a view of the relay's buffer: written before returning,
        never kept, so the relay need not copy them (netprobe.relay.view_sink)."""
        self.payload_output.write(data)

    def close(self) -> None:
        self.payload_output.end_all()


def _terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def connect_renderer(settings: Settings, *, raw: bool = False, **options: Any) -> Renderer:
    """``connect``'s human renderer: ``QuietConnect`` under -q off a terminal, else
    ``ConnectHuman`` (rich imported only then)."""
    if settings.quiet and (raw or not _terminal(1)):
        return QuietConnect(raw=raw)
    from netprobe.render.connect import ConnectHuman

    return ConnectHuman(settings, raw=raw, **options)
