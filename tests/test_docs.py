"""The docs cannot rot: their code blocks run, and every public name has a docstring.

How the fenced blocks of README.md and docs/**/*.md are treated (docs/contributing.md
says the same to writers):

- ```` ```python ````: run in order, all blocks of a page in one namespace, in a fresh
  directory of the page's own (the current directory, also on ``sys.path``). Top-level
  ``await`` works, as in ``python -m asyncio``; a page's blocks share one event loop.
- ```` ```{code-block} LANG ```` with ``:caption: path/name.ext``: a file; it is written
  to that path in the page's directory (later blocks import or serve it), not run.
- ```` ```console ````: each ``$ `` line is a command. ``python -m pytest ...`` runs in
  the page's directory and must pass; ``python -m tornadoish ...`` must parse with the
  CLI's own parser and name an importable app; any other command is only shown.
- ``<!-- docs-test: skip REASON -->`` on the line before a block skips it; the whole
  site may skip at most ``MAX_SKIPS`` blocks.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tornadoish
from tests.docblocks import Block, parse_blocks
from tornadoish import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "tornadoish"
MAX_SKIPS = 3

PAGES = [
    ROOT / "README.md",
    *sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.parts),
]
PAGES_WITH_CODE = [
    page
    for page in PAGES
    if any(
        block.language in ("python", "console") or "caption" in block.options
        for block in parse_blocks(page)
    )
]


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


async def _run_python(block: Block, namespace: dict[str, object]) -> None:
    # Leading newlines make tracebacks point at the Markdown line.
    source = "\n" * (block.line - 1) + block.code
    code = compile(source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result


def _run_console(block: Block, workdir: Path) -> None:
    for number, line in enumerate(block.code.splitlines()):
        if not line.startswith("$ "):
            continue
        where = f"{block.page}:{block.line + number}"
        argv = shlex.split(line[2:])
        if argv[:3] == ["python", "-m", "pytest"]:
            result = subprocess.run(
                [sys.executable, *argv[1:], "-p", "no:cacheprovider"],
                cwd=workdir,
                # As installed: the package is importable even where it is not (-e).
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(workdir)])},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, f"{where}: {line}\n{result.stdout}\n{result.stderr}"
        elif argv[:3] == ["python", "-m", "tornadoish"] or argv[:1] == ["tornadoish"]:
            options = argv[3:] if argv[0] == "python" else argv[1:]
            try:
                args = cli.build_parser().parse_args(options)
                cli.config_from_args(args)
            except Exception as exc:  # the CLI's usage errors are private classes
                raise AssertionError(f"{where}: {line}: {exc}") from exc
            # Files the page wrote are in workdir; examples/... is in the repository.
            location = args.app.rpartition(":")[0]
            in_repo = location.endswith(".py") and not (workdir / location).exists()
            try:
                os.chdir(ROOT if in_repo else workdir)
                cli.import_app(args.app)
            except cli.AppImportError as exc:
                raise AssertionError(f"{where}: {line}: {exc}") from exc
            finally:
                os.chdir(workdir)


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_every_code_block_of_the_page_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {"__name__": "__docs__"}

    async def run_page() -> None:
        for block in parse_blocks(page):
            if block.skip:
                continue
            if "caption" in block.options:
                target = tmp_path / block.options["caption"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
            elif block.language == "python":
                await _run_python(block, namespace)
            elif block.language == "console":
                _run_console(block, tmp_path)

    before = set(sys.modules)
    try:
        asyncio.run(run_page())
    finally:
        # Modules the page wrote or imported by path (app.py, examples/hello.py) must
        # not leak into another page that writes its own module of the same name.
        for name in set(sys.modules) - before:
            path = Path(getattr(sys.modules[name], "__file__", None) or "/")
            if path.is_relative_to(tmp_path) or (
                path.is_relative_to(ROOT) and not path.is_relative_to(PACKAGE)
            ):
                del sys.modules[name]


def test_the_running_page_lists_every_command_line_option() -> None:
    text = (DOCS / "howto" / "running.md").read_text(encoding="utf-8")
    options = {
        option
        for action in cli.build_parser()._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    }
    assert {option for option in options if f"| `{option}" not in text} == set()


def test_skipped_blocks_are_few_and_say_why() -> None:
    skipped = [block for page in PAGES for block in parse_blocks(page) if block.skip]
    assert len(skipped) <= MAX_SKIPS, [f"{b.page}:{b.line}" for b in skipped]


def test_python_is_only_shown_through_runnable_blocks() -> None:
    # A ```py or ```python3 fence would escape the runner above.
    languages = {block.language for page in PAGES for block in parse_blocks(page)}
    assert languages & {"py", "python3", "pycon", "ipython"} == set()


# -- every public name is documented ---------------------------------------------------

# Modules whose names the API reference leaves out: private modules (their public
# methods are documented on the classes that use them), the script, and the server's
# internals (its public face is tornadoish.server and tornadoish.server.config).
INTERNAL = {
    "tornadoish.__main__",
    "tornadoish.server.binding",
    "tornadoish.server.cycle",
    "tornadoish.server.framing",
    "tornadoish.server.lifespan",
    "tornadoish.server.parsing",
    "tornadoish.server.protocol",
    "tornadoish.server.reload",
    "tornadoish.server.runner",
    "tornadoish.server.state",
    "tornadoish.server.timers",
    "tornadoish.server.websocket",
    "tornadoish.server.workers",
    "tornadoish.server.ws_handshake",
    "tornadoish.server.ws_messages",
}
# Modules that re-export names documented in their home modules.
FACADES = {"tornadoish", "tornadoish.web", "tornadoish.server"}
_DIRECTIVE_RE = re.compile(
    r"^\.\. auto(module|class|function|exception|data):: ([\w.]+)\n((?:   :.*\n)*)", re.M
)


def _all_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


PUBLIC_MODULES = [
    name
    for name in _all_modules()
    if name not in INTERNAL and not any(part.startswith("_") for part in name.split("."))
]


def _documented() -> tuple[set[str], set[str]]:
    """The modules the API reference runs ``automodule`` on, and the dotted names of
    everything it documents."""
    modules: set[str] = set()
    names: set[str] = set()
    for page in (DOCS / "api").glob("*.md"):
        for kind, target, options in _DIRECTIVE_RE.findall(page.read_text(encoding="utf-8")):
            if kind != "module":
                names.add(target)
                continue
            modules.add(target)
            members = re.search(r"   :members:(.*)", options)
            if members is None:
                continue
            listed = [name.strip() for name in members.group(1).split(",") if name.strip()]
            exported = listed or importlib.import_module(target).__all__
            names.update(f"{target}.{name}" for name in exported)
    return modules, names


def _home(module: str, name: str) -> str:
    value = getattr(importlib.import_module(module), name)
    home = getattr(value, "__module__", None)
    if (inspect.isclass(value) or inspect.isfunction(value)) and home:
        return f"{home}.{name}"
    return f"{module}.{name}"


def imported_module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def test_every_module_is_public_or_declared_internal() -> None:
    private = {m for m in _all_modules() if any(p.startswith("_") for p in m.split("."))}
    assert set(_all_modules()) - private - INTERNAL == set(PUBLIC_MODULES)
    assert set(_all_modules()) >= INTERNAL, "INTERNAL names a module that is gone"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_api_reference_documents_each_public_module(module: str) -> None:
    modules, names = _documented()
    assert module in modules, f"docs/api/ has no automodule for {module}"
    for name in importlib.import_module(module).__all__:
        if name == "__version__" or inspect.ismodule(getattr(imported_module(module), name)):
            continue  # __version__ is documented by hand on docs/api/package.md
        where = {f"{module}.{name}", _home(module, name)}
        assert where & names, f"{module}.{name} is in no autodoc directive of docs/api/"


def _data_has_doc_comment(module: types.ModuleType, name: str) -> bool:
    source = inspect.getsource(module)
    lines = source.splitlines()
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return lines[node.lineno - 2].lstrip().startswith("#:")
    return False


def _undocumented_members(cls: type) -> list[str]:
    missing = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("tornadoish"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or not (
                callable(value) or isinstance(value, property | classmethod | staticmethod)
            ):
                continue
            if not inspect.getdoc(getattr(cls, name)):
                missing.append(f"{cls.__name__}.{name}")
    return missing


@pytest.mark.parametrize("module", [m for m in PUBLIC_MODULES if m not in FACADES])
def test_every_public_name_has_a_docstring(module: str) -> None:
    imported = importlib.import_module(module)
    assert (imported.__doc__ or "").strip(), f"{module} has no module docstring"
    missing = []
    for name in imported.__all__:
        value = getattr(imported, name)
        if inspect.isclass(value):
            if not (vars(value).get("__doc__") or "").strip():
                missing.append(name)
            missing += _undocumented_members(value)
        elif inspect.isfunction(inspect.unwrap(value)):  # functions, pytest fixtures
            if not (value.__doc__ or "").strip():
                missing.append(name)
        elif not _data_has_doc_comment(imported, name):
            missing.append(f"{name} (data: needs a '#:' comment on the line above)")
    assert missing == [], f"{module}: undocumented {missing}"


def test_the_facades_export_only_documented_modules_names() -> None:
    public = set(PUBLIC_MODULES)
    for facade in FACADES:
        for name in importlib.import_module(facade).__all__:
            if name in ("__version__", "web"):
                continue
            home = _home(facade, name).rpartition(".")[0]
            assert home in public or home.startswith("tornadoish.server."), (facade, name)


def test_the_version_is_single_sourced() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "tornadoish/__init__.py"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", tornadoish.__version__)
    assert (PACKAGE / "py.typed").exists()
