"""Import contracts of the house (docs/developer.md), checked on the AST of ``src/hyperperturb``.

- ``pp``, ``get``, ``datasets``, ``_utils`` never import TensorFlow/Keras or ``hyperperturb.nn`` (not even lazily);
- ``nn`` never imports anndata, scanpy or mudata;
- ``tl`` imports ``nn`` (and TensorFlow/Keras) only inside functions;
- no module imports a private name (leading underscore) of another room, except from the ground floor ``_utils``;
- inside ``tl`` nothing imports the package face (``from hyperperturb import tl``): modules import each other directly;
- ``tl``'s code lives in private sub-packages on floors (:data:`TL_FLOORS`): a sub-package imports only itself and
  sub-packages of lower floors (never one above, nor a neighbour on its own floor), and only their public names;
- no circle of imports between the modules of ``tl`` (lazy imports inside functions count too).
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
#: The private sub-packages of ``tl``, lowest floor first (docs/developer.md, "Inside tl").
TL_FLOORS: tuple[tuple[str, ...], ...] = (
    ("_screen", "_graph", "_rewards"),
    ("_map", "_transfer"),
    ("_model",),
    ("_evaluation",),
    ("_design",),
)
TL_FLOOR = {sub: level for level, subs in enumerate(TL_FLOORS) for sub in subs}


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


def _tl_sub(module: str) -> str | None:
    """The ``tl`` sub-package of a dotted module name (``None`` outside ``tl`` and for ``tl`` itself)."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == [PACKAGE, "tl"] else None


def _tl_floor_problems(module: str, imp: Import, where: str) -> list[str]:
    """The sub-package rules of ``tl`` broken by one import of ``module``."""
    own, other = _tl_sub(module), _tl_sub(imp.module)
    if own not in TL_FLOOR or other not in TL_FLOOR or other == own:
        return []
    problems = []
    if TL_FLOOR[other] >= TL_FLOOR[own]:
        side = "above" if TL_FLOOR[other] > TL_FLOOR[own] else "on the same floor as"
        problems.append(f"{where}: tl.{own} imports tl.{other}, {side} it ({imp.module})")
    private = [n for n in imp.names if n.startswith("_")]
    if private:
        problems.append(f"{where}: tl.{own} imports private {private} of tl.{other} ({imp.module})")
    return problems


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
        if room == "tl":
            problems.extend(_tl_floor_problems(module, imp, where))
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (node -> the nodes it imports) as ``[a, b, ..., a]``, or ``None`` when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


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


def _tl_import_graph(modules: list[tuple[Path, str, bool]]) -> dict[str, set[str]]:
    """Module -> the ``tl`` modules it imports, at module level or inside functions (``tl/__init__`` left out)."""
    names = {mod for _, mod, _ in modules}
    graph: dict[str, set[str]] = {}
    for path, mod, pkg in modules:
        if _tl_sub(mod) is None:
            continue
        found = set()
        for imp in _imports(ast.parse(path.read_text()), mod, pkg):
            # `from package import module` names a module; `from module import function` names the module itself
            targets = [t for t in (f"{imp.module}.{n}" for n in imp.names) if t in names] or [imp.module]
            found.update(t for t in targets if _tl_sub(t) is not None and t in names and t != mod)
        graph[mod] = found
    return graph


