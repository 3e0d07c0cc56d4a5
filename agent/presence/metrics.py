"""Presence counters, registered in the agent's own Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PresenceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.adverts = Counter(
            "smartroom_ble_adverts_total",
            "BLE adverts by outcome (ignored: not an EID frame)",
            ["outcome"],
            registry=r,
        )
        self.keys = Counter(
            "smartroom_room_key_presentations_total",
            "app room-key presentations by outcome",
            ["outcome"],
            registry=r,
        )
        self.candidates = Gauge(
            "smartroom_ble_candidates", "stays and badges the resolver tries", registry=r
        )
        self.present = Gauge(
            "smartroom_ble_present", "recognised phones and badges in range", registry=r
        )
