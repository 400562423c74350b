"""The public API is a list (STYLE.md §10): ``__all__`` everywhere, kept sorted and complete."""

from __future__ import annotations
import __future__

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest
import tornado.web

import tornadoish
import tornadoish.web

PACKAGE_DIR = Path(tornadoish.__file__).parent
# Running this module executes the command line: a script, with nothing to export.
SCRIPTS = frozenset({"tornadoish.__main__"})


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = _module_names()


def _names_bound_by_imports(path: Path) -> set[str]:
    """Names a module binds with its top-level import statements."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.partition(".")[0] for alias in node.names)
    return names


def test_package_all_is_sorted() -> None:
    assert tornadoish.__all__ == sorted(tornadoish.__all__)


def test_package_all_has_no_duplicates() -> None:
    assert len(set(tornadoish.__all__)) == len(tornadoish.__all__)


def test_package_all_lists_every_name_the_facade_imports() -> None:
    public = {
        name for name in _names_bound_by_imports(PACKAGE_DIR / "__init__.py") if name[0] != "_"
    }
    assert public - set(tornadoish.__all__) == set()


def test_package_all_lists_every_public_attribute_except_submodules() -> None:
    public = {
        name
        for name, value in vars(tornadoish).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)  # "from __future__ import annotations"
    }
    assert public - set(tornadoish.__all__) == set()


@pytest.mark.parametrize("name", tornadoish.__all__)
def test_every_listed_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from tornadoish import {name}", namespace)
    assert namespace[name] is getattr(tornadoish, name)


def test_version_is_a_string() -> None:
    assert isinstance(tornadoish.__version__, str)
    assert tornadoish.__version__[0].isdigit()


def test_web_is_reachable_after_a_bare_import() -> None:
    code = "import tornadoish\nprint(tornadoish.web.RequestHandler.__name__)\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    assert result.stdout.strip() == "RequestHandler"


# The names Tornado code most often imports from tornado.web; the façade must have them.
TORNADO_WEB_NAMES = [
    "Application",
    "ErrorHandler",
    "Finish",
    "HTTPError",
    "MissingArgumentError",
    "RedirectHandler",
    "RequestHandler",
    "StaticFileHandler",
    "URLSpec",
    "addslash",
    "authenticated",
    "create_signed_value",
    "decode_signed_value",
    "get_signature_key_version",
    "removeslash",
    "stream_request_body",
    "url",
]


@pytest.mark.parametrize("name", TORNADO_WEB_NAMES)
def test_web_exports_tornados_names(name: str) -> None:
    assert name in tornadoish.web.__all__
    assert hasattr(tornado.web, name)
    assert getattr(tornadoish.web, name) is not None


def test_web_exports_only_names_tornado_web_has() -> None:
    assert set(tornadoish.web.__all__) - set(dir(tornado.web)) == set()


def test_web_and_package_export_the_same_objects() -> None:
    for name in tornadoish.web.__all__:
        if name in tornadoish.__all__:
            assert getattr(tornadoish.web, name) is getattr(tornadoish, name)


@pytest.mark.parametrize("module", [m for m in MODULES if m not in SCRIPTS])
def test_each_module_declares_all(module: str) -> None:
    path = PACKAGE_DIR.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE_DIR.parent / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(target, ast.Name) and target.id == "__all__"
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    assert declared, f"{module} has no __all__"


@pytest.mark.parametrize("module", [m for m in MODULES if m not in SCRIPTS])
def test_each_module_exports_names_it_defines(module: str) -> None:
    imported = importlib.import_module(module)
    exported: list[str] = imported.__all__
    assert len(set(exported)) == len(exported), f"{module}.__all__ has duplicates"
    missing = [name for name in exported if not hasattr(imported, name)]
    assert missing == [], f"{module}.__all__ lists undefined names {missing}"
