"""Every import is declared: each third-party module that the package, the recipes, the benchmarks or the
tests import comes from a distribution named in requirements.txt, and every module of gen_keras and every
import a recipe makes (at the top or inside its functions) loads in a fresh interpreter of the running
environment. CI runs the tests in a fresh virtual environment with only requirements.txt installed, so a
missing pin fails here rather than in a user's first run."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from tests.conftest import ROOT, run_python

SOURCE_FOLDERS = ("gen_keras", "recipes", "benchmarks", "tests")


def imported_modules(path: Path) -> set[str]:
    """The absolute module names `path` imports, anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def third_party_imports() -> dict[str, list[str]]:
    """{top-level module: files importing it} for every import that is neither the standard library, the
    project (gen_keras, tests) nor a file beside the importer (the benchmarks' helpers)."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in imported_modules(path):
                top = name.split(".")[0]
                if (top in sys.stdlib_module_names or top in ("gen_keras", "tests")
                        or (path.parent / f"{top}.py").exists()):
                    continue
                found.setdefault(top, []).append(path.relative_to(ROOT).as_posix())
    return found


def requirement_names() -> set[str]:
    """The distributions requirements.txt names, normalized (lower case, runs of -_. as one -)."""
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", line)[0]).lower())
    return names


def test_every_third_party_import_comes_from_a_distribution_in_requirements():
    providers = importlib.metadata.packages_distributions()
    declared = requirement_names()
    imports = third_party_imports()
    assert {"tensorflow", "keras", "numpy", "matplotlib"} <= set(imports)  # the scan sees the imports
    undeclared = {}
    for module, files in imports.items():
        distributions = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        if not distributions & declared:
            undeclared[module] = (sorted(distributions) or ["not installed"], files[:3])
    assert not undeclared, f"imported but not in requirements.txt (module: distributions, files): {undeclared}"


IMPORT_EVERYTHING = """
import ast, importlib, importlib.util, pkgutil, sys
from pathlib import Path

import gen_keras

modules = [m.name for m in pkgutil.walk_packages(gen_keras.__path__, "gen_keras.")
           if not m.name.endswith(".__main__")]  # a __main__ runs its program when imported
for name in modules:
    importlib.import_module(name)
recipes = sorted(Path(sys.argv[1]).glob("*.py"))
for path in recipes:
    spec = importlib.util.spec_from_file_location("recipe_" + path.stem, path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # defines main, does not run it
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # the imports inside its functions too
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    importlib.import_module(node.module + "." + alias.name)
print(len(modules), len(recipes))
"""


def test_every_module_and_every_recipe_imports_in_a_fresh_interpreter(tmp_path):
    """In a new process of this environment's Python, without the user's site-packages and away from the
    repository's folder: every gen_keras module, every recipe file and every import inside the recipes."""
    result = run_python(["-s", "-c", IMPORT_EVERYTHING, str(ROOT / "recipes")], timeout=300, cwd=tmp_path,
                        env={"PYTHONNOUSERSITE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    modules, recipes = map(int, result.stdout.split()[-2:])
    assert modules >= 30 and recipes >= 15, result.stdout
