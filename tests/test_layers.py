"""The house's shape, read from the source: no import circle, no import up the layers, no
function over 100 lines, no module over 450.

Imports are read with ``ast`` from every place one can be: the top of a
module, under ``if TYPE_CHECKING:`` (a type-only circle still ties two
modules' designs together, and the day one of them is needed at run time it
is a real circle) and inside functions (the lazy imports that keep start-up
short are imports all the same).  Relative imports are resolved against the
importing module's package; ``from netprobe.x import y`` is an import of the
module ``netprobe.x.y`` when there is one, else of ``netprobe.x``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import netprobe

PACKAGE_DIR = Path(netprobe.__file__).parent
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 450

# The layers, low to high: a module may import its own layer and the layers
# below it, never one above.  "The core never prints": nothing below
# ``render`` imports the renderers, the options, the CLI or the commands,
# and the renderers never import the CLI or the commands.  An entry names a
# module, or a package with everything in it; the package face ``netprobe``
# means netprobe/__init__.py alone.  A module no entry names is a core
# module when it is a file at the top (netprobe/x.py) and a core package's
# module when it is in a package, so that new rooms need no entry here.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Imports nothing of netprobe's above it: anything may use these.
    ("ground", ("netprobe", "netprobe.constants", "netprobe.durations", "netprobe.endpoints",
                "netprobe.errors", "netprobe.events", "netprobe.inputs", "netprobe.limits",
                "netprobe.safe", "netprobe.schema", "netprobe.startup", "netprobe.status",
                "netprobe.stdio")),
    # The sockets interface call by call.
    ("system calls", ("netprobe.syscalls",)),
    # The resolution core and the other top-level core modules.
    ("core modules", ("netprobe.addrinfo", "netprobe.relay", "netprobe.resolver")),
    # The kernel's own tables (netlink requests, the socket table, why an
    # attempt or bind failed): read by the rooms above only after a failure.
    # A Unix socket's why (the path walk, the table by path) is asked by
    # netprobe.kernel.why, so the Unix room stands here, but for its two
    # modules that serve (listen's bind steps, the datagram endpoint).
    ("kernel tables", ("netprobe.netlink", "netprobe.kernel", "netprobe.unix")),
    # The core's rooms.
    ("core packages", ("netprobe.check", "netprobe.connect", "netprobe.dnsview",
                       "netprobe.explain", "netprobe.serve",
                       "netprobe.tls", "netprobe.unix.datagrams", "netprobe.unix.listening")),
    ("render", ("netprobe.render",)),
    ("options", ("netprobe.options",)),
    ("cli", ("netprobe.cli",)),
    ("commands", ("netprobe.commands",)),
    # A plain command line parsed without click: it runs a command's body (and its
    # table's generator reads the click commands back).
    ("quick path", ("netprobe.quick",)),
    ("entry point", ("netprobe.__main__",)),
)
LAYER_NAMES = [name for name, _ in LAYERS]

# Offenders other branches are fixing now (issue 18): the test passes with
# them, and fails for any other.  The lead empties these after merging each
# branch; an entry that no longer offends fails the test, so the list cannot
# go stale.
KNOWN_CIRCLES: dict[frozenset[str], str] = {
}
KNOWN_UPWARD: dict[tuple[str, str], str] = {
}
KNOWN_LONG: dict[str, str] = {
}


class Import(NamedTuple):
    target: str
    line: int


def module_files(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its face's name)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known_prefix(name: str, known: set[str]) -> str | None:
    """The longest module of ``known`` that ``name`` is (or is inside)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imports_in(module: str, source: str, known: set[str], *, is_package: bool = False,
               ) -> Iterator[Import]:
    """The package's modules that ``source`` (the module ``module``) imports, anywhere in it."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known_prefix(alias.name, known)
                if target is not None:
                    yield Import(target, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                name = f"{base}.{alias.name}" if base else alias.name
                target = name if name in known else _known_prefix(base, known)
                if target is not None:
                    yield Import(target, node.lineno)


def import_graph(root: Path = PACKAGE_DIR) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it}, self-imports left out."""
    files = module_files(root)
    known = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for found in imports_in(module, path.read_text(encoding="utf-8"), known,
                                is_package=path.name == "__init__.py"):
            if found.target != module:
                edges.setdefault(found.target, found.line)
        graph[module] = edges
    return graph


def circles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def layer_of(module: str, path: Path) -> int:
    """The rank in LAYERS of the entry naming ``module``, or its default (see LAYERS)."""
    best: tuple[int, int] | None = None  # (length of the entry, rank)
    for rank, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            inside = entry != "netprobe" and module.startswith(entry + ".")
            if (module == entry or inside) and (best is None or len(entry) > best[0]):
                best = (len(entry), rank)
    if best is not None:
        return best[1]
    in_package = path.name == "__init__.py" or path.parent != PACKAGE_DIR
    return LAYER_NAMES.index("core packages" if in_package else "core modules")


def long_definitions(root: Path = PACKAGE_DIR) -> dict[str, int]:
    """``path:function`` and ``path`` over the limits, with their lengths in lines."""
    over: dict[str, int] = {}
    for path in module_files(root).values():
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(root.parent))
        if text.count("\n") > MAX_MODULE_LINES:
            over[where] = text.count("\n")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    over[f"{where}:{node.name}"] = length
    return over


