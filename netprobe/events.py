"""Events: how the core tells the outside world what it is doing.

The core never prints.  It calls a ``trace(event, fields)`` callback; a
renderer (``netprobe.render``) turns the calls into rich text or JSON Lines.
A callback, not a generator: under Happy Eyeballs attempts overlap, and
several workers report at once.

``fields`` hold only JSON-ready values (str, int, float, bool, None, lists
and dicts of them), so the JSON renderer can write them as they are.
Event names are those of the SPEC's table, plus a few that only the human
renderer shows (``resolving``, ``candidate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

#: What a producer builds (then hands over as an event).
Fields = dict[str, Any]
#: An event's fields as a trace callback receives them: read-only, so that a
#: producer's TypedDict (netprobe.schema) is one.
Event = Mapping[str, Any]
Trace = Callable[[str, Event], None]
Clock = Callable[[], float]
#: Whether a trace would do anything with an event of that name (its ``wants``).
Wants = Callable[[str], bool]

#: The clock the core uses unless a test gives it a fake one.
monotonic: Clock = time.monotonic


class PayloadSink(Protocol):
    """Where the core hands what a peer sent: raw bytes, never encoded (see netprobe.render)."""

    def __call__(self, data: bytes, *, client: Fields | None = ..., datagram: bool = ...,
                 echoed: bool | None = ...) -> None: ...


def no_payload(data: bytes, *, client: Fields | None = None, datagram: bool = False,
               echoed: bool | None = None) -> None:
    """A payload sink that drops everything."""


def no_trace(event: str, fields: Event) -> None:
    """A trace that drops every event."""


# Design decision: a trace may say which events it would use, as a ``wants``
# attribute the core reads with getattr (the renderers' ``Renderer.wants``,
# the probes' watcher).  An event nobody reads costs its dict, its strings
# and a dispatch all the same, and a fast probe reports some fifteen of them
# to show one line: the core asks before building the costly ones (the calls
# of --syscalls, the step details).  A trace without the attribute, a plain
# callable such as a test's recorder, wants everything: the default is the
# old behaviour, never a silent drop.


def everything(event: str) -> bool:
    """The ``wants`` of a trace that does not say: every event."""
    return True


def wants_of(trace: Trace) -> Wants:
    """The trace's ``wants`` (``everything`` for a plain callable)."""
    wants: Wants = getattr(trace, "wants", everything)
    return wants


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded for output."""
    return round(seconds * 1000.0, 3)

#: When the process started, as the ``t`` of JSON events counts it.
PROCESS_START: float = time.monotonic()
