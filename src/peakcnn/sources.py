"""Which library source files a piece of code runs, read statically from its imports.

The workflow lists these files as rule inputs, so that editing a module reruns exactly the
stages whose code imports it (directly or not), and the tests use the same reading to check
each rule's conda environment. One scanner for both, standard library only: it never imports
the modules it reads (``common.smk`` runs it at DAG time, where torch must not load).

Module names are dotted and relative to the package: ``"data.windows"`` is
``src/peakcnn/data/windows.py``; a subpackage ``"data"`` is ``src/peakcnn/data/__init__.py``.
Importing ``peakcnn.data.windows`` runs ``data/__init__.py`` too, so a subpackage's
``__init__`` counts as imported. The root ``peakcnn/__init__.py`` does not: it holds the version
only (kept import-free by a test), and listing it would rerun every stage on a version bump.
"""

import ast
from pathlib import Path

#: The package directory, ``src/peakcnn``.
LIBRARY = Path(__file__).resolve().parent
PACKAGE = "peakcnn"


def module_file(name: str, library: Path = LIBRARY) -> Path | None:
    """Source file of a package-relative module name, or None if it is not a module of ours."""
    base = library.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(node: ast.ImportFrom, current: str) -> str:
    """Resolve the absolute dotted module of a ``from ... import`` (``from .x import y`` too)."""
    if node.level == 0:
        return node.module or ""
    package = [PACKAGE, *current.split(".")][:-1]  # a module's package; __init__'s own
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def _candidates(tree: ast.AST, current: str) -> set[str]:
    """Every absolute dotted name an import statement of the tree may refer to as a module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, current)
            names.add(module)
            # ``from peakcnn.data import windows``: ``windows`` may be a module itself
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def imported_modules(path: Path, library: Path = LIBRARY) -> set[str]:
    """Package-relative names of our modules a file imports, with their parent subpackages."""
    path = Path(path)
    try:
        current = ".".join(path.resolve().relative_to(library).with_suffix("").parts)
    except ValueError:  # a file outside the package (a workflow script, a test)
        current = ""
    found = set()
    for name in _candidates(ast.parse(path.read_text()), current):
        parts = name.split(".")
        if parts[0] != PACKAGE or len(parts) == 1:
            continue
        for end in range(2, len(parts) + 1):  # the module and each parent package
            relative = ".".join(parts[1:end])
            if module_file(relative, library) is not None:
                found.add(relative)
    return found


def module_closure(names, library: Path = LIBRARY) -> set[str]:
    """Return the given modules and every module of ours they import, directly or not."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, library)
        if path is None:
            raise ValueError(f"{name!r} is not a module of {library}")
        seen.add(name)
        todo.extend(imported_modules(path, library) - seen)
    return seen


def code_of(script: Path, library: Path = LIBRARY) -> list[str]:
    """Sorted source files of every module of ours a script runs (its imports, followed)."""
    names = module_closure(imported_modules(script, library), library)
    return sorted(str(module_file(name, library)) for name in names)
