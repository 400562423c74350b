"""The library's loggers (layer: pure). Importing never configures handlers.

``tornadoish.access`` gets one line per request, ``tornadoish.application`` uncaught
exceptions with tracebacks, ``tornadoish.general`` everything else.
"""

from __future__ import annotations

import logging

__all__ = ["access_log", "app_log", "gen_log"]

#: ``tornadoish.access``: one line per request.
access_log = logging.getLogger("tornadoish.access")
#: ``tornadoish.application``: uncaught exceptions in handlers, with tracebacks.
app_log = logging.getLogger("tornadoish.application")
#: ``tornadoish.general``: everything else.
gen_log = logging.getLogger("tornadoish.general")
