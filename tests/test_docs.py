"""The documentation stays true to the command line (issue 18, point 9).

Every ``netprobe ...`` example in README.md and docs/*.md must still parse:
click accepts its subcommand and its options (and ``check`` its targets),
exactly as ``netprobe`` would before running anything.  Nothing is run and
nothing touches the network: the examples are handed to the click command
objects' ``make_context``, which parses, converts and validates, and stops
there.  An example meant to show a usage error says so in a trailing comment
(``# usage error``) and must then be refused.

Also: the README opens with the two commands, the second being what
``.ci/run`` runs, and the links between the pages lead somewhere.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest

from netprobe.check.targets import parse_target
from netprobe.cli import cli
from netprobe.errors import InvalidInput
from tests.helpers import run

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: README's first line of code: install, then netprobe's main job.
INSTALL_AND_RUN = "pip install . && netprobe resolve localhost http"
#: What marks an example that must be refused.
USAGE_ERROR = "usage error"


class Example(NamedTuple):
    where: str  # "docs/connect.md:17"
    args: tuple[str, ...]  # what follows ``netprobe``
    refused: bool  # the example shows a usage error


# --- finding the examples -----------------------------------------------------
#
# Design: the examples are shell, so they are read as a shell would, with
# shlex (quotes, escapes) plus the few constructs the pages use: ``$ ``
# prompts, ``|``/``&&``/``;`` between commands, trailing comments, ``\``
# continuations, redirections, ``$(...)`` and ``sh -c "..."`` strings, and
# ``bash|zsh|fish`` written for "one of these".  In a block that has prompts,
# only the prompt lines are commands (the rest is their output); in a block
# without prompts every line is.  Inline code counts when it starts with
# ``netprobe ``.  An example the reader cannot parse fails the test rather
# than being skipped, so the test is never blind to a page.

FENCE = re.compile(r"^\s*(```|~~~)")
PROMPT = re.compile(r"^\s*\$ ")
#: ``netprobe`` as a shell word that starts a command (not ``netprobe:``, not a path).
INVOCATION = re.compile(r"(?:^|[\s\"'(|;&])netprobe\s")
#: A word written as a choice of alternatives: ``bash|zsh|fish``.
CHOICE = re.compile(r"(?<!\S)([\w.-]+(?:\|[\w.-]+)+)(?!\S)")
#: A file descriptor number before a redirection: the ``2`` of ``2>&1``.
REDIRECTED_FD = re.compile(r"(?<=\s)\d+(?=[<>])")
OPERATORS = {"|", "||", "&&", ";", "&", "|&", "(", ")"}


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment): a ``#`` starts a comment only at a word's start, outside quotes."""
    quote = ""
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:].strip()
    return line, ""


def expand_choices(line: str) -> list[str]:
    """``netprobe completion bash|zsh|fish`` -> one line per alternative."""
    match = CHOICE.search(line)
    if match is None:
        return [line]
    head, tail = line[: match.start()], line[match.end():]
    return [expanded for option in match.group(1).split("|")
            for expanded in expand_choices(head + option + tail)]


