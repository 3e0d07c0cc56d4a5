"""The board in a real browser (headless Chromium) against the real central service:
sign-in, a member key refused, both languages (with the screenshots in docs/), an
assignment, a sensor discrepancy, a stale room, and an action queued offline and delivered
once when the network returns."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from board_harness import PROPERTY, ROOT, Board
from browser import chromium, signed_in
from playwright.async_api import expect
from sqlalchemy import func, select

from loyalty.board.projection import update_room
from loyalty.db.board_tables import board_actions, board_commands
from smartroom.clock import FakeClock
from sync.wire import Alert

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]
LIVE_MS = 2000  # the promise: a change reaches every open board within 2 s


def _card(page: object, room: str) -> object:
    return page.locator(f"#room-{room}")  # type: ignore[attr-defined]


async def test_sign_in_and_a_member_key_is_refused(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        member = board.member_key()
        async with chromium() as browser:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{board.url}/board/login?lang=en")
            await page.fill("input[name=api_key]", member)
            await page.click("#login button[type=submit]")
            await expect(page.locator("#login-error")).to_contain_text("member key cannot sign in")
            # A member key sent straight to the action endpoint gets no further.
            r = await page.request.post(
                f"{board.url}/board/api/actions",
                data=json.dumps({"kind": "start_cleaning", "room_id": "1201"}),
                headers={
                    "Authorization": f"Bearer {member}",
                    "Idempotency-Key": "member-try-1",
                    "X-Board": "1",
                    "Content-Type": "application/json",
                },
            )
            assert r.status == 401
            await page.fill("input[name=api_key]", board.staff["attendant"])
            await page.click("#login button[type=submit]")
            await page.wait_for_url(f"{board.url}/board")
            await expect(page.locator("#grid .card")).to_have_count(5)
            await expect(page.locator(".top .me")).to_contain_text("Li Na (Attendant)")
        with board.engine.begin() as conn:
            assert conn.execute(select(func.count()).select_from(board_actions)).scalar() == 0


def _populate(board: Board) -> None:
    """A morning on the demo property: a guest waiting, a make-up request, DND, an alert,
    a discrepancy, a room out of order, a benefit to deliver, a silent room."""
    keys = {room: board.agent_key(room) for room in ("1201", "1202", "1203", "1301")}
    now = board.clock.now()
    with board.engine.begin() as conn:
        update_room(conn, PROPERTY, "1203", now, condition="inspected")
        update_room(conn, PROPERTY, "1202", now, condition="clean")
        update_room(
            conn,
            PROPERTY,
            "1302",
            now,
            out_of_order="ooo",
            ooo_reason="leak under the basin",
            ooo_from="2026-03-02",
            ooo_until="2026-03-04",
        )
    board.stay("1203", arrive_in=timedelta(hours=-3), nights=1, check_in=True, gold=True)
    board.stay("1201", arrive_in=timedelta(hours=-1), check_in=False)  # waiting: queue
    board.status("1201", keys["1201"], occupied=False)
    board.status("1202", keys["1202"], occupied=True, scene="welcome_staff")  # sleep
    board.status("1203", keys["1203"], rented=True, occupied=True, dnd=True, scene="welcome")
    alert = Alert(kind="door_left_open", since=now, detail="door open 6 min")
    board.status("1301", keys["1301"], mur=True, alerts=[alert])


async def test_both_languages_with_screenshots(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        _populate(board)
        async with chromium() as browser:
            for lang, words in (
                ("en", ("Guest waiting", "Do not disturb", "Out of order", "Door left open")),
                ("zh", ("客人等房", "请勿打扰", "维修房", "房门未关")),
            ):
                _, page = await signed_in(browser, board.url, board.staff["supervisor"], lang=lang)
                if lang == "zh":  # the language switch is a link, and it sticks
                    await expect(page.locator("h1")).to_contain_text("客房状态看板")
                for word in words:
                    await expect(page.locator("#grid")).to_contain_text(word)
                await expect(page.locator("#priority li").first).to_contain_text("1201")
                await page.screenshot(path=str(ROOT / "docs" / f"board-{lang}.png"), full_page=True)
                await page.context.close()


async def test_an_assignment_reaches_the_attendants_board(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        async with chromium() as browser:
            _, boss = await signed_in(browser, board.url, board.staff["supervisor"])
            _, maid = await signed_in(browser, board.url, board.staff["attendant"])
            await maid.click("[data-filter=mine]")
            await expect(maid.locator("#room-1301")).to_be_hidden()
            card = _card(boss, "1301")
            await card.locator("summary").click()
            form = card.locator("form[data-act=assign]")
            await form.locator("select[name=attendant_id]").select_option(label="Li Na")
            await form.locator("select[name=cleaning]").select_option("departure")
            await form.locator("button[type=submit]").click()
            # Live on the attendant's own board, with the credits for a standard departure.
            assigned = maid.locator("#room-1301 [data-test=assigned]")
            await expect(assigned).to_contain_text(
                "Li Na · Departure clean · 3 credits", timeout=LIVE_MS
            )
            await expect(maid.locator("#room-1301")).to_be_visible()
            await expect(maid.locator("#room-1201")).to_be_hidden()  # "my rooms" only
            # An attendant cannot assign: the API refuses, whatever the page shows.
            r = await maid.request.post(
                f"{board.url}/board/api/actions",
                data=json.dumps(
                    {"kind": "unassign", "room_id": "1301"},
                ),
                headers={
                    "Idempotency-Key": "maid-unassign-1",
                    "X-Board": "1",
                    "Content-Type": "application/json",
                },
            )
            assert r.status == 403 and "attendant may not unassign" in await r.text()


async def test_sensor_discrepancy_and_stale_room(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        clock = board.clock
        assert isinstance(clock, FakeClock)
        key = board.agent_key("1202")
        board.status("1202", key, occupied=False)
        async with chromium() as browser:
            _, page = await signed_in(browser, board.url, board.staff["front_desk"])
            card = _card(page, "1202")
            await expect(card.locator("[data-test=occupancy]")).to_have_text("Empty · vacant")
            # Nobody is checked in, yet the sensors see people: "sleep", for the front desk.
            board.status("1202", key, occupied=True)
            flag = card.locator("[data-test=discrepancy]")
            await expect(flag).to_have_attribute("data-kind", "sleep", timeout=LIVE_MS)
            await page.click("[data-filter=alerts]")
            await expect(card).to_be_visible()
            await expect(_card(page, "1201")).to_be_hidden()
            # The agent goes silent: after stale_after_s the card says so, with the time of
            # its last report, and no longer claims anyone is inside.
            reported = clock.now()
            clock.advance(121)
            stale = card.locator("[data-test=stale]")
            local = reported.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
            await expect(stale).to_have_text(f"No report since {local:%m-%d %H:%M}", timeout=6000)
            await expect(card.locator("[data-test=discrepancy]")).to_have_count(0)
            await expect(card.locator("[data-test=occupancy]")).to_have_count(0)


async def test_an_action_queued_offline_is_delivered_once(tmp_path: Path) -> None:
    with Board(tmp_path) as board:
        async with chromium() as browser:
            context, page = await signed_in(browser, board.url, board.staff["attendant"])
            await context.set_offline(True)
            await expect(page.locator("#offline")).to_contain_text("Offline", timeout=5000)
            await _card(page, "1201").locator("[data-act=start_cleaning]").click()
            await expect(page.locator("#offline")).to_contain_text("1 actions waiting")
            queued = await page.evaluate("localStorage.getItem('board_queue')")
            assert "start_cleaning" in queued
            # Reloading while offline is not needed: the page keeps the last board on screen.
            await expect(_card(page, "1201")).to_be_visible()
            await context.set_offline(False)
            cleaning = _card(page, "1201").locator("[data-test=cleaning]")
            await expect(cleaning).to_contain_text("Li Na", timeout=10_000)
            await expect(page.locator("#offline")).to_be_hidden()
            # Sent again by hand with the same key (a lost answer): replayed, not repeated.
            item = json.loads(queued)[0]
            r = await page.request.post(
                f"{board.url}/board/api/actions",
                data=json.dumps(item["body"]),
                headers={
                    "Idempotency-Key": item["key"],
                    "X-Board": "1",
                    "Content-Type": "application/json",
                },
            )
            assert r.status == 200 and r.headers.get("idempotent-replayed") == "true"
        with board.engine.begin() as conn:
            kinds = conn.execute(select(board_actions.c.kind)).scalars().all()
            commands = conn.execute(select(board_commands.c.kind)).scalars().all()
        assert kinds == ["start_cleaning"] and commands == ["service_start"]
        with httpx.Client() as http:
            assert http.get(f"{board.url}/board/api/rooms").status_code == 401


async def test_an_attendant_delivers_a_members_benefit(tmp_path: Path) -> None:
    """A gold guest in 1203 was promised breakfast (docs/benefits.md): the card lists it in
    both languages, the attendant marks it delivered, and central records the fulfilment
    once, with its cost, in the member's promised-vs-delivered record."""
    with Board(tmp_path) as board:
        with board.engine.begin() as conn:
            update_room(conn, PROPERTY, "1203", board.clock.now(), condition="inspected")
        stay = board.stay("1203", arrive_in=timedelta(hours=-3), nights=1, check_in=True, gold=True)
        async with chromium() as browser:
            _, page = await signed_in(browser, board.url, board.staff["attendant"])
            card = _card(page, "1203")
            await expect(card.locator(".benefits")).to_contain_text("Breakfast for two · 双人早餐")
            breakfast = card.locator(".benefits li", has_text="Breakfast")
            await breakfast.locator("[data-act=deliver_benefit]").click()
            await expect(breakfast).to_contain_text("✓", timeout=LIVE_MS)
            await expect(breakfast.locator("[data-act=deliver_benefit]")).to_have_count(0)
            # The upgrade (when available) is still to do.
            upgrade = card.locator(".benefits li", has_text="Room upgrade")
            await expect(upgrade.locator("[data-act=deliver_benefit]")).to_have_count(1)
        member = board.call("GET", f"/v1/stays/{stay}")["member_id"]
        record = board.call("GET", f"/v1/members/{member}/benefits")
        (delivered,) = record["fulfilments"]
        assert (delivered["code"], delivered["outcome"]) == ("breakfast", "delivered")
        assert float(delivered["cost"]) == 120.0 and delivered["by_role"] == "staff"
