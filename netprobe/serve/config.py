"""What ``listen`` asks of the server (``ServeConfig``) and the signals that stop it."""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass
from typing import Any


@dataclass
class ServeConfig:
    echo: bool = False
    iterative: bool = False
    max_clients: int = 1024
    idle_timeout: float | None = None
    count: int | None = None
    names: bool = False
    backlog: int = 4096
    #: listen --tls: the server's ssl.SSLContext (netprobe.tls.serving puts TLS under
    #: each Connection); None for plain TCP.
    tls: Any = None


class StopSignals:
    """SIGINT/SIGTERM caught from before binding until the server's loop takes over.

    The ``listening`` event is emitted (and a test or script may signal the
    server) before the event loop runs; a signal in that gap must still mean
    "stop cleanly with a summary", not the default action (death by SIGTERM,
    KeyboardInterrupt for SIGINT).  Signals are recorded here and the server
    stops as soon as it starts.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.caught: list[str] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: leave it alone
                self.previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum: int, frame: object) -> None:
        self.caught.append(signal.Signals(signum).name)

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

