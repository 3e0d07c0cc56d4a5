"""Prometheus metrics of one agent, in its own registry (no process-global state, so tests
and benchmarks can run several agents in one process).

    metrics = AgentMetrics(room="1201")
    metrics.scene_applied.labels(scene="welcome").inc()
    text = metrics.render()          # what GET /metrics returns
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class AgentMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.occupied = Gauge("smartroom_room_occupied", "1 when the room is occupied", registry=r)
        self.rented = Gauge("smartroom_room_rented", "1 when a stay is checked in", registry=r)
        self.dnd = Gauge("smartroom_room_dnd", "1 when do-not-disturb is on", registry=r)
        self.mur = Gauge("smartroom_room_mur", "1 when make-up-room is requested", registry=r)
        self.alerts = Gauge("smartroom_room_alerts", "active alerts", registry=r)
        self.device_available = Gauge(
            "smartroom_device_available", "1 when the device answers", ["device"], registry=r
        )
        self.temperature = Gauge(
            "smartroom_room_temperature_celsius", "room temperature (HVAC sensor)", registry=r
        )
        self.setpoint = Gauge(
            "smartroom_hvac_setpoint_celsius", "confirmed HVAC setpoint", ["device"], registry=r
        )
        self.scene_applied = Counter(
            "smartroom_scene_applied_total", "scenes applied", ["scene"], registry=r
        )
        self.scene_seconds = Histogram(
            "smartroom_scene_apply_seconds",
            "scene change to every device confirmed",
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.command_failures = Counter(
            "smartroom_device_command_failures_total",
            "device commands that failed",
            ["device"],
            registry=r,
        )
        self.manual_changes = Counter(
            "smartroom_manual_changes_total", "guest changes by hand", ["device"], registry=r
        )
        self.task_restarts = Counter(
            "smartroom_task_restarts_total", "supervised task restarts", ["task"], registry=r
        )
        self.outbox_depth = Gauge(
            "smartroom_outbox_pending", "events waiting for central", registry=r
        )
        self.outbox_class = Gauge(
            "smartroom_outbox_pending_events",
            "events waiting for central, per budget class",
            ["budget"],
            registry=r,
        )
        self.outbox_bytes = Gauge(
            "smartroom_outbox_pending_bytes",
            "outbox bytes per budget class",
            ["budget"],
            registry=r,
        )
        self.outbox_budget_used = Gauge(
            "smartroom_outbox_budget_used_ratio",
            "share of the class's budget in use (events or bytes, whichever is fuller)",
            ["budget"],
            registry=r,
        )
        self.outbox_dropped = Gauge(
            "smartroom_outbox_telemetry_dropped",
            "telemetry events thinned or dropped by the budget since the agent started",
            registry=r,
        )
        self.outbox_refused = Gauge(
            "smartroom_outbox_refused",
            "never-dropped events refused (budget exhausted) since the agent started",
            ["budget"],
            registry=r,
        )
        self.store_writable = Gauge(
            "smartroom_store_writable", "0 while the agent's SQLite cannot write", registry=r
        )
        self.clock_offset = Gauge(
            "smartroom_clock_offset_seconds",
            "central's clock minus the room's, at the last exchange (alert beyond ±60)",
            registry=r,
        )
        self.central_online = Gauge(
            "smartroom_central_online", "1 when the last exchange with central worked", registry=r
        )
        self.sync_failures = Counter(
            "smartroom_sync_failures_total", "failed exchanges with central", ["op"], registry=r
        )
        self.model_updates = Counter(
            "smartroom_comfort_model_updates_total",
            "comfort-model versions offered by central, by outcome",
            ["outcome"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "smartroom_loop_lag_seconds", "how late the last control tick ran", registry=r
        )

        # Called before each render: gauges read from the store at scrape time.
        self.collectors: list[Callable[[], None]] = []

    def render(self) -> bytes:
        for collect in self.collectors:
            collect()
        return generate_latest(self.registry)
