"""Run inside a test namespace: the OS's getaddrinfo order beside netprobe's prediction.

``python -m tests.explain_oracle HOST FAMILY FLAGS SOCKTYPE [SERVICE]`` prints one JSON
object: ``os`` (socket.getaddrinfo's addresses, one per entry, or the
EAI_* name it failed with) and ``explain`` (netprobe's explanation of the
same call).  The two are computed independently: ``os`` never goes
through netprobe.
"""

from __future__ import annotations

import json
import socket
import sys

from netprobe.addrinfo import Hints
from netprobe.constants import eai_name
from netprobe.errors import NetprobeError
from netprobe.explain import explain_resolution
from netprobe.resolver import getaddrinfo


def main() -> None:
    host = sys.argv[1] or None
    family, flags, socktype = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    service = sys.argv[5] if len(sys.argv) > 5 else None
    try:
        entries = socket.getaddrinfo(host, service, family, socktype, 0, flags)
        os_answer: object = [str(e[4][0]) for e in entries]
    except socket.gaierror as exc:
        os_answer = eai_name(exc.errno)
    hints = Hints(family, socktype, 0, flags)
    try:
        resolution = getaddrinfo(host, service, hints)
        error = None
    except NetprobeError as exc:
        resolution, error = None, exc.code
    explain = explain_resolution(host, hints, resolution, error, timeout=5.0)
    print(json.dumps({"os": os_answer, "explain": explain}))


if __name__ == "__main__":
    main()
