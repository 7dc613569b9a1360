"""Renderers: turn the core's events into JSON Lines or rich text.

``jsonl`` needs only the standard library, so ``--json`` never imports rich.
``human`` (and its per-command subclasses) is the only place rich is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netprobe.events import Trace
    from netprobe.options import Settings


def make_trace(settings: Settings, human: str, **options: Any) -> Trace:
    """JSON Lines under ``--json``, else the human renderer ``module:Class``.

    The renderer is named rather than imported by the caller so that rich is
    imported only when the output is for people.
    """
    # The renderer is the last import a command makes: start-up is over.
    from netprobe import startup

    if settings.json:
        from netprobe.render.jsonl import JsonLines

        startup.resume()
        return JsonLines()
    module, _, name = human.partition(":")
    renderer: Trace = getattr(importlib.import_module(module), name)(settings, **options)
    startup.resume()
    return renderer
