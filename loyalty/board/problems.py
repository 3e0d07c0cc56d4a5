"""Maintenance problems reported from the board, with an optional photo. Photos are checked
before anything is stored: at most 160 KiB (the page shrinks camera photos to fit), and the
bytes must be a JPEG, PNG or WebP image whatever the client claims; they are served back
only to signed-in staff of the property, with their checked type and `nosniff`."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import Connection, insert, select

from loyalty.board.projection import record_change
from loyalty.board.workflow import Staff
from loyalty.db.board_tables import board_actions, board_problems, board_rooms
from loyalty.errors import ApiError
from sync.wire import new_id

MAX_PHOTO = 160 * 1024
PhotoType = Literal["image/jpeg", "image/png", "image/webp"]


class ProblemReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    photo_type: PhotoType | None = None
    photo_b64: Annotated[str, StringConstraints(max_length=(MAX_PHOTO * 4) // 3 + 8)] | None = None


def sniff(data: bytes) -> PhotoType | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _photo(report: ProblemReport) -> tuple[str | None, bytes | None]:
    if report.photo_b64 is None and report.photo_type is None:
        return None, None
    if report.photo_b64 is None or report.photo_type is None:
        raise ApiError(
            422, "invalid_photo", "give photo_type and photo_b64 together", field="photo"
        )
    try:
        data = base64.b64decode(report.photo_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_photo", "photo_b64 is not base64", field="photo_b64") from None
    if len(data) > MAX_PHOTO:
        raise ApiError(
            413, "photo_too_large", f"the photo is {len(data)} bytes; at most {MAX_PHOTO}"
        )
    found = sniff(data)
    if found is None:
        raise ApiError(422, "invalid_photo", "the photo is not a JPEG, PNG or WebP image")
    if found != report.photo_type:
        raise ApiError(
            422,
            "invalid_photo",
            f"the photo is {found}, not {report.photo_type}",
            field="photo_type",
        )
    return found, data


def report(
    conn: Connection, staff: Staff, room_id: str, body: ProblemReport, *, key: str, now: datetime
) -> dict[str, Any]:
    photo_type, photo = _photo(body)
    r = board_rooms.c
    if (
        conn.execute(
            select(r.room_id).where(r.property_id == staff.property_id, r.room_id == room_id)
        ).first()
        is None
    ):
        raise ApiError(404, "room_not_found", f"no room {room_id!r} on this board")
    problem_id = new_id("hp_")
    conn.execute(
        insert(board_problems).values(
            id=problem_id,
            property_id=staff.property_id,
            room_id=room_id,
            staff_id=staff.id,
            text=body.text,
            photo_type=photo_type,
            photo=photo,
            created_at=now,
        )
    )
    conn.execute(
        insert(board_actions).values(
            id=new_id("ha_"),
            property_id=staff.property_id,
            room_id=room_id,
            staff_id=staff.id,
            idem_key=key,
            kind="report_problem",
            detail_json=f'{{"problem_id": "{problem_id}"}}',
            at=now,
        )
    )
    record_change(conn, staff.property_id, room_id, now)
    return {"id": problem_id, "room_id": room_id, "photo": photo is not None}


def photo(conn: Connection, staff: Staff, problem_id: str) -> tuple[str, bytes]:
    p = board_problems.c
    row = conn.execute(
        select(p.photo_type, p.photo).where(p.id == problem_id, p.property_id == staff.property_id)
    ).first()
    if row is None or row.photo is None:
        raise ApiError(404, "photo_not_found", f"no photo for problem {problem_id!r}")
    return row.photo_type, bytes(row.photo)
