"""What the benchmarks share (run as ``python bench/X.py``: this folder is on sys.path)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def netprobe_command(given: str | None = None) -> list[str]:
    """``given`` split, else the ``netprobe`` script beside this interpreter (as users
    run it), else one on PATH, else ``python -m netprobe``."""
    if given:
        return given.split()
    script = Path(sys.executable).with_name("netprobe")
    if script.exists():
        return [str(script)]
    found = shutil.which("netprobe")
    return [found] if found else [sys.executable, "-m", "netprobe"]
