"""The board's commands as a room's agent reads them: on the sync `commands` stream (put
there by `workflow.enqueue_command`), or by pull, `GET /v1/agent/board-commands?after=N`.

    page = commands_after(conn, "SHA-01", "1201", after=0)   # list[StaffCommand], oldest first
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from loyalty.db.board_tables import board_commands
from sync.wire import StaffCommand

PAGE = 100


def commands_after(
    conn: Connection, property_id: str, room_id: str, after: int, limit: int = PAGE
) -> list[StaffCommand]:
    c = board_commands.c
    rows = conn.execute(
        select(board_commands)
        .where(c.property_id == property_id, c.room_id == room_id, c.seq > after)
        .order_by(c.seq)
        .limit(limit)
    ).all()
    return [
        StaffCommand(
            command_id=r.id,
            seq=r.seq,
            property_id=r.property_id,
            room_id=r.room_id,
            kind=r.kind,
            at=r.created_at,
        )
        for r in rows
    ]


def command_doc(conn: Connection, command_id: str) -> StaffCommand:
    """One queued command as the agent receives it (the sync commands stream)."""
    r = conn.execute(select(board_commands).where(board_commands.c.id == command_id)).one()
    return StaffCommand(
        command_id=r.id,
        seq=r.seq,
        property_id=r.property_id,
        room_id=r.room_id,
        kind=r.kind,
        at=r.created_at,
    )
