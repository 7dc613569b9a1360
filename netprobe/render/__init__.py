"""Renderers: turn the core's events into JSON Lines or rich text.

``jsonl`` needs only the standard library, so ``--json`` never imports rich.
``human`` is the only module that imports rich.
"""
