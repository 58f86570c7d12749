"""The package's layers are its folders: dependencies point one way, and each vocabulary is
defined once.

The floors, lowest first (``elmarc_tf/__init__.py`` and ``docs/architecture.md`` name them): a
module may import its own floor and the floors below it, never one above; read from the source with
``ast``, so a function-level import counts too. A floor is a folder (a sub-package) or, for the few
modules at the package's top, the module itself.
"""

import ast
from pathlib import Path

import pytest

import elmarc_tf
from elmarc_tf import config, vocabulary
from elmarc_tf.evaluation import classifiers, protocols
from elmarc_tf.extraction import pipeline
from elmarc_tf.frontends import FRONTENDS, melspec
from elmarc_tf.io import audio

PACKAGE = Path(elmarc_tf.__file__).parent
LAYERS = {
    "foundation": {"errors", "vocabulary"},
    "io": {"io"},
    "datasets": {"datasets"},
    "frontends": {"frontends"},
    "config": {"config"},
    "models": {"models"},
    "extraction": {"extraction"},
    "evaluation": {"evaluation"},
    "studies": {"studies"},
    "bench": {"bench"},
    "command line": {"cli", "__main__"},
}
LEVEL = {module: level for level, modules in enumerate(LAYERS.values()) for module in modules}


def _module_of(path: Path) -> str:
    """The top-level module (or sub-package) of elmarc_tf a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The top-level elmarc_tf modules ``path`` imports, relative or absolute, anywhere in it."""
    here = path.relative_to(PACKAGE).parent.parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(here[:len(here) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts] if parts else [[alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "elmarc_tf":
                names = [node.module.split(".")[1:] or [alias.name for alias in node.names]]
            else:
                continue
            found.update(n[0] for n in names if n)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("elmarc_tf."))
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer():
    assert {_module_of(p) for p in SOURCES} <= set(LEVEL)


def test_the_folders_are_the_layers():
    """Every sub-package is a floor of its own, and only the listed modules sit at the top."""
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert folders == {m for m in LEVEL if (PACKAGE / m).is_dir()}
    assert top == {m for m in LEVEL if (PACKAGE / f"{m}.py").exists()}
    assert all(len(floor) == 1 for floor in LAYERS.values() if floor & folders)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    module = _module_of(path)
    upward = sorted(m for m in _imports(path) - {module} if LEVEL[m] > LEVEL[module])
    assert not upward, f"{module} ({list(LAYERS)[LEVEL[module]]}) imports {upward} from above"


def test_the_import_walker_resolves_relative_imports():
    # frontends/waveform.py: `from ..errors import ...` and `from .common import ...`
    assert _imports(PACKAGE / "frontends" / "waveform.py") == {"errors", "frontends"}
    # extraction/extract.py: `from .store import ...`, `from ..frontends import ...`
    assert {"extraction", "frontends", "models", "io"} <= _imports(PACKAGE / "extraction" / "extract.py")


def test_each_vocabulary_is_defined_once():
    names = [n for n in vars(vocabulary) if n.isupper()]
    for module in (config, audio, melspec, protocols):  # they use it, they do not redefine it
        for name in set(names) & set(vars(module)):
            assert getattr(module, name) is getattr(vocabulary, name), f"{module.__name__}.{name}"
    assert set(classifiers.ESTIMATORS) == set(vocabulary.MODEL_TYPES)
    assert {spec.input for spec in FRONTENDS.values()} == set(pipeline.INPUTS)
    assert {name for name in vocabulary.FEATURES_TYPES.values() if name} <= set(FRONTENDS)


MAX_PARAMETERS = 9
# Another change splits the LEAF family's module; its functions are counted once it lands.
NOT_COUNTED = ("frontends/leaf",)


def _parameter_counts(path: Path) -> dict[str, int]:
    """``{qualified name: parameters}`` of the public functions and methods of ``path`` (``self``
    and ``cls`` not counted; ``*args`` and ``**kwargs`` count one each)."""
    counts = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
                if prefix and names[:1] in (["self"], ["cls"]):
                    names = names[1:]
                if not child.name.startswith("_"):
                    counts[prefix + child.name] = len(names) + (a.vararg is not None) + (
                        a.kwarg is not None)

    visit(ast.parse(path.read_text()), "")
    return counts


def test_parameter_counting_counts_what_it_should(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f(a, b=1, *c, d, **e): pass\n"
                      "def _private(a, b, c, d, e, f, g, h, i, j): pass\n"
                      "class K:\n    def m(self, a, b): pass\n    def _n(self, a): pass\n")
    assert _parameter_counts(source) == {"f": 5, "K.m": 2}


def test_no_public_function_takes_more_than_nine_parameters():
    """Options travel as one object (``RunOptions``, ``Protocol``, ``TrainingOptions``, ...), not
    as long parameter lists."""
    too_many = [f"{path.relative_to(PACKAGE)}: {name} takes {n}"
                for path in sorted(PACKAGE.rglob("*.py"))
                if not str(path.relative_to(PACKAGE)).startswith(NOT_COUNTED)
                for name, n in _parameter_counts(path).items() if n > MAX_PARAMETERS]
    assert not too_many, "more than 9 parameters: " + "; ".join(too_many)
