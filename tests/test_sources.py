"""The static import scanner that decides which library files are each rule's inputs."""

import ast
from pathlib import Path

import pytest

from peakcnn.sources import LIBRARY, code_of, imported_modules, module_closure, module_file


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """A synthetic ``peakcnn`` package under root; returns the package directory."""
    library = root / "peakcnn"
    for name, text in files.items():
        path = library / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return library


@pytest.fixture
def library(tmp_path):
    """A package with two subpackages, a nested one, and every import form."""
    return write_tree(
        tmp_path,
        {
            "__init__.py": '"""version"""\n',
            "io.py": "import json\n",
            "errors.py": "",
            "data/__init__.py": '"""data"""\n',
            "data/windows.py": "from peakcnn.data import genome\nimport peakcnn.errors\n",
            "data/genome.py": "from .kernels import run\n",
            "data/kernels.py": "def run():\n    pass\n",
            "models/__init__.py": '"""models"""\n',
            "models/deep/__init__.py": "",
            "models/deep/net.py": "from ..registry import MODELS\n",
            "models/registry.py": "from peakcnn import io\nMODELS = {}\n",
            "train.py": (
                "def late():\n    from peakcnn.models.deep.net import Net\n"
                "from peakcnn.data.windows import make_windows, missing_name\n"
            ),
        },
    )


def test_module_files_resolve_modules_and_packages(library):
    assert module_file("data.windows", library) == library / "data/windows.py"
    assert module_file("data", library) == library / "data/__init__.py"
    assert module_file("data.nothing", library) is None


def test_every_import_form_is_read_with_parent_packages(library):
    # from peakcnn.data import <module>, import peakcnn.x, with the subpackage's __init__
    assert imported_modules(library / "data/windows.py", library) == {
        "data",
        "data.genome",
        "errors",
    }
    # relative imports, one and two levels up
    assert imported_modules(library / "data/genome.py", library) == {"data", "data.kernels"}
    assert imported_modules(library / "models/deep/net.py", library) == {
        "models",
        "models.registry",
    }
    # from peakcnn import <module>; the root __init__ (version only) is never an input
    assert imported_modules(library / "models/registry.py", library) == {"io"}


def test_the_closure_follows_imports_inside_functions_too(library):
    closure = module_closure({"train"}, library)
    assert closure == {
        "train",
        "data",
        "data.windows",
        "data.genome",
        "data.kernels",
        "errors",
        "models",
        "models.deep",
        "models.deep.net",
        "models.registry",
        "io",
    }


def test_a_script_outside_the_package_gets_its_code(library, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from peakcnn.models.registry import MODELS\nimport numpy\n")
    assert code_of(script, library) == sorted(
        str(library / name) for name in ("io.py", "models/__init__.py", "models/registry.py")
    )


def test_an_unknown_module_is_an_error(library):
    with pytest.raises(ValueError, match="'nothing' is not a module"):
        module_closure({"nothing"}, library)


def test_package_inits_hold_no_code():
    # A re-exporting __init__ would make every stage depend on every sibling module, and the
    # root __init__ is left out of every rule's inputs: both must stay import-free.
    for init in LIBRARY.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        code = [node for node in body if not isinstance(node, (ast.Expr, ast.Assign))]
        assert not code, f"{init.relative_to(LIBRARY)}: code beyond a docstring and constants"
