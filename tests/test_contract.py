"""The output and exit-status contract: JSON Lines, streams, colour, pipes, signals, options."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from netprobe.cli import COMMANDS, cli
from tests.helpers import NETPROBE, Namespace, child_env, child_pids, imported_by, on_terminal, run

ROOT = Path(__file__).resolve().parent.parent
ESCAPE = re.compile(r"\x1b\[")
CANDIDATE_FIELDS = {"index", "family", "socktype", "protocol", "address", "port", "flowinfo",
                    "scope_id", "canonname"}


def test_resolved_event_has_the_spec_fields() -> None:
    result = run("resolve", "localhost", "http", "--socktype", "stream", "--json")
    assert result.status == 0
    lines = result.out.splitlines()
    assert len(lines) == 1  # resolve prints exactly one line
    [event] = result.events()
    assert event["event"] == "resolved" and isinstance(event["t"], float)
    assert {"host", "service", "hints", "canonname", "candidates", "elapsed_ms"} <= set(event)
    assert event["hints"] == {"family": "AF_UNSPEC", "socktype": "SOCK_STREAM",
                              "protocol": 0, "flags": []}
    assert event["candidates"]
    for candidate in event["candidates"]:
        assert set(candidate) == CANDIDATE_FIELDS
        assert candidate["port"] == 80 and candidate["socktype"] == "SOCK_STREAM"
    assert result.err == ""  # --json: the trace does not go to stderr as text


def test_reversed_event_has_the_spec_fields() -> None:
    result = run("reverse", "127.0.0.1", "80", "--numeric-serv", "--json")
    [event] = result.events()
    assert result.status == 0
    assert event["event"] == "reversed"
    assert {"address", "port", "flags", "host", "service", "elapsed_ms", "t"} <= set(event)
    assert event["flags"] == ["NI_NUMERICSERV"] and event["service"] == "80"


@pytest.mark.parametrize("args", [
    ["--json", "resolve", "localhost", "--family", "nope"],
    ["resolve", "--json"],
    ["--json", "nosuchcommand"],
    ["reverse", "300.1.1.1", "--json"],
])
def test_usage_errors_under_json_are_error_events(args: list[str]) -> None:
    result = run(*args)
    assert result.status == 2
    [event] = result.events()
    assert event["event"] == "error" and event["exit"] == 2
    assert {"stage", "target", "code", "message", "t"} <= set(event)
    assert len(result.err.strip().splitlines()) == 1 and result.err.startswith("netprobe: ")


def test_error_line_names_stage_target_and_cause() -> None:
    result = run("resolve", "nosuch.invalid", "http", "--numeric-host")
    assert result.status == 3
    assert result.err == "netprobe: resolve nosuch.invalid http: EAI_NONAME: " \
        "Name or service not known\n"


def test_global_options_before_and_after_the_subcommand() -> None:
    before = run("--json", "-q", "resolve", "127.0.0.1", "80")
    after = run("resolve", "127.0.0.1", "80", "--json", "-q")
    assert before.status == after.status == 0
    strip = [{k: v for k, v in e.items() if k not in ("t", "elapsed_ms")}
             for e in before.events() + after.events()]
    assert strip[0] == strip[1]
    assert run("--version").out == run("resolve", "--version").out != ""


def test_quiet_keeps_only_results_and_verbose_adds_detail() -> None:
    normal = run("resolve", "127.0.0.1", "80", "--socktype", "stream")
    quiet = run("-q", "resolve", "127.0.0.1", "80", "--socktype", "stream")
    verbose = run("resolve", "127.0.0.1", "80", "--socktype", "stream", "-v")
    assert "127.0.0.1" in normal.out and "hints" in normal.err
    assert quiet.out == normal.out and quiet.err == ""
    assert "getaddrinfo" in verbose.err and "getaddrinfo" not in normal.err


def test_no_escape_codes_on_a_pipe() -> None:
    result = run("resolve", "127.0.0.1", "80")
    assert not ESCAPE.search(result.out + result.err)


def test_colour_on_a_terminal_but_never_with_no_color() -> None:
    env = {"TERM": "xterm-256color"}
    _, coloured = on_terminal("resolve", "127.0.0.1", "80", env=env)
    _, plain = on_terminal("resolve", "127.0.0.1", "80", env={**env, "NO_COLOR": "1"})
    assert "127.0.0.1" in coloured and "127.0.0.1" in plain
    assert ESCAPE.search(coloured)
    assert not ESCAPE.search(plain)


def test_closed_stdout_exits_141_quietly() -> None:
    for args in (["resolve", "localhost"], ["resolve", "localhost", "--json"],
                 ["reverse", "127.0.0.1", "--json"]):
        reader, writer = os.pipe()
        os.close(reader)
        proc = subprocess.run([*NETPROBE, *args], stdout=writer, stderr=subprocess.PIPE,
                              env=child_env(), timeout=30)
        os.close(writer)
        # Quietly: the trace may be there, but no error line and no traceback.
        assert proc.returncode == 141, (args, proc.stderr)
        assert b"netprobe:" not in proc.stderr and b"Traceback" not in proc.stderr


@pytest.fixture
def silent_resolver() -> Iterator[Namespace]:
    """A namespace whose DNS server takes queries and never answers."""
    ns = Namespace()
    holder = ns.popen([sys.executable, "-c",
                       "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                       "s.bind(('127.0.0.1',53)); print('up',flush=True); time.sleep(600)"],
                      stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"up"
    yield ns
    holder.kill()
    holder.wait()
    ns.close()


def test_resolution_is_bounded_by_timeout(silent_resolver: Namespace) -> None:
    ns = silent_resolver
    start = time.monotonic()
    result = ns.run("resolve", "slow.test", "80", "--timeout", "1", "--json")
    elapsed = time.monotonic() - start
    assert result.status == 5, result
    [event] = result.events()
    assert event["event"] == "error" and event["stage"] == "resolve" and event["exit"] == 5
    assert elapsed < 4  # glibc alone would wait 5 s x attempts


def test_ctrl_c_while_resolving_exits_130(silent_resolver: Namespace) -> None:
    ns = silent_resolver
    proc = ns.popen([*NETPROBE, "resolve", "slow.test", "80", "-v"], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    # -v traces the getaddrinfo call as it starts: from then on netprobe waits
    # for the silent resolver, which is when Ctrl-C must work.
    assert proc.stderr is not None
    while b"getaddrinfo" not in (line := proc.stderr.readline()):
        assert line, "netprobe ended before it called getaddrinfo"
    # nsenter forwards nothing: signal netprobe itself (nsenter's child, if it forked).
    children = child_pids(proc.pid)
    os.kill(children[0] if children else proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and err.strip().splitlines()[-1] == b"netprobe: interrupted"


def test_no_option_is_defined_outside_options_module() -> None:
    options = ROOT / "netprobe" / "options"
    for path in (ROOT / "netprobe").rglob("*.py"):
        if options not in path.parents:
            assert "click.option(" not in path.read_text(), path


def test_no_command_defines_a_flag_twice() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        flags = [flag for p in command.params for flag in (*p.opts, *p.secondary_opts)]
        assert len(flags) == len(set(flags)), (name, sorted(flags))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell: str) -> None:
    result = run("completion", shell)
    assert result.status == 0 and "_NETPROBE_COMPLETE" in result.out
    stored = (ROOT / "completions" / f"netprobe.{shell}").read_text()
    assert stored == result.out, f"completions/netprobe.{shell} is stale: regenerate it"


def test_completion_completes_commands_and_options() -> None:
    env = {"_NETPROBE_COMPLETE": "bash_complete", "COMP_WORDS": "netprobe resolve --fam",
           "COMP_CWORD": "2"}
    result = run(env=env)
    assert "--family" in result.out


def test_json_path_imports_neither_rich_nor_dnspython() -> None:
    imported = imported_by("resolve", "localhost", "--json")
    # JSON is written through json's C part (netprobe.render.jsontext): no json package;
    # a plain command line is read by the quick path (netprobe.quick): no click.
    assert "netprobe.quick" in imported and "_json" in imported
    assert not {name for name in imported
                if name.split(".")[0] in ("rich", "dns", "json", "click")}


def test_bare_netprobe_shows_the_help_and_exits_2() -> None:
    result = run()
    assert result.status == 2 and result.out == ""
    assert result.err.startswith("Usage: netprobe") and "resolve" in result.err
    assert "Traceback" not in result.err
