"""``--explain`` for resolve, connect and reverse: the explanation joins the result event.

The commands keep their own flow; this wraps their trace callback.  When
the ``resolved`` (or ``reversed``) event passes, the explanation of that
very answer is worked out (``netprobe.explain``, imported only now) and
added to the event as ``explain``, so JSON keeps one line per result and
the human renderer draws the "why" right after the table.  A failed
lookup raises instead of emitting: ``failed`` then adds the explanation to
the error (the JSON ``error`` event carries it) and emits an ``explain``
event for people.

Importing this module costs nothing noticeable: commands import it even
without --explain.
"""

from __future__ import annotations

import socket

from netprobe.addrinfo import Candidate, Hints, Resolution
from netprobe.errors import NetprobeError, ResolutionFailed
from netprobe.events import Event, Fields, Trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any


def _number(name: str | int) -> int:
    if isinstance(name, int):
        return name
    value = getattr(socket, name, 0)
    return int(value)


def _resolution(fields: Event, hints: Hints) -> Resolution:
    """The ``resolved`` event's fields back as a Resolution (what explain compares with)."""
    candidates = [
        Candidate(c["index"], _number(c["family"]), _number(c["socktype"]),
                  _number(c["protocol"]), c.get("canonname") or "", c["address"], c["port"],
                  c.get("flowinfo", 0), c.get("scope_id", 0))
        for c in fields.get("candidates", [])
    ]
    return Resolution(fields.get("host"), fields.get("service"), hints, candidates,
                      fields.get("canonname"), fields.get("elapsed_ms", 0.0) / 1000.0)


class Explaining:
    """A trace callback that adds ``explain`` to ``resolved``/``reversed`` events.

    ``attempts``: for connect, how the attempts are ordered ("sequential"
    or "happy_eyeballs"); the explanation then also lists that order.
    """

    def __init__(self, trace: Trace, *, host: str | None, hints: Hints | None = None,
                 ni_flags: int = 0, timeout: float | None = None,
                 attempts: str | None = None) -> None:
        self.trace = trace
        self.host = host or None
        self.hints = hints
        self.ni_flags = ni_flags
        self.timeout = timeout
        self.attempts = attempts
        #: The service getaddrinfo was asked for, from its ``resolving`` event:
        #: a failed lookup has no answer to carry it, and the prediction of a
        #: failure (EAI_SERVICE, EAI_SOCKTYPE) depends on it.
        self.service: str | None = None

    def __getattr__(self, name: str) -> Any:
        # close(), payload sinks, ...: whatever the renderer offers.
        return getattr(self.trace, name)

    def __call__(self, event: str, fields: Event) -> None:
        if event == "resolving":
            self.service = fields.get("service") or None
        if "explain" not in fields:
            if event == "resolved" and self.hints is not None:
                fields = {**fields, "explain": self.forward(fields, None)}
            elif event == "reversed":
                fields = {**fields, "explain": self.reverse(fields.get("host"), None)}
        self.trace(event, fields)

    def forward(self, fields: Event | None, error: str | None) -> Fields:
        from netprobe.explain import explain_resolution

        assert self.hints is not None
        actual = _resolution(fields, self.hints) if fields is not None else None
        explain = explain_resolution(self.host, self.hints, actual, error,
                                     service=self.service, timeout=self.timeout,
                                     trace=self.trace)
        if self.attempts is not None and actual is not None:
            explain["attempt_order"] = self.attempt_order(actual)
            explain["attempts"] = self.attempts
        return explain

    def attempt_order(self, actual: Resolution) -> list[str]:
        """The endpoints in the order connect will try them."""
        candidates = actual.candidates
        if self.attempts == "happy_eyeballs":
            from netprobe.connect import interleave_families

            candidates = interleave_families(candidates)
        return [c.endpoint() for c in candidates]

    def reverse(self, host: str | None, error: str | None) -> Fields:
        from netprobe.explain.reverse import explain_reverse

        assert self.host is not None
        return explain_reverse(self.host, self.ni_flags, host, error, timeout=self.timeout,
                              trace=self.trace)

    def failed(self, exc: NetprobeError) -> None:
        """The lookup failed: explain that too, on the error and for people."""
        if "explain" in exc.extra:
            return
        if self.hints is not None:
            explain = self.forward(None, exc.code)
        else:
            explain = self.reverse(None, exc.code)
        exc.extra["explain"] = explain
        self.trace("explain", explain)


def explaining(trace: Trace, enabled: bool, **options: Any) -> Trace:
    """``trace`` itself, or wrapped to explain (``enabled`` is the --explain flag)."""
    return Explaining(trace, **options) if enabled else trace


def explain_failure(trace: Trace, exc: NetprobeError) -> None:
    """Called where a command catches a failed lookup; nothing without --explain."""
    if isinstance(trace, Explaining):
        trace.failed(exc)


class explained_failures:
    """A lookup that fails inside is explained (with --explain), then raised on.

    Whatever else the command does with the failure (the DNS view beside it)
    it does inside, so the explanation comes last, as the one-line error's
    neighbour.  A class, not ``contextlib.contextmanager``: contextlib is not
    otherwise imported by a console-script start-up (some 3 M instructions).
    """

    __slots__ = ("trace",)

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # None: the exception, if any, is raised on.
        if isinstance(exc, ResolutionFailed):
            explain_failure(self.trace, exc)
