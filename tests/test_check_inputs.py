"""check's input edge cases: where the targets come from and what a target may be.

Each test runs the CLI as a user does and asserts on the exit status and
the one-line error; no target here reaches a resolver.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import NETPROBE, child_env

pytestmark = pytest.mark.timeout(60)


def test_targets_from_a_closed_stdin_are_a_usage_error() -> None:
    # `check -f - <&-`: Python starts with sys.stdin None; reading it was an
    # internal error (AttributeError, exit 1).
    proc = subprocess.run([*NETPROBE, "check", "-f", "-"], stdin=subprocess.DEVNULL,
                          capture_output=True, env=child_env(), timeout=30,
                          preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == b"netprobe: check -: cannot read the target file: stdin is closed\n"
