"""The room's side of the housekeeping board, over the central link the sync worker owns:
the room's status goes up when it changes (and as a heartbeat, so the board can tell a
silent room from a quiet one); staff commands come down (an attendant started or finished
cleaning) and become facts for the room, which runs its housekeeping scene meanwhile.

    link = BoardLink(client, room, heartbeat_s=60)
    room.on_status(lambda _s: worker.kick.set())     # a change goes up at once
    await link.exchange()                            # each turn of the sync worker

Commands are applied in central's order, once: the room's memory keeps the last `seq` it
applied, committed with the step that applied it, and the next request asks only for later
ones. A central without the board endpoints costs a logged warning, never the link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from agent.facts import StaffService
from smartroom.log import get_logger

if TYPE_CHECKING:
    from agent.central import CentralClient
    from agent.room import RoomController

log = get_logger("agent.board")


class BoardLink:
    def __init__(self, client: CentralClient, room: RoomController, *, heartbeat_s: float):
        self.client = client
        self.room = room
        self.heartbeat = timedelta(seconds=heartbeat_s)
        self._sent_key: str | None = None
        self._sent_at: datetime | None = None
        self._error: str | None = None
        self._fed = 0

    async def exchange(self) -> None:
        from agent.central import CentralError

        try:
            await self._status()
            await self._commands()
        except CentralError as exc:
            if str(exc) != self._error:
                log.warning("board_exchange_failed", error=str(exc))
            self._error = str(exc)
            return
        if self._error is not None:
            log.info("board_exchange_recovered")
        self._error = None

    async def _status(self) -> None:
        status = self.room.status()
        key = status.model_dump_json(exclude={"at"})
        now = status.at
        due = self._sent_at is None or now - self._sent_at >= self.heartbeat
        if key == self._sent_key and not due:
            return
        await self.client.post_status(status)
        self._sent_key, self._sent_at = key, now

    async def _commands(self) -> None:
        # Fed but not yet applied by a step: not asked for again. After a restart the
        # memory's committed seq is where to start (a fed command lost in a crash returns).
        after = max(self.room.memory.service_seq, self._fed)
        for command in await self.client.board_commands(after):
            self.room.feed(
                StaffService(active=command.kind == "service_start", seq=command.seq, at=command.at)
            )
            self._fed = max(self._fed, command.seq)
