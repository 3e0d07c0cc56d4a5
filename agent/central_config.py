"""Central's room config, acted on (issue 16): laid over the room file, checked, applied to
the running room, kept across a kill -9, and reported back.

Precedence, per key: built-in default < room file < `SMARTROOM_AGENT_*` environment <
central. Central sets only the keys `sync.room_settings.RoomSettings` names (setpoint
limits, setback depth, vacancy delays, quiet hours, room defaults, the comfort model's
context, alert delays); devices, addresses, paths and keys stay the room file's.

    central = CentralConfig(file_config, store, apply=room.apply_config)
    config = central.at_start()   # the last applied central config laid over the file
    central.settle()              # after each page: apply a newer version, or refuse it

A refused version (a clash with this room's file, a key this agent does not know) changes
nothing: the previous config stays in force and central hears `config_applied` with the
version still applied, the refused one and why. Both are kept in the store's room state,
written with the event in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.config import RoomConfig
from agent.store import AgentStore, NewEvent
from smartroom.log import get_logger
from sync.room_settings import SettingsError, describe, parse_settings
from sync.wire import EventKind, RoomConfigDoc

log = get_logger("agent.config")

APPLIED = "central_config"  # room_state: {"version": n, "settings": {...}}
REFUSED = "central_config_refused"  # room_state: {"version": n, "error": "..."}


class ConfigRefused(ValueError):
    pass


def overlay(base: RoomConfig, doc: RoomConfigDoc) -> RoomConfig:
    """The room file's config with central's settings laid over it; raises ConfigRefused
    naming every problem (the settings alone, or the result against the room file)."""
    try:
        sections = parse_settings(doc.settings).sections()
    except SettingsError as exc:
        raise ConfigRefused(str(exc)) from None
    update: dict[str, BaseModel] = {}
    problems: list[str] = []
    for name, values in sections.items():
        current: BaseModel = getattr(base, name)
        try:
            update[name] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            problems.append(f"{name}: {describe(exc)}")
    if problems:
        raise ConfigRefused("; ".join(problems))
    config = base.model_copy(update=update)
    try:  # across sections: the energy policy is checked against the setpoint limits
        config.energy.policy(config.limits)
    except ValueError as exc:
        raise ConfigRefused(f"energy: {exc}") from None
    return config


class CentralConfig:
    def __init__(
        self, base: RoomConfig, store: AgentStore, apply: Callable[[RoomConfig], None]
    ) -> None:
        self.base = base
        self.store = store
        self.apply = apply

    def _state(self, key: str) -> dict[str, Any] | None:
        value = self.store.get_state(key)
        return value if isinstance(value, dict) else None

    def applied_version(self) -> int:
        applied = self._state(APPLIED)
        return int(applied["version"]) if applied else 0

    def info(self) -> dict[str, Any]:
        """For /health: the central version in force, and the last one refused and why."""
        applied = self._state(APPLIED)
        return {
            "central_version": applied["version"] if applied else None,
            "central_settings": applied["settings"] if applied else None,
            "refused": self._state(REFUSED),
        }

    def at_start(self) -> RoomConfig:
        """The config to start with: the last central config this room applied (kept in
        its store, so it holds across a restart with central unreachable)."""
        applied = self._state(APPLIED)
        if applied is None:
            return self.base
        doc = RoomConfigDoc(version=applied["version"], settings=applied["settings"])
        try:
            config = overlay(self.base, doc)
        except ConfigRefused as exc:
            # The room file changed under it: run on the file and let settle() say so.
            log.error("central_config_no_longer_fits", version=doc.version, error=str(exc))
            self.store.commit(state={APPLIED: None})
            return self.base
        log.info("central_config_in_force", version=doc.version)
        return config

    def settle(self) -> int | None:
        """Apply the newest config central sent if it is newer than what was applied or
        refused; returns the version applied or refused, None when nothing was due."""
        doc = self.store.room_config()
        refused = self._state(REFUSED)
        done = max(self.applied_version(), int(refused["version"]) if refused else 0)
        if doc is None or doc.version <= done:
            return None
        try:
            config = overlay(self.base, doc)
        except ConfigRefused as exc:
            error = str(exc)[:400]
            log.error("central_config_refused", version=doc.version, error=error)
            payload = {"version": self.applied_version(), "refused": doc.version, "error": error}
            self.store.commit(
                state={REFUSED: {"version": doc.version, "error": error}},
                events=[NewEvent(EventKind.CONFIG_APPLIED, payload)],
            )
            return doc.version
        self.apply(config)
        self.store.commit(
            state={APPLIED: {"version": doc.version, "settings": doc.settings}, REFUSED: None},
            events=[NewEvent(EventKind.CONFIG_APPLIED, {"version": doc.version})],
        )
        log.info("central_config_applied", version=doc.version)
        return doc.version
