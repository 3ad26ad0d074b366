"""Import contracts of the house (docs/developer.md), checked on the AST of ``src/hyperperturb``.

- ``pp``, ``get``, ``datasets``, ``_utils`` never import TensorFlow/Keras or ``hyperperturb.nn`` (not even lazily);
- ``nn`` never imports anndata, scanpy or mudata;
- ``tl`` imports ``nn`` (and TensorFlow/Keras) only inside functions;
- no module imports a private name (leading underscore) of another room, except from the ground floor ``_utils``;
- inside ``tl`` nothing imports the package face (``from hyperperturb import tl``): modules import each other directly.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hyperperturb"
PACKAGE = "hyperperturb"
GROUND_FLOOR = "_utils"
NO_TENSORFLOW = ("pp", "get", "datasets", "_utils")
TENSORFLOW = ("tensorflow", "keras", f"{PACKAGE}.nn")
NO_ANNDATA = ("anndata", "scanpy", "mudata")


@dataclass(frozen=True)
class Import:
    """One imported module (absolute) and the names taken from it, with where the import sits."""

    module: str
    names: tuple[str, ...]
    line: int
    in_function: bool


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[Import]:
    """Every import of a module's AST, relative imports resolved against ``module``."""
    out: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                out.extend(Import(a.name, (), child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = parts[: len(parts) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append(Import(target, tuple(a.name for a in child.names), child.lineno, in_function))
            visit(child, inside)

    visit(tree, False)
    return out


def _room(module: str) -> str:
    """The subpackage a module belongs to (``""`` for the package's top level)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _starts(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def check_source(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Every contract that the source of ``module`` (a dotted name under ``hyperperturb``) breaks, as messages."""
    room = _room(module)
    problems = []
    for imp in _imports(ast.parse(source), module, is_package):
        # `from hyperperturb import tl` / `from hyperperturb.tl import x` name modules too: test both readings
        targets = [imp.module] + [f"{imp.module}.{n}" for n in imp.names]
        where = f"{module}:{imp.line}"
        if room in NO_TENSORFLOW and any(_starts(t, TENSORFLOW) for t in targets):
            problems.append(f"{where}: {room} imports TensorFlow/Keras/hyperperturb.nn ({imp.module})")
        if room == "nn" and any(_starts(t, NO_ANNDATA) for t in targets):
            problems.append(f"{where}: nn imports anndata/scanpy/mudata ({imp.module})")
        if room == "tl" and not imp.in_function and any(_starts(t, TENSORFLOW) for t in targets):
            problems.append(f"{where}: tl imports {imp.module} at module level (only inside functions)")
        if room == "tl" and imp.module == PACKAGE and "tl" in imp.names:
            problems.append(f"{where}: tl imports the package face (`from hyperperturb import tl`)")
        if _starts(imp.module, (PACKAGE,)):
            other = _room(imp.module)
            private = [n for n in imp.names if n.startswith("_") and n != "__version__"]
            if other and other not in (room, GROUND_FLOOR) and private:
                problems.append(f"{where}: imports private {private} from another room ({imp.module})")
    return problems


def _modules() -> list[tuple[Path, str, bool]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        out.append((path, ".".join(parts[:-1] if is_package else parts), is_package))
    return out


def test_the_source_tree_keeps_the_import_contracts():
    modules = _modules()
    assert len(modules) > 50  # the walk found the package
    problems = [p for path, mod, pkg in modules for p in check_source(path.read_text(), mod, is_package=pkg)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("hyperperturb.pp._x", "import tensorflow as tf", "imports TensorFlow"),
        ("hyperperturb.get._x", "def f():\n    from hyperperturb.nn import PoincareBall", "imports TensorFlow"),
        ("hyperperturb._utils._x", "from keras import ops", "imports TensorFlow"),
        ("hyperperturb.datasets._x", "from hyperperturb import nn", "imports TensorFlow"),
        ("hyperperturb.nn._x", "import anndata as ad", "nn imports anndata"),
        ("hyperperturb.nn._x", "def f():\n    from scanpy import pp", "nn imports anndata"),
        ("hyperperturb.tl._x", "from hyperperturb.nn._models import HyperPerturbModel", "at module level"),
        ("hyperperturb.tl._x", "import tensorflow as tf", "at module level"),
        ("hyperperturb.pl._x", "from hyperperturb.get._embedding import _basis_key", "private ['_basis_key']"),
        ("hyperperturb.pl._x", "from ..get._embedding import _names", "private ['_names']"),
        ("hyperperturb.tl._x", "def f():\n    from hyperperturb import tl", "package face"),
    ],
)
def test_the_checker_finds_a_broken_rule(module, source, broken):
    problems = check_source(source, module)
    assert problems and broken in problems[0], problems


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("hyperperturb.tl._x", "def f():\n    from hyperperturb.nn._models import HyperPerturbModel"),
        ("hyperperturb.tl._x", "def f():\n    import tensorflow as tf"),
        ("hyperperturb.pl._x", "from hyperperturb._utils import _ball\nfrom hyperperturb._utils._entries import names"),
        ("hyperperturb.pl._x", "from ._disk import _draw_disk"),  # same room
        ("hyperperturb.pl._x", "from hyperperturb.get._embedding import embedding"),  # public name
        ("hyperperturb.nn._x", "import numpy as np\nimport tensorflow as tf"),
        ("hyperperturb.tl._x", "from ._predict import predict"),
    ],
)
def test_the_checker_accepts_what_is_allowed(module, source):
    assert check_source(source, module) == []


def test_relative_imports_resolve_to_their_room():
    (imp,) = _imports(ast.parse("from .._utils import _ball"), "hyperperturb.pl._disk", False)
    assert imp.module == "hyperperturb._utils" and imp.names == ("_ball",)
    (imp,) = _imports(ast.parse("from ._fit import fit"), "hyperperturb.tl", True)
    assert imp.module == "hyperperturb.tl._fit"
