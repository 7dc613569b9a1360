"""Durations as users write them: ``2.5`` (seconds), ``250ms``, ``2m``, ``1h``."""

from __future__ import annotations

import math

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds for ``text``; ValueError with a readable message if it is not a duration."""
    raw = text.strip().lower()
    unit = 1.0
    # "ms" before "m" and "s": the longest suffix wins.
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if raw.endswith(suffix):
            raw, unit = raw[: -len(suffix)].strip(), _UNITS[suffix]
            break
    try:
        value = float(raw) * unit
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (examples: 2.5, 250ms, 2m)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a duration >= 0")
    return value
