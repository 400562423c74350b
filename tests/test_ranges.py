"""Byte ranges (pure layer): parsing the Range header, resolving it against a size,
formatting Content-Range."""

from __future__ import annotations

import pytest

from tornadoish._ranges import (
    content_range,
    parse_range,
    resolve_range,
    unsatisfied_content_range,
)


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("bytes=2-5", (2, 6)),
        ("bytes=0-0", (0, 1)),
        ("bytes=2-", (2, None)),
        ("bytes=-5", (-5, None)),
        ("bytes=-0", (None, 0)),
        ("bytes=", (None, None)),
        ("bytes=-", (None, None)),
        (" bytes = 2 - 5 ", (2, 6)),  # optional whitespace
        ("BYTES=2-5", (2, 6)),  # the unit is case-insensitive (RFC 9110 §14.1)
        ("bytes=5-2", (5, 3)),  # parsed; resolve_range finds it unsatisfiable
    ],
)
def test_single_ranges_parse_to_slice_bounds(
    header: str, parsed: tuple[int | None, int | None]
) -> None:
    assert parse_range(header) == parsed


@pytest.mark.parametrize(
    "header",
    [
        "",
        "bytes",
        "items=0-5",
        "bytes=0-1,4-5",  # several ranges: the whole file instead
        "bytes=0-1, 4-5",
        "bytes=a-b",
        "bytes=5",  # no dash
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=1--2",
        "bytes=\u0661-2",  # a non-ASCII digit
        "bytes=--5",
    ],
)
def test_other_units_several_ranges_and_bad_syntax_are_ignored(header: str) -> None:
    assert parse_range(header) is None


@pytest.mark.parametrize(
    ("requested", "size", "resolved"),
    [
        ((2, 6), 10, (2, 6)),
        ((2, None), 10, (2, 10)),
        ((-3, None), 10, (7, 10)),
        ((-30, None), 10, (0, 10)),  # a suffix longer than the file: all of it
        ((8, 100), 10, (8, 10)),  # an end past the last byte is capped
        ((None, None), 10, (0, 10)),
        ((None, None), 0, (0, 0)),
        ((9, 10), 10, (9, 10)),
        ((10, None), 10, None),  # first byte past the end
        ((10, 12), 10, None),
        ((5, 3), 10, None),  # last before first
        ((None, 0), 10, None),  # bytes=-0
        ((0, None), 0, None),  # nothing to select in an empty file
        ((-5, None), 0, None),
    ],
)
def test_ranges_resolve_against_the_size_or_are_unsatisfiable(
    requested: tuple[int | None, int | None], size: int, resolved: tuple[int, int] | None
) -> None:
    assert resolve_range(requested, size) == resolved


def test_content_range_uses_inclusive_positions() -> None:
    assert content_range(2, 6, 10) == "bytes 2-5/10"
    assert content_range(0, 1, 1) == "bytes 0-0/1"
    assert unsatisfied_content_range(10) == "bytes */10"