def shell_words(line: str) -> list[str]:
    lexer = shlex.shlex(REDIRECTED_FD.sub("", line), posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def commands(words: list[str]) -> Iterator[list[str]]:
    """The simple commands of a line; a redirection ends its command's arguments."""
    current: list[str] = []
    redirected = False
    for word in words:
        if word in OPERATORS:
            yield current
            current, redirected = [], False
        elif word and set(word) <= set("<>&"):
            redirected = True
        elif not redirected:
            current.append(word)
    yield current


def nested_invocation(word: str) -> str | None:
    """The netprobe command line inside a word: ``$(netprobe ...)``, ``sh -c "netprobe ..."``."""
    match = INVOCATION.search(word)
    if match is None:
        return None
    inner = word[match.start():].lstrip("\"'( ")
    if "$(" in word[: match.start() + 2] and inner.endswith(")"):
        inner = inner[:-1]
    return inner


def invocations(line: str) -> Iterator[tuple[str, ...]]:
    """The arguments of every ``netprobe`` command in one shell line."""
    for command in commands(shell_words(line)):
        for i, word in enumerate(command):
            if word == "netprobe":
                yield tuple(command[i + 1:])
                break
            inner = nested_invocation(word)
            if inner is not None:
                yield from invocations(inner)


def shell_lines(block: list[str]) -> Iterator[tuple[int, str]]:
    """(offset, line) of the commands in a code block, continuations joined."""
    prompted = any(PROMPT.match(line) for line in block)
    lines = iter(enumerate(block))
    for offset, line in lines:
        if prompted and not PROMPT.match(line):
            continue
        text = PROMPT.sub("", line, count=1)
        while text.rstrip().endswith("\\"):
            text = text.rstrip()[:-1] + " " + next(lines, (0, ""))[1].strip()
        yield offset, text


def code_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the first line, lines) of every fenced block."""
    start: int | None = None
    block: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            if start is None:
                start, block = number + 1, []
            else:
                yield start, block
                start = None
        elif start is not None:
            block.append(line)


def inline_code(text: str) -> Iterator[tuple[int, str]]:
    """(line number, code) of inline code starting with ``netprobe ``, outside fences."""
    fenced = False
    paragraph: list[tuple[int, str]] = []
    for number, line in itertools.chain(enumerate(text.splitlines(), 1), [(0, "")]):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.strip():
            paragraph.append((number, line))
            continue
        if paragraph:
            joined = " ".join(part for _, part in paragraph)
            for match in re.finditer(r"`([^`]+)`", joined):
                if match.group(1).startswith("netprobe "):
                    # A table cell escapes its pipes.
                    yield paragraph[0][0], match.group(1).replace("\\|", "|")
        paragraph = []


def examples_in(name: str, text: str) -> Iterator[Example]:
    found: list[tuple[int, str]] = list(inline_code(text))
    for start, block in code_blocks(text):
        found += [(start + offset, line) for offset, line in shell_lines(block)]
    for number, raw in found:
        code, comment = split_comment(raw)
        if not INVOCATION.search(" " + code):
            continue
        for line in expand_choices(code):
            for args in invocations(line):
                yield Example(f"{name}:{number}", args, USAGE_ERROR in comment)


def all_examples() -> list[Example]:
    return [example for page in PAGES
            for example in examples_in(str(page.relative_to(ROOT)), page.read_text())]


# --- parsing them as netprobe would ------------------------------------------


def parse(args: tuple[str, ...]) -> None:
    """Parse ``netprobe ARGS`` with the real click commands; raise if netprobe would refuse it.

    Global options (all flags) may come before the subcommand; everything
    from the subcommand on is the subcommand's.  ``--help`` and ``--version``
    end parsing early, as they end netprobe.
    """
    split = next((i for i, arg in enumerate(args) if not arg.startswith("-")), len(args))
    try:
        group = cli.make_context("netprobe", list(args[: split + 1]), resilient_parsing=False)
        if split == len(args):
            raise click.UsageError("Missing command.", group)
        name = args[split]
        command = cli.get_command(group, name)
        if command is None:
            raise click.UsageError(f"no such command {name!r}", group)
        with group:
            context = command.make_context(name, list(args[split + 1:]), parent=group,
                                           resilient_parsing=False)
    except click.exceptions.Exit:
        return
    if name == "check":
        # Targets are checked before anything is connected; so are these.
        for n, target in enumerate(context.params["targets"], 1):
            parse_target(target, f"argument {n}")


EXAMPLES = all_examples()


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.refused],
                         ids=lambda e: f"{e.where} {' '.join(e.args)}")
def test_example_parses(example: Example) -> None:
    parse(example.args)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.refused],
                         ids=lambda e: f"{e.where} {' '.join(e.args)}")
def test_example_of_a_usage_error_is_refused(example: Example) -> None:
    with pytest.raises((click.UsageError, InvalidInput)):
        parse(example.args)


def test_every_page_and_every_command_has_examples() -> None:
    pages = {example.where.partition(":")[0] for example in EXAMPLES}
    assert "README.md" in pages
    commands_shown = {example.args[0] for example in EXAMPLES if example.args}
    assert commands_shown >= {"resolve", "reverse", "connect", "listen", "check", "completion"}
    assert len(EXAMPLES) > 100, len(EXAMPLES)


# --- the reader and the parser on their own ----------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("netprobe resolve localhost http", [("resolve", "localhost", "http")]),
    ("$ echo hi | netprobe connect localhost 8000", [("connect", "localhost", "8000")]),
    ("netprobe listen 8000 --count 1 > received   # one client", [("listen", "8000", "--count",
                                                                  "1")]),
    ("netprobe resolve x 2>&1 | head -c0", [("resolve", "x")]),
    ('netprobe resolve "" 8080 --passive', [("resolve", "", "8080", "--passive")]),
    ("pip install . && netprobe resolve localhost http", [("resolve", "localhost", "http")]),
    ("netprobe completion bash|zsh|fish", [("completion", "bash"), ("completion", "zsh"),
                                           ("completion", "fish")]),
    ('eval "$(netprobe completion bash)"', [("completion", "bash")]),
    ('command: ["sh", "-c", "netprobe check -f /l --json || true"]', [("check", "-f", "/l",
                                                                      "--json")]),
    ("netprobe connect h 22 -z --expect '^SSH-2' # banner", [("connect", "h", "22", "-z",
                                                              "--expect", "^SSH-2")]),
    ("netprobe connect h 80 --expect 'a#b'", [("connect", "h", "80", "--expect", "a#b")]),
    ("  - run: netprobe check -f t --json > out-${{ matrix.runner }}.jsonl",
     [("check", "-f", "t", "--json")]),
])
def test_reader_finds_the_invocations(line: str, expected: list[tuple[str, ...]]) -> None:
    assert [e.args for e in examples_in("x.md", f"```\n{line}\n```\n")] == expected


def test_reader_joins_continuations_and_skips_output() -> None:
    page = ("```\n$ netprobe connect localhost 8000 \\\n    --timeout 2 -z\n"
            "netprobe: connect localhost 8000: ECONNREFUSED\n#0 refused\n```\n"
            "Prose with `netprobe reverse 127.0.0.1 80` and `netprobe: an error`.\n")
    assert [(e.where, e.args) for e in examples_in("x.md", page)] == [
        ("x.md:7", ("reverse", "127.0.0.1", "80")),
        ("x.md:2", ("connect", "localhost", "8000", "--timeout", "2", "-z")),
    ]


def test_reader_marks_usage_errors() -> None:
    [example] = examples_in("x.md", "```\n$ netprobe resolve x --bogus   # usage error\n```\n")
    assert example.refused


@pytest.mark.parametrize("args", [
    ("connect", "localhost", "80", "--no-such-option"),
    ("resolve", "localhost", "--family", "inet7"),
    ("connect", "localhost", "80", "--timeout", "2x"),
    ("conect", "localhost", "80"),
    ("--no-such-global", "resolve", "localhost"),
    ("completion", "tcsh"),
    ("check", "nohost"),
    (),
])
def test_parse_refuses_what_netprobe_refuses(args: tuple[str, ...]) -> None:
    with pytest.raises((click.UsageError, InvalidInput)):
        parse(args)


@pytest.mark.parametrize("args", [
    ("--json", "resolve", "localhost"),
    ("resolve", "localhost", "--json", "-q"),
    ("connect", "-4", "localhost", "80", "--wait", "2m", "--he-delay", "250ms"),
    ("check", "[::1]:80", "udp://127.0.0.1:53", "dns://localhost"),
    ("connect", "--help"),
    ("--version",),
])
def test_parse_accepts_what_netprobe_accepts(args: tuple[str, ...]) -> None:
    parse(args)


def test_an_unknown_option_in_a_page_fails_its_example() -> None:
    [example] = examples_in("x.md", "```sh\nnetprobe connect localhost 80 --bogus\n```\n")
    with pytest.raises(click.UsageError):
        parse(example.args)


# --- the README's two commands and .ci/run -----------------------------------


def readme_commands() -> list[str]:
    _, first_block = next(code_blocks((ROOT / "README.md").read_text()))
    return first_block


def ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if "The README's test command" in line)
    return lines[marker + 1].strip()


def steps(command: str) -> list[list[str]]:
    """``a && b`` as word lists, pip spelled one way (``python -m pip`` = ``pip``, no ``-q``)."""
    result = []
    for step in command.split("&&"):
        words = shlex.split(step)
        if words[:3] == ["python", "-m", "pip"]:
            words = ["pip", *words[3:]]
        if words[:1] == ["pip"]:
            words = [word for word in words if word != "-q"]
        result.append(words)
    return result


def test_readme_opens_with_the_install_and_the_test_command() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.splitlines()[:3] == ["# netprobe", "", "```sh"]
    install, test = readme_commands()
    assert install == INSTALL_AND_RUN
    assert "python -m pytest" in test


def test_readme_test_command_is_what_ci_runs() -> None:
    _, readme = readme_commands()
    ci = ci_test_command()
    assert steps(readme)[-len(steps(ci)):] == steps(ci), (readme, ci)
    # The packages .ci/run installs when missing are the ones the README names
    # (util-linux is Debian's essential package: always there).
    script = (ROOT / ".ci" / "run").read_text()
    pairs = re.search(r"for pair in (.*?); do", script, re.DOTALL)
    assert pairs is not None
    ci_packages = {pair.rpartition(":")[2] for pair in pairs.group(1).replace("\\", " ").split()}
    apt = next(words for words in steps(readme) if words[:2] == ["apt-get", "install"])
    assert ci_packages - {"util-linux"} <= set(apt), (ci_packages, apt)


def test_readme_first_command_does_its_job() -> None:
    result = run("resolve", "localhost", "http")
    assert result.status == 0, result
    assert "SOCK_STREAM" in result.out and "80" in result.out


# --- links between the pages --------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    fenced = False
    found = set()
    for line in page.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def links(page: Path) -> Iterator[tuple[str, Path, str]]:
    fenced = False
    for line in page.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", "" if fenced else line):
            if "://" in target:
                continue
            path, _, anchor = target.partition("#")
            yield target, (page.parent / path).resolve() if path else page, anchor


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_lead_somewhere(page: Path) -> None:
    for target, path, anchor in links(page):
        assert path.exists(), f"{page.name}: {target}: no such file"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: {target}: no such heading"


def test_the_table_of_contents_lists_every_page() -> None:
    index = ROOT / "docs" / "README.md"
    listed = {path for _, path, _ in links(index)}
    for page in PAGES[1:]:
        assert page == index or page in listed, f"docs/README.md does not link {page.name}"
