"""What every request handler and job needs, built once by `create_app` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from loyalty.rules.programme import Programme
from loyalty.settings import LoyaltySettings
from loyalty.signing import RoomSigner
from smartroom.clock import Clock


@dataclass
class Context:
    engine: Engine
    clock: Clock
    programme: Programme
    signer: RoomSigner
    settings: LoyaltySettings

    @property
    def lowest_tier(self) -> str:
        return self.programme.tiers[0].name
