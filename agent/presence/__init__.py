"""Recognising the member: BLE rotating identifiers, signed app room keys, mobile-key locks.

The pure core (no I/O): `eid` (identifier derivation), `advert` (frame parsing), `resolver`,
`tracker` (RSSI + dwell hysteresis), `room_key` (Ed25519 key checks), `challenge`,
`ratelimit`. The glue that reports to the room: `ble`, `app_key`, `lock`. See
docs/presence.md for the scheme and its threat model.
"""

from agent.presence.hub import PresenceHub, PresenceListener, PresenceSignal

__all__ = ["PresenceHub", "PresenceListener", "PresenceSignal"]
