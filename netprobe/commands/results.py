"""How ``resolve`` and ``reverse`` finish: one result event, or an error carrying it.

A presentation decision (what JSON Lines and people each get to see when a
lookup fails), so it lives with the commands, not in the DNS view's core.
"""

from __future__ import annotations

from collections.abc import Sequence

from netprobe.errors import NetprobeError
from netprobe.events import Event, Trace


def emit_or_raise(trace: Trace, event: str, fields: Event, error: NetprobeError | None,
                  *, json: bool, keep: Sequence[str]) -> None:
    """Emit the command's one result event, or raise ``error`` carrying it.

    The SPEC gives ``resolve`` and ``reverse`` exactly one JSON line, so on
    failure under ``--json`` the ``error`` event carries the result's
    ``keep`` fields (the DNS view, getaddrinfo's candidates) instead of a
    second line; people see the result and then the one-line error.
    """
    if error is None:
        trace(event, fields)
        return
    if not json:
        trace(event, fields)
    error.extra = {key: fields[key] for key in keep if key in fields}
    raise error
