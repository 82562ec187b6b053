"""Size limits of the library: modules and function bodies stay small enough to read.

A ratchet: a module or function allowed over a limit is listed with its size when it was
allowed. It may shrink (then lower or drop its entry) but not grow. The lists are empty today:
every module and function body of the library is within the limits.
"""

import ast
import io
import tokenize

from peakcnn.sources import LIBRARY

#: Lines per module, docstrings included.
MODULE_LINES = 420
#: Code lines per function body (no docstring, blank or comment-only lines).
FUNCTION_CODE_LINES = 60

#: Modules over MODULE_LINES today: path (relative to src/peakcnn) -> lines.
LONG_MODULES: dict[str, int] = {}
#: Functions over FUNCTION_CODE_LINES today: "path:qualified.name" -> code lines.
LONG_FUNCTIONS: dict[str, int] = {}


def code_lines(source: str) -> set[int]:
    """Line numbers that hold code: not blank, not only a comment (tokenize decides)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def function_sizes(path) -> dict[str, int]:
    """Code lines of every function body of a module, by qualified name (docstring left out)."""
    source = path.read_text()
    code = code_lines(source)
    sizes = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    body = child.body
                    if ast.get_docstring(child) is not None:
                        body = body[1:]
                    if body:
                        span = range(body[0].lineno, child.end_lineno + 1)
                        sizes[name] = len(code.intersection(span))
                visit(child, f"{name}.")

    visit(ast.parse(source), "")
    return sizes


def library_files():
    """Every module of the package, with its path relative to src/peakcnn."""
    return {str(path.relative_to(LIBRARY)): path for path in sorted(LIBRARY.rglob("*.py"))}


def test_modules_stay_short():
    sizes = {name: len(path.read_text().splitlines()) for name, path in library_files().items()}
    grown = {
        name: lines for name, lines in sizes.items() if lines > LONG_MODULES.get(name, MODULE_LINES)
    }
    assert not grown, f"modules over {MODULE_LINES} lines (or over their listed size): {grown}"
    shrunk = {name for name, limit in LONG_MODULES.items() if sizes.get(name, 0) < limit}
    assert not shrunk, f"lower or drop the LONG_MODULES entries of {sorted(shrunk)}"


def test_function_bodies_stay_short():
    sizes = {
        f"{name}:{function}": lines
        for name, path in library_files().items()
        for function, lines in function_sizes(path).items()
    }
    grown = {
        name: lines
        for name, lines in sizes.items()
        if lines > LONG_FUNCTIONS.get(name, FUNCTION_CODE_LINES)
    }
    assert not grown, f"function bodies over {FUNCTION_CODE_LINES} code lines: {grown}"
    shrunk = {name for name, limit in LONG_FUNCTIONS.items() if sizes.get(name, 0) < limit}
    assert not shrunk, f"lower or drop the LONG_FUNCTIONS entries of {sorted(shrunk)}"


def test_the_size_counts_leave_out_docstrings_and_comments(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f(x):\n"
        '    """Doc.\n\n    More doc.\n    """\n'
        "    # a comment\n"
        "\n"
        "    y = (x +\n"
        "         1)\n"
        "    return y\n"
        "class C:\n"
        "    def g(self):\n"
        "        return 1\n"
    )
    assert function_sizes(module) == {"f": 3, "C.g": 1}
