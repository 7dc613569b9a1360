"""Renderers: turn the core's events and the peer's bytes into JSON Lines or rich text.

``jsonl`` needs only the standard library, so ``--json`` never imports rich.
``human`` (and its per-command subclasses) is the only place rich is imported.

Every command gets one renderer from ``make_trace`` and uses it the same way::

    with make_trace(settings, HUMAN) as out:
        core(..., trace=out, payload=out.payload)

* ``out(event, fields)`` is the trace callback the core reports through;
* ``out.payload(data, ...)`` is the sink for what a peer sent, as raw bytes.
  The core never encodes payload: the JSON renderer turns it into ``data``
  events (``text`` or ``base64``), the human one writes it to stdout as it
  is.  This is the one place outside text enters the output;
* ``out.close()`` (or leaving the ``with``) ends it: a live status line is
  taken down, a UTF-8 sequence still incomplete is written.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

    from netprobe.events import Event, Fields


class Settings:
    """What the output looks like: the global options, filled in wherever on the
    command line they appear.

    Here, with the renderers, rather than in ``netprobe.options``: the renderers must
    not lean on the CLI layer (click, the resolver) to know whether to be
    quiet.  ``options.settings(ctx)`` builds one from the command line.
    """

    def __init__(self, json: bool = False, debug: bool = False) -> None:
        self.json = json
        self.quiet = False
        self.verbose = 0
        self.debug = debug
        #: --syscalls: show every sockets-interface call (SPEC, "Syscalls").
        self.syscalls = False
        #: --explain: a failure's ``why`` with its sockets and route (SPEC, "The kernel's side").
        self.explain = False


class Renderer:
    """What every renderer offers the commands: trace callback, payload sink, close."""

    def __call__(self, event: str, fields: Event) -> None:
        """The trace callback: one event of the core."""

    def wants(self, event: str) -> bool:
        """Whether ``event`` would show at all.  The core asks (``events.wants_of``,
        as it must not import this module) and builds none of those nobody reads:
        listen's per-client events under ``-q``, the calls without ``--syscalls``."""
        return True

    def payload(self, data: bytes, *, client: Fields | None = None, datagram: bool = False,
                echoed: bool | None = None) -> None:
        """Bytes a peer sent, raw.

        ``client``: which of listen's clients sent them (absent for connect);
        ``datagram``: they are one whole message (UDP), not a piece of a
        stream; ``echoed``: listen --udp sent them back (the datagram is
        traced rather than written out).
        """

    def close(self) -> None:
        """The end of the output."""

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def make_trace(settings: Settings, human: str, **options: Any) -> Renderer:
    """JSON Lines under ``--json``, else the human renderer ``module:Class``.

    The renderer is named rather than imported by the caller so that rich is
    imported only when the output is for people.
    """
    # The renderer is the last import a command makes: start-up is over.
    from netprobe import startup

    if settings.json:
        from netprobe.render.jsonl import JsonLines

        startup.resume()
        return JsonLines(syscalls=settings.syscalls, verbose=settings.verbose)
    module, _, name = human.partition(":")
    import importlib  # the human path only: it imports rich, which imports importlib anyway

    renderer: Renderer = getattr(importlib.import_module(module), name)(settings, **options)
    startup.resume()
    return renderer
