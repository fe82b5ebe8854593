"""The package reads top-down: no module imports one of a higher layer, not even inside a function.

The layer map is the table of ``docs/architecture.md``; this test reads it from there, so the page
and the check cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rnncast"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# A row of the layer table: | 3 data and models | `data` | what it does |
ROW = re.compile(r"^\|\s*(\d+)\s+([^|]*?)\s*\|\s*`([\w.]+)`\s*\|")


def layer_map() -> dict[str, tuple[int, str]]:
    """Module name (as in ``rnncast.<name>``, ``__init__`` for the package) to (layer number, layer name)."""
    layers = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            number, name, module = match.groups()
            assert module not in layers, f"{module} has two rows in {ARCHITECTURE.name}"
            layers[module] = (int(number), name)
    return layers


def package_modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def imported_modules(node: ast.Import | ast.ImportFrom, own: str) -> list[str]:
    """The ``rnncast`` modules one import statement names (``__init__`` for the package itself)."""
    modules = set(package_modules())
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[1] if "." in alias.name else "__init__"
                for alias in node.names if alias.name.split(".")[0] == "rnncast"]
    if node.level:  # relative: from . import x, from .x import y
        if node.level > 1:
            raise AssertionError(f"rnncast/{own}.py:{node.lineno}: imports beyond the package")
        if node.module:
            return [node.module.split(".")[0]]
    elif node.module and node.module.split(".")[0] == "rnncast":
        if "." in node.module:
            return [node.module.split(".")[1]]
    else:
        return []
    # from rnncast import x: a module of the package, or a name of its __init__.
    return [alias.name if alias.name in modules else "__init__" for alias in node.names]


def imports(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of an rnncast module in ``module``, at any depth."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [(node.lineno, target) for target in imported_modules(node, module)]
    return found


def test_every_module_has_a_layer():
    layers = layer_map()
    missing = [m for m in package_modules() if m not in layers]
    stale = [m for m in layers if m not in package_modules()]
    assert not missing, f"modules with no row in docs/architecture.md: {missing}"
    assert not stale, f"rows of docs/architecture.md naming no module: {stale}"


def test_no_import_runs_up_a_layer():
    layers = layer_map()
    upward = []
    for module in package_modules():
        low, low_name = layers[module]
        for line, target in imports(module):
            high, high_name = layers[target]
            if high > low:
                upward.append(f"rnncast/{module}.py:{line}: imports {target} "
                              f"(layer {high} {high_name}) from layer {low} {low_name}")
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def test_the_check_sees_every_kind_of_import():
    """Imports inside functions, relative ones and ``from rnncast import x`` all count."""
    source = (
        "import rnncast.api\n"
        "from rnncast import distribute, __version__\n"
        "from .store import load\n"
        "from . import cli\n"
        "def late():\n"
        "    from rnncast.evaluate import backtest\n"
        "import numpy\n"
    )
    tree = ast.parse(source)
    found = [target for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             for target in imported_modules(node, "example")]
    assert sorted(found) == ["__init__", "api", "cli", "distribute", "evaluate", "store"]
