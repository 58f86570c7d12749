"""The LEAF package's shape: small public signatures (arguments are grouped in frozen dataclasses
or passed as parts), read from the source with ``ast``."""

import ast
from pathlib import Path

import pytest

from elmarc_tf.frontends import leaf as L

FOLDER = Path(L.__file__).parent
SOURCES = sorted(FOLDER.glob("*.py"))
MAX_PARAMETERS = 9


def public_functions(path: Path) -> dict[str, int]:
    """``{name: number of parameters}`` of the module-level functions of ``path`` whose name does
    not start with ``_`` (positional-only, positional, keyword-only, ``*args`` and ``**kwargs``
    each count one). Methods are left out: a layer's constructor takes the keys of its
    ``get_config``, which saved models hold."""
    counts = {}
    for node in ast.parse(path.read_text()).body:
        function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if function and not node.name.startswith("_"):
            a = node.args
            counts[node.name] = (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                                 + (a.vararg is not None) + (a.kwarg is not None))
    return counts


def test_the_walker_counts_every_kind_of_parameter(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f(a, /, b, c=1, *d, e, f=2, **g): pass\n"
                      "def _private(a, b, c, d, e, f, g, h, i, j): pass\n"
                      "class C:\n    def method(self, a, b, c, d, e, f, g, h, i, j): pass\n")
    assert public_functions(source) == {"f": 7}


def test_the_package_is_a_folder_of_modules():
    names = {p.stem for p in SOURCES}
    assert {"__init__", "presets", "representation"} <= names and len(names) >= 5
    found = {name for p in SOURCES for name in public_functions(p)}
    # the factories that took the most arguments before they were grouped are all seen
    assert {"leaf", "sincnet", "sincnet_plus", "tdfbanks", "mel_tf", "pcen_mel",
            "build_representation", "gabor_params"} <= found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_public_functions_take_at_most_nine_parameters(path):
    too_many = {name: n for name, n in public_functions(path).items() if n > MAX_PARAMETERS}
    assert not too_many, f"{path.name}: {too_many} (more than {MAX_PARAMETERS} parameters)"
