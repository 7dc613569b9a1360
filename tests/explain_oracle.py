"""Run inside a test namespace: the OS's getaddrinfo beside netprobe's prediction.

``python -m tests.explain_oracle`` reads requests from stdin, one JSON object
a line ({``host``, ``service``, ``family``, ``socktype``, ``protocol``,
``flags``}; absent keys are NULL or 0), and answers each with one JSON line:
``os`` (socket.getaddrinfo's addresses, one per entry, or the EAI_* name it
failed with), ``os_entries`` ([address, socktype, protocol] per entry) and
``explain`` (netprobe's explanation of the same call).  The two are computed
independently: ``os`` never goes through netprobe.

Design decision: one process answers many requests, so a property test's
examples cost a getaddrinfo call each rather than a Python start-up.  That
holds for what glibc reads on every call (/etc/hosts; nsswitch.conf when
it changes), not for what it reads once per process (host.conf and
RESOLV_MULTI, gai.conf unless it says ``reload yes``, RES_OPTIONS-style
variables): a test that varies those starts an oracle per case.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

from netprobe.addrinfo import Hints
from netprobe.constants import eai_name
from netprobe.errors import NetprobeError
from netprobe.explain import explain_resolution
from netprobe.resolver import getaddrinfo


def answer(request: dict[str, Any]) -> dict[str, Any]:
    host: str | None = request.get("host") or None
    service: str | None = request.get("service") or None
    family, socktype = int(request.get("family", 0)), int(request.get("socktype", 0))
    protocol, flags = int(request.get("protocol", 0)), int(request.get("flags", 0))
    os_answer: object
    entries: list[list[object]] = []
    try:
        found = socket.getaddrinfo(host, service, family, socktype, protocol, flags)
        os_answer = [str(e[4][0]) for e in found]
        entries = [[str(e[4][0]), int(e[1]), int(e[2])] for e in found]
    except socket.gaierror as exc:
        os_answer = eai_name(exc.errno)
    hints = Hints(family, socktype, protocol, flags)
    try:
        resolution = getaddrinfo(host, service, hints)
        error = None
    except NetprobeError as exc:
        resolution, error = None, exc.code
    explain = explain_resolution(host, hints, resolution, error, service=service, timeout=5.0)
    return {"os": os_answer, "os_entries": entries, "explain": explain}


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
