"""Fenced code blocks of the Markdown docs, parsed (no tornadoish import: the build
session uses it too, to follow the tutorial with nothing but the built wheel)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

__all__ = ["Block", "parse_blocks"]

_FENCE_RE = re.compile(r"^(`{3,})\s*(.*)$")
_OPTION_RE = re.compile(r"^:([\w-]+):\s*(.*)$")
_SKIP_RE = re.compile(r"^<!-- docs-test: skip (.+) -->$")


@dataclasses.dataclass
class Block:
    page: Path
    line: int  # of the first code line, 1-based
    language: str
    options: dict[str, str]
    code: str
    skip: str | None


def parse_blocks(page: Path) -> list[Block]:
    """Every fenced block of a MyST page, with its language, options and skip marker."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE_RE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, info = match.groups()
        previous = next((text for text in reversed(lines[:index]) if text.strip()), "")
        skip = _SKIP_RE.match(previous.strip())
        language = info.strip()
        if language.startswith("{code-block}"):
            language = language.removeprefix("{code-block}").strip()
        body_start = index + 1
        options: dict[str, str] = {}
        if info.startswith("{"):
            while body_start < len(lines) and (option := _OPTION_RE.match(lines[body_start])):
                options[option.group(1)] = option.group(2)
                body_start += 1
            if options and body_start < len(lines) and not lines[body_start].strip():
                body_start += 1  # the blank line that ends the options
        end = body_start
        while end < len(lines) and lines[end].rstrip() != fence:
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page}:{index + 1}: unclosed code fence")
        code = "\n".join(lines[body_start:end]) + "\n"
        blocks.append(Block(page, body_start + 1, language, options, code, skip and skip.group(1)))
        index = end + 1
    return blocks
