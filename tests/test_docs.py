"""docs/lectures.md stays true: every concept row names code that imports and a test that exists."""

import ast
import importlib
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "docs" / "lectures.md"
HEADER = ["concept", "formula", "code", "test"]
MIN_ROWS = 25


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row; `\\|` is a literal pipe inside a cell."""
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def _backticked(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one name in backticks, got {cell!r}"
    return match.group(1)


@lru_cache(maxsize=1)
def concept_rows() -> list[dict[str, str]]:
    """The rows of the concept table (the table whose header is concept | formula | code | test)."""
    rows, in_table = [], False
    for line in LECTURES.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if [c.lower() for c in cells] == HEADER:
            in_table = True
            continue
        if in_table and not all(set(c) <= set("-: ") for c in cells):
            assert len(cells) == len(HEADER), f"a row of docs/lectures.md has {len(cells)} cells: {line}"
            rows.append(dict(zip(HEADER, cells)))
    return rows


def resolve(dotted: str):
    """Imports the longest importable module prefix of `dotted`, then follows the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # only "this prefix is not a module" moves on to a shorter prefix; a module that exists
            # but fails inside (a missing dependency of its own) is a real error
            if e.name and not (module_name == e.name or module_name.startswith(e.name + ".")):
                raise
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(f"no importable module prefix in {dotted!r}")


@lru_cache(maxsize=None)
def _test_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"))


def test_the_concept_table_has_enough_complete_rows():
    rows = concept_rows()
    assert len(rows) >= MIN_ROWS, f"docs/lectures.md lists {len(rows)} concepts, fewer than {MIN_ROWS}"
    for row in rows:
        assert row["concept"] and row["formula"], row
        assert re.fullmatch(r"gen_keras(\.\w+)+", _backticked(row["code"])), row["code"]
        assert re.fullmatch(r"tests/test_\w+\.py::test_\w+", _backticked(row["test"])), row["test"]


def test_every_named_test_exists():
    missing = []
    for row in concept_rows():
        file_name, _, function = _backticked(row["test"]).partition("::")
        path = ROOT / file_name
        if not path.is_file() or function not in _test_functions(path):
            missing.append(f"{row['concept']}: {file_name}::{function}")
    assert not missing, "tests named in docs/lectures.md that do not exist:\n  " + "\n  ".join(missing)


def test_every_named_object_imports():
    failures = []
    for name in dict.fromkeys(_backticked(row["code"]) for row in concept_rows()):
        try:
            resolve(name)
        except (ImportError, AttributeError) as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
    assert not failures, "names in docs/lectures.md that do not import:\n  " + "\n  ".join(failures)
