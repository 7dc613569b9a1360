"""What people read at the terminal (issue 8, point 5): help that fits each command,
examples at the end of every --help, and a timed-out attempt said once."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from tests.helpers import run

COMMANDS = ["resolve", "reverse", "connect", "listen", "check", "completion"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_ends_with_two_or_three_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.status == 0, result
    head, _, examples = result.out.rstrip("\n").rpartition("\n  Examples:\n")
    assert head, result.out
    lines = examples.splitlines()
    assert 2 <= len(lines) <= 3, lines
    assert all(f"netprobe {command}" in line for line in lines), lines


@pytest.mark.parametrize("command", ["resolve", "connect", "listen"])
def test_hint_options_help_names_only_getaddrinfo_flags(command: str) -> None:
    text = run(command, "--help").out
    assert "AI_NUMERICHOST" in text and "AI_NUMERICSERV" in text
    assert "NI_" not in text


def test_reverse_help_names_getnameinfo_flags() -> None:
    text = run("reverse", "--help").out
    assert "NI_NUMERICHOST" in text and "NI_NUMERICSERV" in text and "NI_NAMEREQD" in text
    assert "AI_" not in text


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: Linux drops further SYNs (a silent peer)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    queued = socket.create_connection(("127.0.0.1", port))
    try:
        yield port
    finally:
        queued.close()
        server.close()


def test_a_timed_out_attempt_says_it_once(blackhole_port: int) -> None:
    result = run("connect", "127.0.0.1", str(blackhole_port), "-z", "--timeout", "0.5")
    assert result.status == 5, result
    [line] = [line for line in result.err.splitlines() if line.startswith("#0 ")]
    assert re.fullmatch(rf"#0 127\.0\.0\.1:{blackhole_port}  timed out  ETIMEDOUT  [\d.]+ ms",
                        line), line
    assert line.count("timed out") == 1
