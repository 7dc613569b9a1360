"""What the output looks like: the global options every renderer reads.

Here, below the renderers, rather than in ``options.py``: the renderers must
not lean on the CLI layer (click, the resolver) to know whether to be quiet.
``options.settings(ctx)`` builds one from the command line.
"""

from __future__ import annotations


class Settings:
    """The global options; filled in wherever on the command line they appear."""

    def __init__(self, json: bool = False, debug: bool = False) -> None:
        self.json = json
        self.quiet = False
        self.verbose = 0
        self.debug = debug
