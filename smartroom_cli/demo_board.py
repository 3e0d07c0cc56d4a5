"""The demo's housekeeping board: the property's board file imported (with any demo room
it does not list), a supervisor and an attendant who can sign in, and this morning's work
done through the board's own API (every room cleaned and inspected, so the front desk,
which checks guests in only to inspected rooms, can check the demo's guests in).

    board = await open_board(central_url, engine, ["1201", "1202"])
    board.url, board.keys["supervisor"]
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine

from loyalty.board.model import StaffRole
from loyalty.board.setup import PropertySetup, add_staff, import_property
from smartroom.clock import SystemClock
from sync.wire import new_id

BOARD_FILE = Path(__file__).resolve().parents[1] / "examples" / "board" / "SHA-01.toml"


@dataclass
class DemoBoard:
    url: str
    keys: dict[str, str] = field(default_factory=dict)


def _setup(room_ids: list[str]) -> PropertySetup:
    data = tomllib.loads(BOARD_FILE.read_text(encoding="utf-8"))
    known = {room["room_id"] for room in data["rooms"]}
    for room_id in room_ids:
        if room_id not in known:
            floor = int(room_id[:-2]) if room_id[:-2].isdigit() else 0
            data["rooms"].append({"room_id": room_id, "floor": floor, "room_type": "standard"})
    return PropertySetup.model_validate(data)


async def open_board(central_url: str, engine: Engine, room_ids: list[str]) -> DemoBoard:
    setup = _setup(room_ids)
    board = DemoBoard(url=f"{central_url}/board")
    now = SystemClock().now()
    with engine.begin() as conn:
        import_property(conn, setup, now)
        staff: tuple[tuple[StaffRole, str], ...] = (
            ("supervisor", "Wang Fang"),
            ("attendant", "Li Na"),
        )
        for role, name in staff:
            board.keys[role] = add_staff(
                conn, property_id=setup.property_id, name=name, role=role, now=now
            )[1]
    async with httpx.AsyncClient(base_url=central_url, timeout=10) as http:
        signed = await http.post("/board/api/session", json={"api_key": board.keys["supervisor"]})
        signed.raise_for_status()
        for room_id in room_ids:
            for action in (
                {"kind": "start_cleaning"},
                {"kind": "finish_cleaning"},
                {"kind": "inspect", "passed": True},
            ):
                r = await http.post(
                    "/board/api/actions",
                    json={**action, "room_id": room_id},
                    headers={"Idempotency-Key": new_id("demo-board-"), "X-Board": "1"},
                )
                if r.status_code >= 400:
                    raise RuntimeError(f"board {action['kind']} {room_id}: {r.text[:200]}")
            await asyncio.sleep(0)
    return board
