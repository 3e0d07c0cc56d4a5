"""Headless Chromium for the board tests: Debian's `chromium` driven by Playwright (no
browser download; `./dev test` installs the package). Each test gets a fresh context."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")


def chromium_path() -> str:
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        raise RuntimeError("the board tests need Debian's chromium: apt-get install chromium")
    return str(found)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), args=["--disable-gpu", "--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(
    browser: Browser, url: str, key: str, *, lang: str = "en"
) -> tuple[BrowserContext, Page]:
    """A tablet-sized page signed in through the real sign-in form."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN" if lang == "zh" else "en-US"
    )
    page = await context.new_page()
    await page.goto(f"{url}/board?lang={lang}")
    assert "/board/login" in page.url  # no session yet: sent to sign in
    await page.fill("input[name=api_key]", key)
    await page.click("#login button[type=submit]")
    await page.wait_for_url(f"{url}/board")
    await page.wait_for_selector("#grid .card")
    return context, page
