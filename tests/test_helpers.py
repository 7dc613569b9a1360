"""The test helpers' own pure parts: reading a child's output up to a marker."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import read_until

# One write of three lines: a pipe read takes them all at once, as it took
# listen's "listening" and the loop's listen() when the test read late.
WRITER = [sys.executable, "-c",
          "import os; os.write(1, b'first\\nlistening on\\nafter\\n'); os.write(2, b'done\\n')"]


def test_read_until_keeps_what_came_after_the_marker() -> None:
    proc = subprocess.Popen(WRITER, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(proc.stdout, b"listening on")
    out, err = proc.communicate(timeout=30)
    assert (seen + out).splitlines() == [b"first", b"listening on", b"after"]
    assert err == b"done\n"


def test_readline_then_communicate_loses_what_was_read_ahead() -> None:
    # Why read_until exists: the buffered file object's read-ahead is not
    # what communicate() reads (it reads the descriptor).
    proc = subprocess.Popen(WRITER, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    while b"listening on" not in lines[-1]:
        lines.append(proc.stdout.readline())
    out, _err = proc.communicate(timeout=30)
    assert b"after" not in b"".join(lines) + out


def test_read_until_stops_at_the_end_without_the_marker() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "print('nothing here')"],
                            stdout=subprocess.PIPE)
    assert read_until(proc.stdout, b"listening on") == b"nothing here\n"
    proc.wait(timeout=30)
