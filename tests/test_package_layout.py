"""The package is laid out by the workflow's stages: a stage imports only the stages before it
(the order is ``weaklesion.STAGES``), the shared modules import no stage, and no module reaches
for another module's private names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import weaklesion

PACKAGE = Path(weaklesion.__file__).resolve().parent
SHARED = {"errors", "layout", "protocols", "utilities"}  # and the package's own __init__
ENTRY_POINTS = {"cli", "__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of the package in a file, functions' included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "weaklesion" or node.module.startswith("weaklesion.")):
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names
                      if a.name.startswith("weaklesion.")]
    return found


def rank(module: str) -> int:
    """Where a module stands: the shared modules first, then the stages in order, then the
    entry points."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in SHARED or not top:
        return 0
    if top in ENTRY_POINTS:
        return len(weaklesion.STAGES) + 1
    assert top in weaklesion.STAGES, f"{module} belongs to no stage of weaklesion.STAGES"
    return weaklesion.STAGES.index(top) + 1


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_stage_is_a_subpackage_with_a_docstring_naming_its_rules():
    for stage in weaklesion.STAGES:
        package = importlib.import_module(f"weaklesion.{stage}")
        assert Path(package.__file__).name == "__init__.py", stage
        doc = package.__doc__ or ""
        assert "rule" in doc, f"weaklesion.{stage}: say which rules use it"
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top_level <= SHARED | ENTRY_POINTS, top_level - SHARED - ENTRY_POINTS


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_module_imports_no_later_stage_and_no_private_name(path):
    importer = module_name(path)
    for line, module, names in imported_modules(path):
        if module == "weaklesion":  # the package's own constants, or a subpackage by name
            module = next((f"weaklesion.{n}" for n in names if n in weaklesion.STAGES),
                          module)
        assert rank(module) <= rank(importer), (
            f"{path}:{line}: {importer} (stage {rank(importer)}) imports {module} "
            f"(stage {rank(module)}), a later stage")
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{path}:{line}: imports private {private} from {module}"


def test_the_check_sees_a_backward_import():
    """The rule above would catch a stage reaching forward (guards against a check that
    passes because it finds nothing)."""
    assert rank("weaklesion.raw.sources") < rank("weaklesion.training.loop")
    assert rank("weaklesion.layout") == 0 < rank("weaklesion.raw")
    assert rank("weaklesion.cli") > rank("weaklesion.workflow.plan")
    lines = imported_modules(PACKAGE / "training" / "loop.py")
    assert any(module.startswith("weaklesion.training.") for _, module, _ in lines)