def test_tl_is_made_of_sub_packages_on_floors():
    tl = SRC / "tl"
    loose = sorted(p.name for p in tl.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"tl modules outside a sub-package: {loose}"
    subs = sorted(p.name for p in tl.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert subs == sorted(TL_FLOOR), "a tl sub-package is missing from TL_FLOORS (or gone)"


def test_tl_modules_import_each_other_without_circles():
    graph = _tl_import_graph(_modules())
    assert len(graph) > 30  # the walk found the modules of tl
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    # and the floors hold for the sub-packages as a whole
    between = {(_tl_sub(a), _tl_sub(b)) for a, targets in graph.items() for b in targets if _tl_sub(a) != _tl_sub(b)}
    assert all(TL_FLOOR[str(b)] < TL_FLOOR[str(a)] for a, b in between), sorted(between)


def test_the_tests_of_tl_mirror_its_sub_packages():
    tests_tl = Path(__file__).resolve().parent / "tl"
    dirs = {p.name for p in tests_tl.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert dirs <= set(TL_FLOOR), sorted(dirs - set(TL_FLOOR))
    assert not list(tests_tl.glob("test_*.py")), "tests of tl go in the folder of their sub-package"


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


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
        ("hyperperturb.tl._map._x", "from hyperperturb.tl._model._train import train", "above it"),
        ("hyperperturb.tl._map._x", "def f():\n    from .._model._predict import predict", "above it"),
        ("hyperperturb.tl._map._x", "from hyperperturb.tl._transfer._transfer import loo_subset", "same floor"),
        ("hyperperturb.tl._screen._x", "from hyperperturb.tl._rewards._kernels import Slots", "same floor"),
        ("hyperperturb.tl._model._x", "from hyperperturb.tl._graph._inputs import _rows", "private ['_rows']"),
        ("hyperperturb.tl._design._x", "from hyperperturb.tl._evaluation import _metrics", "private ['_metrics']"),
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
        ("hyperperturb.tl", "from hyperperturb.tl._model._predict import predict"),  # the face reads every floor
        ("hyperperturb.tl._model._x", "from hyperperturb.tl._map._network_map import refined_embedding"),
        ("hyperperturb.tl._model._x", "from ._readout import _blocked_readout"),  # same sub-package
        ("hyperperturb.tl._design._x", "def f():\n    from hyperperturb.tl._model._train import train"),
    ],
)
def test_the_checker_accepts_what_is_allowed(module, source):
    assert check_source(source, module) == []


def test_relative_imports_resolve_to_their_room():
    (imp,) = _imports(ast.parse("from .._utils import _ball"), "hyperperturb.pl._disk", False)
    assert imp.module == "hyperperturb._utils" and imp.names == ("_ball",)
    (imp,) = _imports(ast.parse("from ._fit import fit"), "hyperperturb.tl", True)
    assert imp.module == "hyperperturb.tl._fit"


#: The ledger modules: the only ones that read the fields of a ``.uns["hyperperturb"]`` entry (docs/developer.md,
#: "The ledger").
LEDGER_MODULES = frozenset(
    f"{PACKAGE}._utils.{m}" for m in ("_ledger", "_schema", "_entries", "_stored", "_validate", "__init__")
)
#: Functions whose result is a raw ledger entry (or the ledger itself).
_RAW_SOURCES = frozenset({"require_step", "get_ledger", "entry", "train_entry"})
#: Modules that still index raw entries; a ratchet: the list may only shrink. Empty: every step has a typed entry
#: (``hyperperturb._utils._schema``). ``hyperperturb info --full`` (``_cli._info``) still prints every entry as stored,
#: but as a dump that interprets no field (it walks ``entry.items()``), so it is not a raw reader.
RAW_LEDGER_READERS: frozenset[str] = frozenset()


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    return None


def _is_ledger(node: ast.AST) -> bool:
    """``x.uns["hyperperturb"]`` or ``x.uns.get("hyperperturb", ...)``."""
    key = None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "uns":
        key = node.slice
    elif isinstance(node, ast.Call) and _call_name(node) == "get" and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        if isinstance(owner, ast.Attribute) and owner.attr == "uns" and node.args:
            key = node.args[0]
    return (
        isinstance(key, ast.Constant) and key.value == PACKAGE or isinstance(key, ast.Name) and key.id == "LEDGER_KEY"
    )


def raw_ledger_reads(source: str) -> list[int]:
    """Lines that index a raw ledger entry: ``entry["field"]`` / ``entry.get("field")`` on a value taken from the
    ledger (``require_step``, ``get_ledger``, ``_entries.entry``, ``.uns["hyperperturb"]``), directly or through a name
    bound to it in the same function."""
    tree = ast.parse(source)
    lines: list[int] = []

    def raw(node: ast.AST, bound: set[str]) -> bool:
        if isinstance(node, ast.Name):
            return node.id in bound
        if isinstance(node, ast.Subscript | ast.Call) and (_is_ledger(node) or _call_name(node) in _RAW_SOURCES):
            return True
        if isinstance(node, ast.Subscript):  # led["train"]["kernel"]: still raw
            return raw(node.value, bound)
        return False

    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]:
        bound: set[str] = set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and raw(node.value, bound):
                bound.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(scope):
            field = None
            if isinstance(node, ast.Subscript) and raw(node.value, bound):
                field = node.slice
            elif isinstance(node, ast.Call) and _call_name(node) == "get" and isinstance(node.func, ast.Attribute):
                if raw(node.func.value, bound) and node.args:
                    field = node.args[0]
            if isinstance(field, ast.Constant) and isinstance(field.value, str) and not _is_ledger(node):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_raw_ledger_reads_are_found():
    src = (
        "def f(adata):\n"
        "    e = require_step(adata, 'train', needed_by='x')\n"
        "    a = e['params']\n"
        "    b = adata.uns['hyperperturb']['train'].get('kernel')\n"
        "    c = _entries.entry(adata, 'network').get('extra_nodes', [])\n"
        "    d = read(adata, TrainEntry, needed_by='x').params['dim']\n"
    )
    assert raw_ledger_reads(src) == [3, 4, 5]


def test_only_the_ledger_modules_read_raw_ledger_entries():
    found = {mod: raw_ledger_reads(path.read_text()) for path, mod, _ in _modules() if mod not in LEDGER_MODULES}
    offenders = {mod: lines for mod, lines in found.items() if lines and mod not in RAW_LEDGER_READERS}
    assert not offenders, f"raw reads of .uns['hyperperturb'] entries (use hyperperturb._utils._schema): {offenders}"
    cleaned = sorted(mod for mod in RAW_LEDGER_READERS if not found.get(mod))
    assert not cleaned, f"no raw reads left in {cleaned}: remove them from RAW_LEDGER_READERS"
