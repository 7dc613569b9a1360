"""What start-up does without: rich.table, the IDNA codec for ASCII names, the GC, typing.

bench/startup.py measures the time; these tests keep the reasons from
coming back.  Only ``localhost`` and names refused before any lookup are
resolved (no traffic leaves the machine).
"""

from __future__ import annotations

import gc
import subprocess

import pytest
from rich.console import Console
from rich.text import Text

from netprobe import startup
from netprobe.errors import InvalidInput
from netprobe.inputs import check_host, host_argument
from netprobe.render.columns import Columns
from tests.helpers import NETPROBE, child_env, imported_by, modules_of, run


@pytest.mark.parametrize("command", [
    ["connect", "127.0.0.1", "{port}", "--count", "1", "--json"],
    ["connect", "127.0.0.1", "{port}", "--count", "2", "--interval", "0", "--json"],
    ["resolve", "localhost", "--json"],
])
def test_a_json_probe_or_resolve_imports_no_typing_re_or_contextlib(
        listening_port: int, command: list[str]) -> None:
    # typing is some 16 M instructions of a ~110 M start-up (netprobe.record says
    # why), re 7 M with ``python -m`` (the console script imports re itself).
    modules = modules_of(*[arg.format(port=listening_port) for arg in command])
    assert "netprobe.record" in modules  # the records were made, without typing
    assert "typing" not in modules
    assert "re" not in modules
    # The console script's start-up (python -m imports both for runpy).
    assert "contextlib" not in modules and "importlib" not in modules
    # A success ends without the exit statuses' enum (netprobe.startup.exit_with).
    assert "netprobe.status" not in modules
    # The strace notation is for --syscalls alone.
    assert "netprobe.render.syscalls" not in modules and "struct" not in modules
    if command[0] == "connect":  # a numeric address: resolved without a bounding thread
        assert "threading" not in modules


def test_human_resolve_imports_neither_rich_table_nor_the_idna_codec() -> None:
    modules = imported_by("resolve", "localhost")
    assert "rich.console" in modules  # the human path does draw with rich
    assert not {"rich.table", "fractions", "decimal", "encodings.idna"} & modules


def test_json_resolve_imports_no_rich_and_no_idna_codec() -> None:
    modules = imported_by("resolve", "localhost", "--json")
    assert not any(m == "rich" or m.startswith(("rich.", "dns.")) for m in modules)
    assert "encodings.idna" not in modules


def test_ascii_hosts_go_to_getaddrinfo_as_bytes() -> None:
    assert host_argument("localhost") == b"localhost"
    assert host_argument(None) is None
    assert host_argument("bücher.test") == "bücher.test"  # the codec still does IDNA


@pytest.mark.parametrize("host", ["..", "a..b", ".x", "."])
def test_empty_labels_are_refused_before_any_lookup(host: str) -> None:
    with pytest.raises(InvalidInput, match="empty label"):
        check_host(host)
    result = run("resolve", host, "80")
    assert result.status == 2 and result.out == ""
    assert result.err == f"netprobe: resolve {host}: the host name has an empty label " \
                         '(".." or a leading dot)\n'


def test_a_trailing_dot_is_not_an_empty_label() -> None:
    check_host("localhost.")
    check_host("a.b.")


def test_gc_pause_is_only_for_the_entry_points() -> None:
    assert gc.isenabled()
    startup.resume()  # nothing was paused: a no-op
    assert gc.isenabled()
    startup.pause()
    try:
        assert not gc.isenabled()
    finally:
        startup.resume()
    assert gc.isenabled()


def test_the_collector_runs_again_once_the_renderer_exists() -> None:
    code = ("import gc, sys; from netprobe.__main__ import main; "
            "from netprobe.render import Settings, make_trace; "
            "from netprobe import startup; startup.pause(); "
            "assert not gc.isenabled(); make_trace(Settings(json=True), 'x:y'); "
            "print(gc.isenabled())")
    proc = subprocess.run([NETPROBE[0], "-c", code], capture_output=True, env=child_env(),
                          timeout=60)
    assert proc.stdout.decode().strip() == "True", proc.stderr.decode()


def render(columns: Columns) -> str:
    console = Console(width=20, color_system=None, highlight=False, soft_wrap=True,
                      record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(columns)
    return console.export_text()


def test_columns_align_like_a_borderless_table() -> None:
    table = Columns(title="candidates")
    table.add_column("#", justify="right")
    table.add_column("address")
    table.add_column("name")
    table.add_row("0", Text("127.0.0.1", style="bold"), "localhost")
    table.add_row("10", "::1", "")
    table.add_row("2", "a-longer-address-than-the-console-is-wide")
    wide = len("a-longer-address-than-the-console-is-wide")
    assert render(table).splitlines() == [
        "candidates",
        " #  " + "address".ljust(wide) + "  name",
        " 0  " + "127.0.0.1".ljust(wide) + "  localhost",
        "10  ::1",  # no trailing blanks, even under an empty last cell
        " 2  a-longer-address-than-the-console-is-wide",  # never cut to the console width
    ]


def test_resolve_table_header_and_rows() -> None:
    result = run("resolve", "localhost", "--family", "inet")
    assert result.status == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.split() == ["#", "family", "socktype", "protocol", "address", "port"]
    assert rows and all(row.split()[1] == "AF_INET" and "127.0.0.1" in row for row in rows)
    assert all(line == line.rstrip() for line in result.out.splitlines())


def test_explain_json_imports_no_idna_codec() -> None:
    """--explain parses a numeric host without CPython's IDNA codec, as the core does."""
    modules = imported_by("resolve", "localhost", "--explain", "--json")
    assert "netprobe.explain" in modules
    assert not {"encodings.idna", "stringprep", "unicodedata"} & modules


def test_explain_json_imports_no_typing_and_no_re() -> None:
    # Its records are netprobe.record's too: typing and re were some 50 M
    # instructions of a ~165 M --explain start-up.
    modules = modules_of("resolve", "localhost", "--explain", "--json")
    assert "netprobe.explain.sort" in modules
    assert "typing" not in modules and "re" not in modules


def test_the_exit_knows_the_spec_status_of_a_closed_stdout() -> None:
    from netprobe.status import ExitStatus

    assert startup.STDOUT_CLOSED == ExitStatus.STDOUT_CLOSED == 141
