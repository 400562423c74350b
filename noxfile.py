"""Developer sessions: tests, lint, typecheck, compat, bench, build.

Every session runs on the interpreter that runs nox (CI sets CI=true, where a missing
interpreter is an error), in a fresh virtualenv that installs what it needs.
"""

from __future__ import annotations

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
