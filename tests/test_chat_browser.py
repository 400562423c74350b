"""examples/chat end to end: two headless Chromium pages, on our own server, exchange a
message.

Chromium is Debian's ``chromium`` package, never a browser build downloaded by
Playwright: the ``chromium`` fixture installs it with apt-get when it is missing and
the tests run as root. Without it the test is skipped, except under CI (``CI=true``),
where it fails: CI must run it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import anyio
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from examples.chat import app as chat
from tornadoish.testing import live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # we run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# apt-get update, then downloading and installing chromium and its libraries (about
# 100 MB): minutes on a slow mirror, and a hung one must not hang the suite.
APT_UPDATE_TIMEOUT = 180.0
APT_INSTALL_TIMEOUT = 600.0
# Any one browser wait (launch, navigation, a locator, an expectation), in ms. The
# whole test takes a few seconds; a wait this long means something is broken.
WAIT_MS = 10_000
# The browser part's budget (it takes a few seconds), past launching Chromium and a
# first-time install of it.
TEST_TIMEOUT = 30.0


def _apt_get(arguments: list[str], timeout: float) -> str | None:
    """Run apt-get; None when it succeeded, else why not."""
    command = ["apt-get", *arguments]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment
        )
    except subprocess.TimeoutExpired:
        return f"`{' '.join(command)}` took longer than {timeout:.0f} s"
    except OSError as error:
        return f"`{' '.join(command)}` could not run: {error}"
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return f"`{' '.join(command)}` exited with {result.returncode}: {' / '.join(tail)}"
    return None


def _install_chromium() -> str | None:
    """Install Debian's chromium package; None when done, else why not."""
    if os.geteuid() != 0:
        return "not running as root, so it cannot be installed here (apt-get install chromium)"
    problem = _apt_get(["update"], APT_UPDATE_TIMEOUT)
    if problem is None:
        problem = _apt_get(
            ["install", "-y", "--no-install-recommends", "chromium"], APT_INSTALL_TIMEOUT
        )
    return problem


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium, installed first if need be."""
    if not os.access(CHROMIUM, os.X_OK):
        problem = _install_chromium()
        if problem is None and not os.access(CHROMIUM, os.X_OK):
            problem = f"apt-get installed chromium, yet {CHROMIUM} is missing"
        if problem is not None:
            message = f"headless Chromium ({CHROMIUM}) is not available: {problem}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{message}; CI must run the browser tests", pytrace=False)
            pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Playwright's async API runs on asyncio only


async def _open_chat(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#status")).to_have_attribute("data-state", "open", timeout=WAIT_MS)


async def _exchange_a_message(browser: Browser, url: str, screenshot: Path) -> None:
    """Open the chat in pages A and B; A says something; both show it; B's screenshot."""
    context = await browser.new_context(viewport={"width": 800, "height": 600})
    context.set_default_timeout(WAIT_MS)
    page_a = await context.new_page()
    page_b = await context.new_page()
    await _open_chat(page_a, url)
    await _open_chat(page_b, url)

    await page_a.fill("#nickname", "ada")
    await page_a.fill("#text", "hello <b>bob</b>")
    await page_a.press("#text", "Enter")

    for page in (page_b, page_a):
        messages = page.locator("#messages li")
        await expect(messages).to_have_count(1, timeout=WAIT_MS)
        await expect(messages.locator(".from")).to_have_text("ada", timeout=WAIT_MS)
        # Shown as text: the markup in a message never becomes elements.
        await expect(messages.locator(".text")).to_have_text("hello <b>bob</b>", timeout=WAIT_MS)
        assert await page.locator("#messages b").count() == 0
    await expect(page_a.locator("#text")).to_have_value("", timeout=WAIT_MS)
    await page_b.screenshot(path=screenshot)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.timeout(APT_UPDATE_TIMEOUT + APT_INSTALL_TIMEOUT + 2 * TEST_TIMEOUT)
async def test_two_pages_exchange_a_message(chromium: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "chat-page-b.png"
    async with live_server(chat.make_app()) as server, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            # Each wait is bounded; so is their sum. Cleanup stays outside the scope.
            with anyio.fail_after(TEST_TIMEOUT):
                await _exchange_a_message(browser, server.url + "/", screenshot)
        finally:
            await browser.close()
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000
