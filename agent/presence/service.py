"""The room's member recognition, assembled: one object the agent owns.

    presence = RoomPresence(config, store, hub, clock, registry=metrics.registry)
    presence.refresh()                    # after every sync: candidates, keys, revocations
    device.subscribe(presence.on_device_update)   # mobile-key unlocks
    supervisor.add("presence", presence.run)      # departures, log summaries

`StoreWallet` answers the key desk from the agent store: the pinned public key (the room
file's, else the one pinned on the first sync), the stay secret (sent by central, or
derived from the room secret for a stay the room has not heard of), revocations.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import stat
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from agent.presence.app_key import KeyDesk
from agent.presence.ble import BleRecogniser
from agent.presence.challenge import ChallengeBook
from agent.presence.config import PresenceSection
from agent.presence.hub import PresenceHub, PresenceSignal
from agent.presence.metrics import PresenceMetrics
from agent.presence.ratelimit import RateLimiter
from agent.presence.resolver import Candidate, Resolver
from agent.presence.room_key import load_public_key
from agent.presence.tracker import Tracker
from agent.presence.vault import CredentialVault
from agent.store import AgentStore
from drivers.base import DeviceUpdate, SensorEventKind
from smartroom.clock import Clock
from smartroom.credentials import SECRET_MIN_BYTES, stay_secret
from smartroom.log import get_logger
from sync.wire import StayAssignment

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = get_logger("agent.presence")

MOBILE_KEY_ACTORS = frozenset({"app"})  # lock sources that mean the hotel app's mobile key


class PresenceConfigError(ValueError):
    pass


def load_badges(path: Path) -> list[Candidate]:
    """Staff badges: a 0600 TOML file `[badges]` name = "base64 secret" (>= 16 bytes)."""
    try:
        info = path.stat()
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresenceConfigError(f"presence.staff_badges_file {path}: {exc}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PresenceConfigError(
            f"presence.staff_badges_file {path} is readable by others (fix: chmod 600 {path})"
        )
    badges = data.get("badges")
    if not isinstance(badges, dict):
        raise PresenceConfigError(f'{path}: needs a [badges] table of name = "secret"')
    out: list[Candidate] = []
    for name, value in badges.items():
        try:
            secret = base64.b64decode(str(value), validate=True)
        except binascii.Error:
            raise PresenceConfigError(f"{path}: badge {name!r} is not base64") from None
        if len(secret) < SECRET_MIN_BYTES:
            raise PresenceConfigError(f"{path}: badge {name!r} secret under 16 bytes")
        out.append(Candidate(f"badge:{name}", secret, "staff"))
    return out


class StoreWallet:
    def __init__(
        self, store: AgentStore, pinned: str | None, on_take_in: Callable[[], None]
    ) -> None:
        self.store = store
        self.vault = CredentialVault(store)
        self._configured = load_public_key(pinned) if pinned else None
        self._on_take_in = on_take_in

    def public_key(self) -> Ed25519PublicKey | None:
        if self._configured is not None:
            return self._configured
        pinned = self.vault.pinned_signing_key()
        return load_public_key(pinned) if pinned else None

    def secret_for(self, stay_id: str) -> bytes | None:
        secret = self.vault.stay_secret(stay_id)
        if secret is not None:
            return secret
        room = self.vault.room_secret()
        return None if room is None else stay_secret(room, stay_id)

    def revocation(self, stay_id: str) -> str | None:
        return self.vault.revocation(stay_id)

    def knows(self, stay_id: str) -> bool:
        return any(s.stay_id == stay_id and s.status == "checked_in" for s in self.store.stays())

    def take_in(self, stay: StayAssignment, secret: bytes) -> None:
        self.store.put_provisional_stay(stay)
        log.warning(
            "stay_taken_in_from_room_key",
            hint="central has not told this room about the stay yet; sync will reconcile it",
        )
        self._on_take_in()


class RoomPresence:
    def __init__(
        self,
        section: PresenceSection,
        store: AgentStore,
        hub: PresenceHub,
        clock: Clock,
        *,
        registry: CollectorRegistry | None = None,
        on_stays_changed: Callable[[], None] | None = None,
    ) -> None:
        self.section, self.store, self.hub, self.clock = section, store, hub, clock
        self.metrics = PresenceMetrics(registry)
        self.badges = load_badges(section.staff_badges_file) if section.staff_badges_file else []
        self.on_stays_changed = on_stays_changed
        self.wallet = StoreWallet(store, section.signing_public_key, self.stays_taken_in)
        self.ble = BleRecogniser(
            hub,
            clock,
            resolver=Resolver(drift_windows=section.drift_windows),
            tracker=Tracker(section.track_policy()),
            metrics=self.metrics,
        )
        self.desk = KeyDesk(
            hub,
            clock,
            self.wallet,
            property_id=store.property_id,
            room_id=store.room_id,
            challenges=ChallengeBook(ttl=_seconds(section.challenge_ttl_s)),
            metrics=self.metrics,
        )
        self.limits = RateLimiter(rate_per_s=section.rate_per_s, burst=section.burst)
        self.refresh()

    def stays_taken_in(self) -> None:
        self.refresh()
        if self.on_stays_changed is not None:
            self.on_stays_changed()

    def refresh(self) -> None:
        """Candidates = checked-in stays of this room (with their secret) + staff badges."""
        candidates = list(self.badges)
        for stay in self.store.stays():
            if stay.status != "checked_in":
                continue
            secret = self.wallet.secret_for(stay.stay_id)
            if secret is not None:
                candidates.append(Candidate(stay.stay_id, secret, "member"))
        self.ble.set_candidates(candidates)

    def on_device_update(self, update: DeviceUpdate) -> None:
        """A mobile-key unlock is arrival evidence for the checked-in stay (the lock checked
        the hotel app's credential; the lock does not say which stay, so only a room with
        exactly one checked-in stay takes it)."""
        event = update.event
        if event is None or event.kind is not SensorEventKind.DOOR_UNLOCKED:
            return
        if event.actor not in MOBILE_KEY_ACTORS:
            return
        stays = [s for s in self.store.stays() if s.status == "checked_in"]
        if len(stays) != 1:
            log.info("mobile_key_unlock_unattributed", checked_in=len(stays))
            return
        self.hub.report(
            PresenceSignal(stay_id=stays[0].stay_id, present=True, via="lock", at=event.at)
        )

    async def run(self, interval_s: float = 1.0, refresh_every: int = 10) -> None:
        """Departures and log summaries every second; the candidates re-read from the store
        every `refresh_every` seconds too, so whatever writes stays (sync, a provisional
        take-in) is picked up even without telling us (unchanged candidates cost no
        table rebuild)."""
        ticks = 0
        while True:
            self.ble.tick()
            ticks += 1
            if ticks % refresh_every == 0:
                self.refresh()
            await asyncio.sleep(interval_s)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
