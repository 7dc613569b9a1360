"""check's input edge cases: where the targets come from and what a target may be.

Each test runs the CLI as a user does and asserts on the exit status and
the one-line error; no target here reaches a resolver.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from tests.helpers import NETPROBE, Namespace, child_env

pytestmark = pytest.mark.timeout(60)


def test_targets_from_a_closed_stdin_are_a_usage_error() -> None:
    # `check -f - <&-`: Python starts with sys.stdin None; reading it was an
    # internal error (AttributeError, exit 1).
    proc = subprocess.run([*NETPROBE, "check", "-f", "-"], stdin=subprocess.DEVNULL,
                          capture_output=True, env=child_env(), timeout=30,
                          preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == b"netprobe: check -: cannot read the target file: stdin is closed\n"


@pytest.mark.parametrize(("target", "message"), [
    # getaddrinfo was asked for the name "localhost:80" (a DNS query for a
    # name no host can have), and the target failed with 3.
    ("dns://localhost:80", "dns://NAME takes a name only, no path or port"),
    ("dns://[::1]:53", "dns://NAME takes a name only, no path or port"),
    ("dns://[::1", "unbalanced '['"),
    ("dns://[db]", "[db] is not an IPv6 address"),
])
def test_a_dns_target_with_a_port_or_bad_brackets_is_2(
        namespace: Callable[..., Namespace], target: str, message: str) -> None:
    # In a namespace of its own: without the fix the name goes to a resolver.
    result = namespace().run("check", target)
    assert result.status == 2, result.err
    assert result.err.startswith(f"netprobe: check {target}: argument 1: {message}")


@pytest.mark.parametrize("target", ["dns://[::1]", "dns://::1"])
def test_a_dns_target_takes_an_ipv6_address_bare_or_in_brackets(
        namespace: Callable[..., Namespace], target: str) -> None:
    # In brackets as every other target writes it: the brackets went to
    # getaddrinfo and the target failed with EAI_NONAME.
    result = namespace().run("check", target, "--json")
    assert result.status == 0, result.err
    assert result.events()[-1]["targets"][0]["address"] == "::1"
