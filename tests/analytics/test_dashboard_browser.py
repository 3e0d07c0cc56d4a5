"""The dashboard in headless Chromium (Debian's chromium via Playwright) against the real
service: the key and period form, the figures the API computes, the SVG charts, the flag
outside the 2–5% band, Chinese, CSV export, and a wrong key refused. Screenshots go to
docs/ when SMARTROOM_SCREENSHOTS=docs (how docs/analytics.md's pictures were made)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from playwright.async_api import expect
from service_harness import Service

from loyalty.examples.economics import half_year

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "board"))
from browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[2]
PERIOD = ("2026-04-01", "2026-10-01")


def _shots(tmp_path: Path) -> Path:
    return ROOT / "docs" if os.environ.get("SMARTROOM_SCREENSHOTS") == "docs" else tmp_path


async def _show(page: object, url: str, key: str, lang: str) -> None:
    await page.goto(f"{url}/analytics/dashboard?lang={lang}")  # type: ignore[attr-defined]
    await page.fill("input[name=api_key]", key)  # type: ignore[attr-defined]
    await page.fill("input[name=start]", PERIOD[0])  # type: ignore[attr-defined]
    await page.fill("input[name=end]", PERIOD[1])  # type: ignore[attr-defined]
    await page.click("#query button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_selector(".card[data-key=points_issued]")  # type: ignore[attr-defined]


async def test_dashboard_in_a_browser(sqlite_service: Service, tmp_path: Path) -> None:
    service = sqlite_service
    half_year(service.call, service.clock)
    url = str(service.client.base_url).rstrip("/")
    api = service.call(
        "GET", "/v1/analytics/kpis", "loyalty", params={"start": PERIOD[0], "end": PERIOD[1]}
    )
    value = {f["key"]: f["value"] for f in api["figures"]}
    async with chromium() as browser:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        page = await context.new_page()
        # A wrong key: the page says why, and shows no figures.
        await page.goto(f"{url}/analytics/dashboard?lang=en")
        await page.fill("input[name=api_key]", "lk.nope.nope")
        await page.click("#query button[type=submit]")
        await expect(page.locator("#error")).to_contain_text("unknown or revoked API key")
        await _show(page, url, service.keys["loyalty"], "en")
        card = page.locator(".card[data-key=points_issued] .value")
        await expect(card).to_have_text(f"{value['points_issued']:,}")
        share = page.locator(".card[data-key=points_cost_share]")
        await expect(share.locator(".flag")).to_have_text("below the 2–5% band")
        await expect(share.locator(".definition")).to_contain_text("Points cost ÷ revenue")
        bars = page.locator("svg[data-chart=bars] >> nth=0").locator("rect.bar")
        await expect(bars).to_have_count(6 * 3)  # six months × issued/redeemed/expired
        issued = page.locator("svg[data-chart=bars] >> nth=0").locator(
            'rect.bar[data-series="issued"]'
        )
        monthly = [m["issued"] for m in api["monthly"]]
        assert [
            int(float(v)) for v in await issued.evaluate_all("els => els.map(e => e.dataset.value)")
        ] == monthly
        await expect(page.locator("svg rect.band")).to_have_count(1)  # the 2–5% band
        await expect(page.locator("#drifting")).to_be_visible()
        await page.screenshot(
            path=str(_shots(tmp_path) / "analytics-dashboard-en.png"), full_page=True
        )
        async with page.expect_download() as download:
            await page.click("#csv")
        saved = await (await download.value).path()
        text = Path(saved).read_text(encoding="utf-8")
        assert f"figure,points_issued,Points issued,{value['points_issued']},points" in text
        # Chinese: same figures, Chinese labels; the key is remembered for the session.
        await page.goto(f"{url}/analytics/dashboard?lang=zh")
        await expect(page.locator("h1")).to_have_text("会员计划经营分析")
        await expect(page.locator("input[name=api_key]")).to_have_value(service.keys["loyalty"])
        await page.fill("input[name=start]", PERIOD[0])
        await page.fill("input[name=end]", PERIOD[1])
        await page.click("#query button[type=submit]")
        label = page.locator(".card[data-key=points_issued] .label")
        await expect(label).to_have_text("发放积分")
        await expect(page.locator(".card[data-key=points_cost_share] .flag")).to_have_text(
            "低于 2–5% 区间"
        )
        await page.screenshot(
            path=str(_shots(tmp_path) / "analytics-dashboard-zh.png"), full_page=True
        )
        await context.close()
