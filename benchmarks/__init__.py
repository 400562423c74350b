"""The benchmark suite of the performance issue: ``nox -s bench`` (see docs/performance.md)."""