# --- the house ----------------------------------------------------------------------------


def test_no_import_circle() -> None:
    files = module_files()
    graph = import_graph()
    # A package's face re-exporting its own modules is the package's shape,
    # not a circle of design (``netprobe.serve`` imports ``serve.server``,
    # which is inside it); its other imports count like any module's.
    for module, edges in graph.items():
        if files[module].name == "__init__.py":
            graph[module] = {t: n for t, n in edges.items() if not t.startswith(module + ".")}
    found = set(circles(graph))
    new = [sorted(group) for group in found if group not in KNOWN_CIRCLES]
    stale = [sorted(group) for group in KNOWN_CIRCLES if group not in found]
    assert not new, f"import circles: {new}"
    assert not stale, f"KNOWN_CIRCLES entries that are gone (remove them): {stale}"


def test_no_import_up_the_layers() -> None:
    files = module_files()
    upward: dict[tuple[str, str], str] = {}
    for module, edges in import_graph().items():
        mine = layer_of(module, files[module])
        for target, line in edges.items():
            theirs = layer_of(target, files[target])
            if theirs > mine:
                upward[(module, target)] = (f"{module} (line {line}, {LAYER_NAMES[mine]}) "
                                            f"imports {target} ({LAYER_NAMES[theirs]})")
    new = [text for pair, text in sorted(upward.items()) if pair not in KNOWN_UPWARD]
    stale = [pair for pair in KNOWN_UPWARD if pair not in upward]
    assert not new, "imports up the layers:\n" + "\n".join(new)
    assert not stale, f"KNOWN_UPWARD entries that are gone (remove them): {stale}"


def test_no_long_function_or_module() -> None:
    over = long_definitions()
    new = {where: length for where, length in over.items() if where not in KNOWN_LONG}
    stale = [where for where in KNOWN_LONG if where not in over]
    assert not new, (f"over {MAX_FUNCTION_LINES} lines a function or {MAX_MODULE_LINES} a "
                     f"module: {new}")
    assert not stale, f"KNOWN_LONG entries that are short now (remove them): {stale}"


def test_every_layer_entry_is_a_module() -> None:
    # An entry for a module that is gone (or misspelt) would silently place nothing.
    files = module_files()
    missing = [entry for _, entries in LAYERS for entry in entries if entry not in files]
    assert not missing


# --- the reader itself ----------------------------------------------------------------------

KNOWN = {"netprobe", "netprobe.a", "netprobe.b", "netprobe.pkg", "netprobe.pkg.c",
         "netprobe.pkg.d"}


def read(module: str, source: str, *, is_package: bool = False) -> set[str]:
    return {found.target for found in imports_in(module, source, KNOWN, is_package=is_package)}


def test_imports_are_read_everywhere_they_can_be() -> None:
    source = """
from typing import TYPE_CHECKING
import os
from netprobe import a
if TYPE_CHECKING:
    from netprobe.pkg import d
def lazy():
    import netprobe.b
"""
    assert read("netprobe.pkg.c", source) == {"netprobe.a", "netprobe.pkg.d", "netprobe.b"}


@pytest.mark.parametrize(("module", "is_package", "source", "expected"), [
    ("netprobe.pkg.c", False, "from . import d", {"netprobe.pkg.d"}),
    ("netprobe.pkg.c", False, "from .d import thing", {"netprobe.pkg.d"}),
    ("netprobe.pkg.c", False, "from .. import a", {"netprobe.a"}),
    ("netprobe.pkg.c", False, "from ..b import thing", {"netprobe.b"}),
    ("netprobe.pkg", True, "from .c import thing", {"netprobe.pkg.c"}),
    ("netprobe.a", False, "from netprobe.pkg import thing", {"netprobe.pkg"}),
    ("netprobe.a", False, "from netprobe.pkg.c import thing", {"netprobe.pkg.c"}),
    ("netprobe.a", False, "import netprobe.pkg.d.missing", {"netprobe.pkg.d"}),
    ("netprobe.a", False, "import click, rich.text", set()),
])
def test_relative_and_absolute_imports_are_resolved(module: str, is_package: bool, source: str,
                                                    expected: set[str]) -> None:
    assert read(module, source, is_package=is_package) == expected


def test_circles_are_found_through_any_number_of_modules() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"d": 1}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
    assert circles({"a": {"b": 1}, "b": {}}) == []


def test_layers_place_modules_by_their_entry_or_their_place() -> None:
    root = PACKAGE_DIR
    assert LAYER_NAMES[layer_of("netprobe", root / "__init__.py")] == "ground"
    assert LAYER_NAMES[layer_of("netprobe.render.human", root / "render/human.py")] == "render"
    assert LAYER_NAMES[layer_of("netprobe.new", root / "new.py")] == "core modules"
    assert LAYER_NAMES[layer_of("netprobe.room.x", root / "room/x.py")] == "core packages"
    assert LAYER_NAMES[layer_of("netprobe.room", root / "room/__init__.py")] == "core packages"
