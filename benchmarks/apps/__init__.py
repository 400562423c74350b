"""One app per benchmark target, each serving the same scenarios; run from the repo root
as ``python -m benchmarks.apps.<name> PORT``."""
