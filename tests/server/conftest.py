"""Server tests run on asyncio only: the server is built on asyncio.Protocol."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
