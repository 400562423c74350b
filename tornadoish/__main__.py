"""``python -m tornadoish module:app``: the command line (see ``tornadoish.cli``)."""

from __future__ import annotations

from tornadoish.cli import main

raise SystemExit(main())
