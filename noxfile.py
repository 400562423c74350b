"""Developer sessions: tests, lint, typecheck, docs, build (and bench where present).

Every session runs on the interpreter that runs nox (CI sets CI=true, where a missing
interpreter is an error), in a fresh virtualenv that installs what it needs.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "coverage[toml]>=7.10",
    "anyio>=4.4",
    "trio>=0.26",
    "httpx>=0.27",
    "tornado>=6.5,<7",
    "h11>=0.16",  # the oracle of tests/server/test_parser_vs_h11.py
    "uvicorn>=0.30",
    "hypercorn>=0.17",
    "starlette>=0.40",
    "websockets>=13",
    "jinja2>=3.1",
    "playwright>=1.45",  # drives Debian's chromium (test_chat_browser.py), downloads none
]
COVERAGE_GATE = 95


@nox.session(python=None)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage and the coverage gate."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report", f"--fail-under={COVERAGE_GATE}")


@nox.session(python=None)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=None)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the examples."""
    session.install("-e", ".", "mypy>=1.11", *TEST_DEPS)
    session.run("mypy")


# Sphinx and its extensions live here only, never in the runtime dependencies.
DOCS_DEPS = ["sphinx>=8", "myst-parser>=4", "furo>=2024.8"]


@nox.session(python=None)
def docs(session: nox.Session) -> None:
    """Build the HTML docs: warnings are errors, every cross-reference must resolve."""
    # autodoc imports every documented module: the testing helpers need httpx and
    # pytest, the template loader jinja2.
    session.install("-e", ".[testing,templates]", "pytest>=8", *DOCS_DEPS)
    shutil.rmtree("docs/_build", ignore_errors=True)
    session.run(
        "sphinx-build",
        "--fail-on-warning",
        "--keep-going",
        "--nitpicky",
        "--builder",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session(python=None)
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, then smoke-test the wheel in a fresh venv."""
    session.install("build>=1.2", "twine>=5")
    shutil.rmtree("dist", ignore_errors=True)
    session.run("python", "-m", "build")
    session.run("twine", "check", "--strict", *sorted(glob.glob("dist/*")))
    (wheel,) = glob.glob("dist/*.whl")
    _check_wheel_contents(wheel)
    with tempfile.TemporaryDirectory(prefix="tornadoish-smoke-") as tmp:
        venv = Path(tmp) / "venv"
        session.run("python", "-m", "venv", str(venv))
        python = str(venv / "bin" / "python")
        session.run(
            python, "-m", "pip", "install", "--quiet", os.path.abspath(wheel), external=True
        )
        # Outside the source tree, so `import tornadoish` can only find the wheel.
        workdir = Path(tmp) / "app"
        workdir.mkdir()
        shutil.copy("examples/hello.py", workdir / "hello.py")
        with session.chdir(workdir):
            session.run(python, "-c", _IMPORT_WITHOUT_EXTRAS, external=True)
        session.log("smoke: python -m tornadoish hello:app on a free port")
        _smoke_serve(python, workdir)
        session.log("tutorial: its files and its test suite, with only the built wheel")
        _follow_tutorial(session, python, os.path.abspath(wheel), Path(tmp) / "tutorial")


def _follow_tutorial(session: nox.Session, python: str, wheel: str, workdir: Path) -> None:
    """Do what docs/tutorial.md says, literally: its install command (the wheel standing
    in for the index), every file it writes, then its closing test run."""
    parsed = importlib.util.spec_from_file_location("docblocks", "tests/docblocks.py")
    if parsed is None or parsed.loader is None:
        raise RuntimeError("tests/docblocks.py cannot be loaded")
    docblocks = importlib.util.module_from_spec(parsed)
    sys.modules["docblocks"] = docblocks  # dataclasses look their module up there
    parsed.loader.exec_module(docblocks)
    blocks = docblocks.parse_blocks(Path("docs/tutorial.md"))
    commands = [
        shlex.split(line[2:])
        for block in blocks
        if block.language == "console"
        for line in block.code.splitlines()
        if line.startswith("$ python -m p")
    ]
    install, test = commands[0], commands[-1]
    if install[:4] != ["python", "-m", "pip", "install"] or test[:3] != ["python", "-m", "pytest"]:
        raise RuntimeError("docs/tutorial.md no longer starts with pip and ends with pytest")
    packages = [
        arg.replace("tornadoish", wheel, 1) if arg.startswith("tornadoish") else arg
        for arg in install[4:]
    ]
    session.run(python, "-m", "pip", "install", "--quiet", *packages, external=True)
    workdir.mkdir()
    for block in blocks:
        if "caption" in block.options:
            target = workdir / block.options["caption"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
    with session.chdir(workdir):
        session.run(python, *test[1:], "-p", "no:cacheprovider", external=True)


# Runs in the fresh virtualenv: the package imports without its optional extras.
_IMPORT_WITHOUT_EXTRAS = """
import importlib.util, sys
import tornadoish, tornadoish.web, tornadoish.websocket, tornadoish.templates
import tornadoish.server, tornadoish.cli, tornadoish.ioloop
for extra in ("httpx", "jinja2", "uvloop", "watchfiles"):
    assert importlib.util.find_spec(extra) is None, f"{extra} should not be installed"
assert "site-packages" in tornadoish.__file__, tornadoish.__file__
print("import tornadoish", tornadoish.__version__, "without extras: ok")
"""


def _check_wheel_contents(wheel: str) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    if "tornadoish/py.typed" not in names:
        raise RuntimeError(f"{wheel} lacks tornadoish/py.typed")
    strays = [
        name for name in names if not name.startswith("tornadoish/") and ".dist-info/" not in name
    ]
    if strays or any(name.startswith("tests/") or "/tests/" in name for name in names):
        raise RuntimeError(f"{wheel} holds files outside the package: {strays}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _smoke_serve(python: str, workdir: Path) -> None:
    """Start the hello app with the installed CLI, fetch /, stop it with SIGINT."""
    port = _free_port()
    command = [python, "-m", "tornadoish", "hello:app", "--port", str(port)]
    process = subprocess.Popen(command, cwd=workdir)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the smoke server did not answer") from None
                time.sleep(0.1)
        if body != b"Hello, world":
            raise RuntimeError(f"unexpected body {body!r}")
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)
        if code != 0:
            raise RuntimeError(f"the smoke server exited with {code}")
        print("smoke: GET / said Hello, world; SIGINT stopped it cleanly", file=sys.stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


BENCH_DEPS = [
    "tornado>=6.5,<7",
    "uvicorn[standard]>=0.30",  # httptools for the fast uvicorn targets
    "starlette>=0.40",
    "matplotlib>=3.8",
]


@nox.session(python=None)
def bench(session: nox.Session) -> None:
    """Throughput and memory benchmarks (wrk on loopback); writes docs/performance.*.

    Needs wrk: installed with apt-get when missing and nox runs as root. Options go to
    the throughput run, e.g. ``nox -s bench -- --quick``.
    """
    import os
    import shutil

    if shutil.which("wrk") is None:
        if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
            session.run("apt-get", "update", external=True)
            session.run("apt-get", "install", "-y", "wrk", external=True)
        else:
            session.error(
                "wrk is not installed: apt-get install wrk (as root), or see "
                "https://github.com/wg/wrk; this session installs it only when run as root"
            )
    if shutil.which("taskset") is None:
        session.error("taskset is not installed: apt-get install util-linux")
    session.install("-e", ".", *BENCH_DEPS)
    session.run("python", "-m", "benchmarks.run", *session.posargs)
    session.run("python", "-m", "benchmarks.memory")
