"""Process limits the commands that hold many sockets at once must fit in.

Many systems start processes with a soft RLIMIT_NOFILE of 1024 descriptors.
``listen --max-clients`` and ``check --parallel`` both promise more sockets
than that at their defaults or near them, and the failure a too-low limit
causes (EMFILE from accept() or socket(), deep inside a run) is far from
its cause.  So the soft limit is raised up front, never above the hard limit
(only root may raise that, and netprobe does not ask for privileges).
"""

from __future__ import annotations

import contextlib


class FdLimit:
    """The RLIMIT_NOFILE soft and hard limits (``None``: unlimited or unknown)."""

    __slots__ = ("hard", "soft")

    def __init__(self, soft: int | None, hard: int | None) -> None:
        self.soft = soft
        self.hard = hard

    def fits(self, wanted: int) -> bool:
        return self.soft is None or self.soft >= wanted


def raise_fd_limit(wanted: int) -> FdLimit:
    """Raise the soft descriptor limit to ``wanted`` (capped by the hard limit).

    Returns the limits in force afterwards; the caller decides whether they
    are enough (``listen`` goes on, ``check`` refuses a --parallel it cannot
    honour).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return FdLimit(None, None)
    infinity = resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != infinity and soft < wanted:
        target = wanted if hard == infinity else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FdLimit(None if soft == infinity else soft, None if hard == infinity else hard)
