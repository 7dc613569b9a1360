"""The quick path (netprobe.quick): the same values as click, or none; no click on it.

* The committed table is what the generator writes from the click commands.
* Over random command lines (valid and not: every option in every form,
  bad values, repeats, combined flags, ``--``, help), whatever the quick
  path accepts reaches connect's body with exactly the settings, arguments
  and values click gives it; the common CI command lines are all accepted.
* As users run it: a quick command line imports no click, a declined one
  still runs through click, and a failing connect writes the same lines and
  exits with the same status by either path.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netprobe.commands.check as check_command
import netprobe.commands.connect as connect_command
import netprobe.commands.resolve as resolve_command
from netprobe.cli import cli
from netprobe.quick import generate, parse, tables
from netprobe.render import Settings
from tests.helpers import interrupted_once_connected, modules_of, run

# --- the table is the click commands' -----------------------------------------------------


def test_the_committed_table_is_the_one_the_click_commands_make() -> None:
    assert Path(tables.__file__).read_text(encoding="utf-8") == generate.table_text(), (
        "run: python -m netprobe.quick.generate")


def test_the_generator_refuses_a_callback_that_does_not_say_what_it_does() -> None:
    @click.command()
    @click.option("--odd", is_flag=True, callback=lambda ctx, param, value: value)
    def odd(odd: bool) -> None:
        """A command with a callback the quick path cannot stand in for."""

    with pytest.raises(generate.Unsupported, match="callback"):
        generate.options_of(odd)


# --- the same values as click -----------------------------------------------------------


def exactly(settings_made: Settings, positional: Any, values: dict[str, Any]) -> str:
    """A body's call as text: ``True`` and ``1``, or ``1`` and ``1.0``, differ here."""
    return repr((sorted(vars(settings_made).items()), list(positional), sorted(values.items())))


#: Each quick command's click module, whose ``run`` the click command calls.
SHELLS: dict[str, Any] = {"connect": connect_command, "resolve": resolve_command,
                          "check": check_command}


def click_parse(args: list[str]) -> str | None:
    """What click hands the command's body for ``args`` (None: click did not run it)."""
    calls: list[str] = []

    def record(settings: Settings, *positional: Any, **values: Any) -> None:
        calls.append(exactly(settings, positional, values))

    shells = list(SHELLS.values())
    originals = [shell.run for shell in shells]
    for shell in shells:
        shell.run = record
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.main(args, prog_name="netprobe", standalone_mode=False, obj=Settings())
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        return None
    finally:
        for shell, original in zip(shells, originals, strict=True):
            shell.run = original
    return calls[0] if calls else None


def quick_parse(args: list[str]) -> str | None:
    parsed = parse(args)
    if parsed is None:
        return None
    body, settings_made, positional, values = parsed
    command = next(a for a in args if not a.startswith("-"))
    assert body is SHELLS[command].run
    return exactly(settings_made, positional, values)


#: Values for each type, good ones and ones the quick path or click must refuse.
SAMPLES = {
    "str": ["x", "", "a=b", "é", "-x", "--json"],
    "choice": ["inet", "inet6", "unspec", "stream", "dgram", "INET", "bogus"],
    "int": ["0", "5", "10", "+5", " 5", "-1", "x", "٣", "007"],
    "float": ["0", "50", "50.5", "100", "100.1", "1e2", "nan", "-1", ".5"],
    "duration": ["1", "0", "250ms", "2.5", "x", "-1", "2m", "1h", ""],
    "protocol": ["tcp", "TCP", "udp", "6", "256", "x", "any", "0"],
}
JUNK = ["--", "-zv", "-vv", "-c5", "--help", "-h", "--version", "--nope", "-", "-zq"]
POSITIONAL = ["127.0.0.1", "80", "localhost", "::1", "unix:/tmp/x", "a b", "8000", "http", "",
              "db:5432", "tls://example.test:443"]


@st.composite
def option_tokens(draw: st.DrawFn, command: str) -> list[str]:
    options = tables.COMMANDS[command].options
    name = draw(st.sampled_from(sorted(options)))
    kind, _, value_type, _ = options[name]
    if kind not in ("value", "values"):
        return [draw(st.sampled_from([name, name, f"{name}=1"]))]
    assert value_type is not None
    value = draw(st.sampled_from(SAMPLES[value_type[0]]))
    return draw(st.sampled_from([[name, value], [f"{name}={value}"], [name]]))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(tables.COMMANDS)))
    before = draw(st.lists(st.sampled_from([*tables.GROUP, "--version", "-x"]), max_size=2))
    parts: list[list[str]] = draw(st.lists(st.one_of(
        option_tokens(command), st.sampled_from(POSITIONAL).map(lambda p: [p]),
        st.sampled_from(JUNK).map(lambda j: [j])), max_size=7))
    head = draw(st.lists(st.sampled_from(POSITIONAL), min_size=0, max_size=2))
    return [*before, command, *head, *[token for part in parts for token in part]]


@given(command_lines())
@settings(max_examples=1000, deadline=None)
def test_what_the_quick_path_accepts_click_parses_the_same(args: list[str]) -> None:
    quick = quick_parse(args)
    if quick is not None:
        assert click_parse(args) == quick, args


