"""The package's layering, read from the source: every import points down the tree, none hides in a function.

    base (errors < files < config < workdir; progress; machine)  <  models, data  <  train, inference  <  export  <  evaluate  <  app  <  cli

A module may import its own subpackage and any lower layer; the two subpackages of one layer do
not import each other (models/ and data/ know nothing of each other; nor do train/ and
inference/). Only cli/ imports the library inside functions, so that `--help` starts without
TensorFlow (see cli/main.py); `__main__` belongs to the command line.
"""

import ast
from pathlib import Path

import pytest

from tests.paths import REPO

PACKAGE = REPO / "tfpix2pix"
BASE_ORDER = ("errors", "files", "config", "workdir", "progress", "machine")  # a base module imports only those before it
LAYERS = {"": 0, "models": 1, "data": 1, "train": 2, "inference": 2, "export": 3, "evaluate": 4, "app": 5, "cli": 6}
MODULES = sorted(PACKAGE.rglob("*.py"))


def unit(module: str) -> str:
    """The subpackage of a dotted module name: 'tfpix2pix.train.loop' -> 'train'; base modules -> ''."""
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(source: str) -> list[tuple[str, bool]]:
    """(tfpix2pix module imported, whether the import is inside a function) for every import in `source`."""
    tree = ast.parse(source)
    in_functions = {id(inner) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for inner in ast.walk(node) if inner is not node}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfpix2pix"):
            folder = PACKAGE.joinpath(*node.module.split(".")[1:])
            targets = [f"{node.module}.{alias.name}" if (folder / f"{alias.name}.py").exists()
                       or (folder / alias.name / "__init__.py").exists() else node.module for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.startswith("tfpix2pix")]
        else:
            continue
        found.extend((target, id(node) in in_functions) for target in targets if target != "tfpix2pix")
    return found


def violations(importer: str, source: str) -> list[str]:
    """Each import of `source` (the module `importer`) that points up or sideways, or hides in a function."""
    problems = []
    importer_unit = unit(importer)
    for imported, in_function in imported_modules(source):
        imported_unit = unit(imported)
        if imported_unit != importer_unit and LAYERS[imported_unit] >= LAYERS[importer_unit]:
            problems.append(f"{importer} imports {imported}: {imported_unit or 'base'} is not below "
                            f"{importer_unit or 'base'}")
        base_names = (importer.split(".")[-1], imported.split(".")[-1])
        if importer_unit == imported_unit == "" and all(name in BASE_ORDER for name in base_names):
            if BASE_ORDER.index(base_names[1]) >= BASE_ORDER.index(base_names[0]):
                problems.append(f"base module {importer} imports {imported}, which is not before it")
        if in_function and importer_unit != "cli":
            problems.append(f"{importer} imports {imported} inside a function")
    return problems


def test_the_tree_has_the_documented_subpackages_and_base_modules():
    assert {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()} == set(LAYERS) - {""}
    assert {path.stem for path in PACKAGE.glob("*.py")} == set(BASE_ORDER) | {"__init__", "__main__"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_only_point_down_the_tree(path):
    assert violations(module_name(path), path.read_text()) == []


def test_the_checker_catches_upward_sideways_and_hidden_imports():
    assert violations("tfpix2pix.models.generator", "from tfpix2pix.train import trainer\n") == [
        "tfpix2pix.models.generator imports tfpix2pix.train.trainer: train is not below models"]
    assert violations("tfpix2pix.data.pipeline", "from tfpix2pix.models.generator import build_generator\n") == [
        "tfpix2pix.data.pipeline imports tfpix2pix.models.generator: models is not below data"]
    assert violations("tfpix2pix.config", "from tfpix2pix import workdir\n") == [
        "base module tfpix2pix.config imports tfpix2pix.workdir, which is not before it"]
    assert violations("tfpix2pix.export.tflite", "def f():\n    from tfpix2pix.inference import runners\n") == [
        "tfpix2pix.export.tflite imports tfpix2pix.inference.runners inside a function"]
    assert violations("tfpix2pix.cli.train", "def f():\n    from tfpix2pix.train import loop\n") == []
    assert violations("tfpix2pix.train.loop", "from tfpix2pix.models.generator import build_generator\n") == []
