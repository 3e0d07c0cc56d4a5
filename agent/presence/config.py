"""The room file's `[presence]` section (member recognition). Every key is optional.

[presence]
signing_public_key = "base64 of 32 bytes"   # pin the service key here; else pinned on
                                            # the first sync and never silently changed
device_key_file = "/var/lib/smartroom-agent/device.key"   # seals secrets at rest
staff_badges_file = "/etc/smartroom/badges.toml"          # [badges] name = "secret"
ble_scanner = true                          # scan with bleak (needs a BLE adapter)
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from agent.presence.tracker import TrackPolicy


class PresenceSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_public_key: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")] | None
    ) = None
    device_key_file: Path | None = None  # default: `device.key` next to the store
    staff_badges_file: Path | None = None
    ble_scanner: bool = False
    ble_adapter: Annotated[str, StringConstraints(pattern=r"^hci[0-9]{1,2}$")] | None = None
    # Adverts forwarded by a BLE proxy as HCI LE Advertising Reports over UDP (0: off).
    ble_proxy_port: Annotated[int, Field(ge=0, le=65535)] = 0
    ble_proxy_host: str = "127.0.0.1"
    enter_dbm: Annotated[float, Field(ge=-110, le=0)] = -75.0
    exit_dbm: Annotated[float, Field(ge=-120, le=0)] = -85.0
    dwell_s: Annotated[float, Field(ge=0, le=30)] = 0.6
    timeout_s: Annotated[float, Field(ge=5, le=3600)] = 120.0
    drift_windows: Annotated[int, Field(ge=0, le=3)] = 1
    challenge_ttl_s: Annotated[float, Field(ge=2, le=300)] = 30.0
    # Per client address on the local API's presence endpoints.
    rate_per_s: Annotated[float, Field(gt=0, le=100)] = 2.0
    burst: Annotated[int, Field(ge=1, le=100)] = 10

    @field_validator("signing_public_key")
    @classmethod
    def _raw_key(cls, v: str | None) -> str | None:
        if v is not None and len(base64.b64decode(v)) != 32:
            raise ValueError("is not a 32-byte Ed25519 public key")
        return v

    @model_validator(mode="after")
    def _band(self) -> PresenceSection:
        if self.exit_dbm > self.enter_dbm:
            raise ValueError("exit_dbm must be at or below enter_dbm (the hysteresis band)")
        return self

    def track_policy(self) -> TrackPolicy:
        return TrackPolicy(
            enter_dbm=self.enter_dbm,
            exit_dbm=self.exit_dbm,
            dwell_s=self.dwell_s,
            timeout_s=self.timeout_s,
        )
