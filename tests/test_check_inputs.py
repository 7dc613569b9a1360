"""check's input edge cases: where the targets come from and what a target may be.

Each test runs the CLI as a user does and asserts on the exit status and
the one-line error; no target here reaches a resolver.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

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


def test_a_target_file_with_a_byte_order_mark_and_crlf_lines(tmp_path: Path) -> None:
    # Saved by a Windows editor: the BOM made the first target "a target
    # contains no control characters" (exit 2), though nothing shows one.
    listing = tmp_path / "targets.txt"
    listing.write_bytes(b"\xef\xbb\xbfdns://localhost\r\ndns://127.0.0.1\r\n")
    proc = subprocess.run([*NETPROBE, "check", "-f", str(listing)], capture_output=True,
                          text=True, env=child_env(), timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("dns://localhost ")


def test_a_target_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_bytes(b"127.0.0.1:1\xff\n")
    proc = subprocess.run([*NETPROBE, "check", "-f", str(listing)], capture_output=True,
                          text=True, env=child_env(), timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.endswith("line 1: a target is UTF-8 text: byte 0xff is not\n")
