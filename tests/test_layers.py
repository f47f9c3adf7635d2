"""The package's shape: layers whose imports point only downward, small files, one place
for the victims' names, and the numerical stack kept off the command line's start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from flexpoison import models

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flexpoison"

# Bottom to top. A module may import from its own layer only within its own subpackage
# (data, the ART adapter `art`, `certify` and `testing` are peers: none imports another).
# The sanitizers (`defences`) sit below the attack, which crafts rows that evade them.
LAYERS = [
    {"errors"},
    {"_validation", "_environment", "_progress", "_threads", "_lazy"},
    {"engine", "scalers"},
    {"models"},
    {"defences"},
    {"attack"},
    {"data", "art", "certify", "testing"},
    {"experiments"},
    {"sweeps"},
    {"reporting"},
    {"cli"},
]
RANK = {name: level for level, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str | None:
    """The layer unit of a dotted module name inside flexpoison (None: the package
    itself or __main__, which sit outside the layers)."""
    parts = module.split(".")
    if parts[0] != "flexpoison" or len(parts) < 2 or parts[1] == "__main__":
        return None
    return parts[1]


def _imports(path: Path, module: str) -> list[str]:
    """Every flexpoison module ``path`` imports, anywhere in it (function bodies and
    TYPE_CHECKING blocks included), as absolute dotted names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            found += [target] + names
    return [name for name in found if name.startswith("flexpoison")]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts)


def test_every_module_sits_in_a_layer():
    units = {_unit(module) for _, module in _modules()} - {None}
    assert units <= set(RANK), units - set(RANK)


@pytest.mark.parametrize("path, module", list(_modules()), ids=lambda v: str(v))
def test_imports_point_only_downward(path, module):
    unit = _unit(module)
    if unit is None:
        return
    for target in _imports(path, module):
        other = _unit(target)
        if other is None or other == unit or other not in RANK:
            continue
        assert RANK[other] < RANK[unit], f"{module} imports {target} ({other} is not below)"


@pytest.mark.parametrize("path, module", list(_modules()), ids=lambda v: str(v))
def test_no_source_file_over_600_lines(path, module):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 600


@pytest.mark.parametrize("path, module", list(_modules()), ids=lambda v: str(v))
def test_functions_and_module_docstrings_stay_short(path, module):
    """No function over 100 lines (docstring included) and no module docstring over 40:
    derivations belong on the documentation's maths page."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    assert len(doc.splitlines()) <= 40, f"{module}: module docstring of {len(doc.splitlines())}"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 100
    ]
    assert not long, f"{module}: {long}"


def test_the_models_names_are_spelled_in_the_registry_only():
    names = [f'"{name}"' for name in models.MODEL_NAMES]
    names += [spec.class_name for spec in models.REGISTRY.values()]
    offenders = []
    for path, module in _modules():
        if module == "flexpoison.models" or module.startswith("flexpoison.models."):
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{module}: {name}" for name in names if name in text]
    assert offenders == []


def test_only_reporting_imports_matplotlib():
    for path, module in _modules():
        if _unit(module) == "reporting":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                assert not any(n.startswith("matplotlib") for n in names), module


def test_nothing_refers_to_files_outside_the_repository():
    for path, module in _modules():
        text = path.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "shared/" not in text, module


def test_the_command_line_starts_without_the_numerical_stack():
    code = (
        "import sys; from flexpoison.cli import main, COMMANDS; import importlib; "
        "[importlib.import_module(m) for m, _ in COMMANDS.values()]; "
        "heavy = [m for m in ('scipy', 'sklearn', 'matplotlib', 'flexpoison.engine') "
        "         if m in sys.modules]; sys.exit(', '.join(heavy) or None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("package", ["flexpoison", "flexpoison.attack"])
def test_public_names_resolve_and_are_documented(package):
    """Every name a package exports is importable and appears in the API reference: an
    export nobody documented is an internal that leaked (issue 25)."""
    import importlib
    import re

    module = importlib.import_module(package)
    api = " ".join(
        p.read_text(encoding="utf-8") for p in (PACKAGE.parents[1] / "docs" / "api").glob("*.rst")
    )
    undocumented = []
    for name in module.__all__:
        getattr(module, name)
        if name != "__version__" and not re.search(rf"\b{re.escape(name)}\b", api):
            undocumented.append(name)
    assert undocumented == []


def test_every_test_module_is_on_the_tests_map():
    """tests/README.md maps each test module to what it covers: a new one is added there."""
    here = Path(__file__).parent
    listed = (here / "README.md").read_text()
    missing = [p.name for p in sorted(here.glob("test_*.py")) if f"`{p.name}`" not in listed]
    assert not missing, f"add to tests/README.md: {missing}"