#: Command lines of the kind CI loops run: every one must be quick, and click's equal.
COMMON = [
    ["connect", "db", "5432", "-z", "--wait", "60", "--interval", "0.5"],
    ["connect", "localhost", "8000", "-c", "10", "--interval", "0.2"],
    ["connect", "127.0.0.1", "8000", "--count", "2000", "--interval", "0", "--json"],
    ["--json", "connect", "::1", "443", "--tls", "--insecure", "--count", "3", "-v"],
    ["connect", "example.test", "443", "--tls", "--sni", "example.test", "--min-days", "14",
     "-z", "-q"],
    ["connect", "localhost", "25", "-z", "--expect", "^220", "--timeout", "2s"],
    ["connect", "-u", "127.0.0.1", "53", "--send", "ping", "--expect", "pong", "--json"],
    ["connect", "unix:/run/app.sock", "-z", "--syscalls"],
    ["connect", "localhost", "80", "-4", "--family=inet", "--max-loss", "20", "-c", "5",
     "--happy-eyeballs", "--he-delay", "100ms", "--explain", "--debug"],
    ["resolve", "localhost"],
    ["resolve", "localhost", "http", "--json"],
    ["--json", "resolve", "example.test", "--family", "inet6", "--canonname", "--timeout", "2"],
    ["resolve", "example.test", "--dns", "--explain", "--socktype", "stream", "--all", "-v"],
    ["check", "db:5432", "cache:6379", "--wait", "2m", "--interval", "2s"],
    ["check", "-f", "targets.txt", "-f", "more.txt", "--parallel", "8", "--json"],
    ["check", "localhost:8080", "--invert", "--wait", "30s", "-q"],
    ["check", "tls://a.test:443", "tls://b.test:443", "--insecure", "--min-days", "7", "-6"],
    ["check"],
]


@pytest.mark.parametrize("args", COMMON, ids=lambda a: " ".join(a))
def test_common_command_lines_are_quick_and_parsed_as_click_parses_them(
        args: list[str]) -> None:
    quick = quick_parse(args)
    assert quick is not None
    assert click_parse(args) == quick


@pytest.mark.parametrize("args", [
    ["connect", "h", "1", "-zv"], ["connect", "h", "1", "-z", "-z"], ["connect", "--help"],
    ["connect", "h", "1", "--count", "-1"], ["connect", "h", "1", "--max-loss", "101"],
    ["connect", "h", "1", "--interval", "soon"], ["connect"], ["connect", "a", "b", "c"],
    ["--version"], ["reverse", "127.0.0.1"], ["connect", "h", "1", "--", "-z"],
    ["resolve", "localhost", "--ai-all", "--all"], ["resolve", "--help"],
    ["check", "h:1", "--parallel", "0"], ["check", "h:1", "-f"],
    ["connect", "h", "1", "--send", "-x"], ["connect", "h", "1", "-z=1"],
])
def test_anything_uncertain_is_left_to_click(args: list[str]) -> None:
    assert parse(args) is None


# --- as users run it -------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["connect", "127.0.0.1", "{port}", "--count", "2", "--interval", "0", "--json"],
    ["connect", "127.0.0.1", "{port}", "-z", "-q"],
    ["resolve", "localhost", "--json"],
    ["--json", "resolve", "127.0.0.1", "{port}"],
    ["check", "127.0.0.1:{port}", "127.0.0.1:{port}", "--json"],
])
def test_a_quick_command_line_imports_no_click(listening_port: int, command: list[str]) -> None:
    modules = modules_of(*[arg.format(port=listening_port) for arg in command])
    body = f"netprobe.commands.{next(a for a in command if not a.startswith('-'))}_run"
    assert body in modules and "netprobe.quick" in modules
    assert not {m for m in modules if m == "click" or m.startswith("click.")}
    assert "netprobe.cli" not in modules and "netprobe.options" not in modules


def test_a_declined_command_line_runs_through_click(listening_port: int) -> None:
    modules = modules_of("connect", "127.0.0.1", str(listening_port), "-zv")
    assert {"click", "netprobe.cli", "netprobe.commands.connect"} <= modules


def _masked(text: str) -> str:
    return re.sub(r'("t"|"elapsed_ms"|_ms"):[0-9.]+|[0-9.]+ ms', "<time>", text)


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_failure_reads_the_same_by_either_path(extra: list[str]) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = str(closed.getsockname()[1])  # bound, never listening: refused
    quick = run("connect", "127.0.0.1", port, "-z", *extra)
    by_click = run("connect", "-z", *extra, "--", "127.0.0.1", port)  # `--`: click's
    closed.close()
    assert quick.status == by_click.status == 4
    assert _masked(quick.out) == _masked(by_click.out)
    assert _masked(quick.err) == _masked(by_click.err)
    assert "netprobe: connect 127.0.0.1" in quick.err and "Traceback" not in quick.err


def test_ctrl_c_reads_the_same_by_either_path(listening_port: int) -> None:
    quick = interrupted_once_connected("connect", "127.0.0.1", str(listening_port))
    by_click = interrupted_once_connected("connect", "--", "127.0.0.1", str(listening_port))
    assert quick == by_click == (130, b"\nnetprobe: interrupted\n")
