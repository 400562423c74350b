"""The layering rules of DESIGN.md §2, read from the source with ``ast``.

- ``tornadoish/server/`` imports only the server, the ASGI types and the loggers: it
  takes any ASGI app and knows nothing of handlers.
- Pure modules (plain values in and out) never import an async library.
- Framework modules never import h11, wsproto or the server, except the lazy imports
  in ``Application.listen/serve/run``; only composition roots see both halves.
- ``import tornadoish`` loads neither h11, wsproto nor ``tornadoish.server``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import tornadoish

PACKAGE_DIR = Path(tornadoish.__file__).parent
SERVER_DIR = PACKAGE_DIR / "server"

PURE_MODULES = (
    "errors",
    "escape",
    "httputil",
    "routing",
    "security",
    "forms",
    "settings",
    "log",
    "types",
)
# Modules allowed to see both halves (DESIGN.md §2, "composition roots").
COMPOSITION_ROOTS = frozenset({"__main__", "cli", "testing", "_testcase", "pytest_plugin"})
# What the server may import from the package: itself, the ASGI types, the loggers.
SERVER_MAY_IMPORT = ("tornadoish.server", "tornadoish.types", "tornadoish.log")
ASYNC_LIBRARIES = ("asyncio", "anyio", "trio", "sniffio", "uvloop")
PROTOCOL_LIBRARIES = ("h11", "wsproto")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    line: int
    top_level: bool  # executed at import time (not inside a function or TYPE_CHECKING)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    """Every import in ``path`` with relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = top_level
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and _is_type_checking(child)
            ):
                nested = False
            if isinstance(child, ast.Import):
                found.extend(Import(alias.name, child.lineno, top_level) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.append(Import(target, child.lineno, top_level))
                # "from tornadoish import web" imports the submodule tornadoish.web.
                found.extend(
                    Import(f"{target}.{alias.name}", child.lineno, top_level)
                    for alias in child.names
                    if (PACKAGE_DIR.parent / target.replace(".", "/") / alias.name).exists()
                    or (PACKAGE_DIR.parent / f"{target.replace('.', '/')}/{alias.name}.py").exists()
                )
            visit(child, nested)

    visit(tree, True)
    return found


def _is_within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _framework_files() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE_DIR.glob("*.py"))
        if module_name(path).rpartition(".")[2] not in COMPOSITION_ROOTS
    ]


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(PACKAGE_DIR.parent)) for path in paths]


def _layer_of(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = docstring.split("\n\n")[0]
    return "pure" if "layer: pure" in first else "other"


SERVER_FILES = sorted(SERVER_DIR.glob("*.py"))
PURE_FILES = sorted(
    {PACKAGE_DIR / f"{name}.py" for name in PURE_MODULES}
    | {path for path in PACKAGE_DIR.glob("*.py") if _layer_of(path) == "pure"}
)


def test_the_source_files_are_found() -> None:
    assert len(SERVER_FILES) >= 3
    assert all(path.exists() for path in PURE_FILES)
    # Sanity of the parser: a known import is seen, relative imports are resolved.
    handler_imports = {imp.module for imp in imports_of(PACKAGE_DIR / "handler.py")}
    assert "tornadoish.errors" in handler_imports
    init_imports = {imp.module for imp in imports_of(PACKAGE_DIR / "__init__.py")}
    assert "tornadoish.web" in init_imports


@pytest.mark.parametrize("path", SERVER_FILES, ids=_ids(SERVER_FILES))
def test_server_never_imports_the_framework(path: Path) -> None:
    offending = [
        f"line {imp.line}: {imp.module}"
        for imp in imports_of(path)
        if _is_within(imp.module, ("tornadoish",)) and not _is_within(imp.module, SERVER_MAY_IMPORT)
    ]
    assert offending == [], f"{path.name} imports the framework: {offending}"


@pytest.mark.parametrize("path", PURE_FILES, ids=_ids(PURE_FILES))
def test_pure_modules_never_import_async_libraries(path: Path) -> None:
    offending = [
        f"line {imp.line}: {imp.module}"
        for imp in imports_of(path)
        if _is_within(imp.module, ASYNC_LIBRARIES)
    ]
    assert offending == [], f"{path.name} (pure layer) imports {offending}"


@pytest.mark.parametrize("path", PURE_FILES, ids=_ids(PURE_FILES))
def test_pure_modules_import_only_pure_modules_of_the_package(path: Path) -> None:
    pure = tuple(f"tornadoish.{name}" for name in PURE_MODULES) + tuple(
        module_name(p) for p in PURE_FILES
    )
    offending = [
        f"line {imp.line}: {imp.module}"
        for imp in imports_of(path)
        if imp.top_level
        and _is_within(imp.module, ("tornadoish",))
        and imp.module != "tornadoish"
        and not _is_within(imp.module, pure)
    ]
    assert offending == [], f"{path.name} (pure layer) imports {offending}"


FRAMEWORK_FILES = _framework_files()


@pytest.mark.parametrize("path", FRAMEWORK_FILES, ids=_ids(FRAMEWORK_FILES))
def test_framework_never_imports_protocol_libraries_or_the_server_eagerly(path: Path) -> None:
    offending = [
        f"line {imp.line}: {imp.module}"
        for imp in imports_of(path)
        if _is_within(imp.module, PROTOCOL_LIBRARIES)
        or (imp.top_level and _is_within(imp.module, ("tornadoish.server",)))
    ]
    assert offending == [], f"{path.name} imports {offending}"


# Application.listen/serve/run import the server lazily; no other framework module may.
NOT_APPLICATION_FILES = [path for path in FRAMEWORK_FILES if path.name != "application.py"]


@pytest.mark.parametrize("path", NOT_APPLICATION_FILES, ids=_ids(NOT_APPLICATION_FILES))
def test_only_application_imports_the_server_lazily(path: Path) -> None:
    lazy = [imp for imp in imports_of(path) if _is_within(imp.module, ("tornadoish.server",))]
    assert lazy == [], f"{path.name} imports the server: {lazy}"


def _modules_loaded(imports: str, wanted: str) -> list[str]:
    """The modules a fresh interpreter holds after ``imports`` for which the expression
    ``wanted`` (over the name ``m``) is true."""
    code = f"import sys, {imports}\nprint(sorted(m for m in sys.modules if {wanted}))\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    loaded: list[str] = ast.literal_eval(result.stdout.strip())
    return loaded


def test_importing_tornadoish_loads_neither_protocol_libraries_nor_the_server() -> None:
    wanted = (
        "m.partition('.')[0] in ('h11', 'wsproto')"
        " or m == 'tornadoish.server' or m.startswith('tornadoish.server.')"
    )
    assert _modules_loaded("tornadoish, tornadoish.web", wanted) == []


def test_the_http_server_loads_wsproto_only_on_the_first_upgrade() -> None:
    # A server that never sees a websocket does not pay wsproto's memory.
    wanted = "m.partition('.')[0] == 'wsproto' or m == 'tornadoish.server.websocket'"
    assert _modules_loaded("tornadoish.server.runner, tornadoish.server.protocol", wanted) == []
