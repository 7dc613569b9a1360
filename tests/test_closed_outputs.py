"""A stdout or stderr closed by the caller (``>&-``, ``2>&-``): the command's own status.

Python starts such a process with ``sys.stdout`` / ``sys.stderr`` None; the
error line, the check table's whys and the exit flush wrote to it (a
traceback, or exit 1 in place of 4).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import NETPROBE, child_env

pytestmark = pytest.mark.timeout(60)


def _closed(fd: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*NETPROBE, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          env=child_env(), timeout=30, preexec_fn=lambda: os.close(fd))


@pytest.mark.parametrize("fd", [1, 2])
@pytest.mark.parametrize(("args", "status"), [
    (("connect", "127.0.0.1", "1", "-z"), 4),
    (("check", "127.0.0.1:1"), 4),
    (("sockets", "1"), 0),
    (("resolve", "localhost"), 0),
])
def test_a_closed_output_keeps_the_commands_status(fd: int, args: tuple[str, ...],
                                                   status: int) -> None:
    proc = _closed(fd, *args)
    other = proc.stderr if fd == 1 else proc.stdout
    assert proc.returncode == status, other
    assert b"Traceback" not in other and b"internal error" not in other
