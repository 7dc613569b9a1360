"""The TLS rooms: no import circle (type-only and function-level imports counted), no import
up the layers, no private name borrowed from another module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "netprobe"
TLS_MODULES = {f"netprobe.tls.{path.stem}": path for path in (PACKAGE / "tls").glob("*.py")
               if path.stem != "__init__"}
TLS_MODULES["netprobe.connect.tls"] = PACKAGE / "connect" / "tls.py"
HIGHER = ("netprobe.render", "netprobe.options", "netprobe.cli", "netprobe.commands")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement anywhere in the file (absolute imports)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in TLS_MODULES.items():
        targets = set()
        for module, names in _imports(path):
            targets |= {m for m in (module, *(f"{module}.{n}" for n in names))
                        if m in TLS_MODULES and m != name}
        graph[name] = targets
    return graph


def test_no_import_circle_between_the_tls_modules() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import circle: " + " -> ".join([*path, name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_tls_core_imports_no_higher_layer_and_no_private_name() -> None:
    for name, path in TLS_MODULES.items():
        for module, names in _imports(path):
            assert not module.startswith(HIGHER), f"{name} imports {module}"
            if module.startswith("netprobe."):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{name} imports {private} from {module}"
