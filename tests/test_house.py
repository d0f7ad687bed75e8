"""The house rules that a reader relies on: docstrings and comments say what and why (their figures live in
docs/ and benchmarks/), and the command line reaches the library only through its public faces."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "fast2dgs_cli"
MEASURED = re.compile(r"\d+(\.\d+)? ?(dB|ms|FPS|fps|cycles|MiB|MB|GB)\b|llvm-mca|BD-rate|\d+(\.\d+)? s\b")
"""A measured figure: a time, a PSNR, a size, a BD-rate, a cycle count."""
CLI_IMPORTS = {"batch", "codec", "container", "rate", "render", "report", "training"}
"""The library modules ``cli.py`` may import (besides the package's own ``F2dgsError`` and ``__version__``)."""


def _prose(source: str) -> list[tuple[int, str]]:
    """The comments and docstrings of a module's source, with their line numbers."""
    found = [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
             if t.type == tokenize.COMMENT]  # fmt: skip
    for node in ast.walk(ast.parse(source)):  # docstrings of modules, classes, functions and attributes
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.append((node.lineno, node.value.value))
    return found


def test_no_docstring_or_comment_quotes_a_measured_figure() -> None:
    hits = [
        f"{path.relative_to(PACKAGE)}:{line}: {match.group(0)!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in _prose(path.read_text())
        for match in MEASURED.finditer(text)
    ]
    assert not hits, "measured figures belong in docs/ or benchmarks/README.md:\n" + "\n".join(hits)


def test_the_check_finds_a_measured_figure() -> None:
    source = '"""Fast: 6.8 ms per frame."""\nX = 1  # was 28.83 dB\n'
    found = sorted(m.group(0) for _, text in _prose(source) for m in MEASURED.finditer(text))
    assert found == ["28.83 dB", "6.8 ms"]


def test_the_cli_imports_only_the_public_faces() -> None:
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            modules |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    assert modules <= CLI_IMPORTS | {"F2dgsError", "__version__"}, modules
