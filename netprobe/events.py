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

# The types below are for annotations, which are never evaluated (netprobe.record
# says why typing is not imported); at run time each name is the plain class
# it stands for, so that importing it costs nothing.
TYPE_CHECKING = False
if TYPE_CHECKING:
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

    class PayloadSink(Protocol):
        """Where the core hands what a peer sent: raw bytes, never encoded (netprobe.render)."""

        def __call__(self, data: bytes, *, client: Fields | None = ..., datagram: bool = ...,
                     echoed: bool | None = ...) -> None: ...
else:
    Fields = dict
    Event = Mapping
    Trace = Clock = Wants = PayloadSink = Callable

#: The clock the core uses unless a test gives it a fake one.
monotonic: Clock = time.monotonic


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
# old behaviour, never a silent drop.  A trace's answers are fixed once it is
# made (a renderer's settings, a watcher's verbosity), so the core may ask
# once per trace rather than once per use (``connect.attempts._interest``).


def everything(event: str) -> bool:
    """The ``wants`` of a trace that does not say: every event."""
    return True


#: Not an event: what a trace is asked (``wants(ENDPOINTS)``) to say whether it reads
#: the ``local`` and ``peer`` of the ``attempt`` and ``connected`` events.  They cost
#: two calls a connection (getsockname, getpeername); a probe's line shows neither,
#: so a run of probes makes them only with -vv, where those events are shown.
ENDPOINTS = "endpoints"


def wants_of(trace: Trace) -> Wants:
    """The trace's ``wants`` (``everything`` for a plain callable)."""
    wants: Wants = getattr(trace, "wants", everything)
    return wants


# Design decision: ms() rounds by float arithmetic where that is exact.
# ``round(x, 3)`` is correctly rounded, and CPython gets there through a
# decimal string (dtoa, snprintf, strtod): about 2 500 instructions, five
# times a probe.  When the exact ``millis * 1000`` is not within 1e-6 of a
# tie, its nearest integer k is that of the computed product (whose error is
# under 2**-22 below 2**31), the correctly rounded decimal is k / 1000, and
# IEEE division gives the double nearest to it: what round() returns, bit for
# bit, in operators only (no call: ~1 000 instructions).  Anything else
# (near-ties, zero, negatives, huge values, nan) takes round() itself.
# tests/test_events_units.py checks that the two agree.  Rejected: the same
# through round(scaled) and abs(), whose calls cost what they saved.
_EXACT_BELOW = 2147483648.0  # 2**31


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded for output (3 decimals: to the microsecond)."""
    millis = seconds * 1000.0
    micros = millis * 1000.0
    if 0.0 < micros < _EXACT_BELOW:
        fraction = micros % 1.0
        if fraction < 0.499999 or fraction > 0.500001:
            return (micros - fraction + (fraction > 0.5)) / 1000.0
    return round(millis, 3)

#: When the process started, as the ``t`` of JSON events counts it.
PROCESS_START: float = time.monotonic()
