"""What the running agent says about itself: the `/health` document and the gauges read
at each `/metrics` scrape (outbox per budget class, store writable, central online, clock
offset). Reads the `Agent`, changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.app import Agent


def agent_health(agent: Agent) -> dict[str, Any]:
    """`GET /health`: the tasks, central's link, the outbox, the store, the room config and
    the comfort model, as the running agent sees them."""
    sync = None if agent.link is None else agent.link.worker
    return {
        "ready": agent.ready.is_set(),
        "tasks": agent.supervisor.info(),
        "central": None
        if sync is None
        else {
            "online": sync.online,
            "last_error": sync.last_error,
            "pulls": sync.pulls,
            "outbox_pending": agent.store.outbox_depth() if agent.store else None,
            "clock_offset_s": None
            if agent.store is None
            else round(agent.store.clock_offset_ms / 1000, 1),
            "uploads_failed": sync.uploads_failed,
            "pulls_failed": sync.pulls_failed,
        },
        "outbox": None if agent.store is None else agent.store.outbox_report(),
        "store": None if agent.store is None else agent.store.write_health(),
        "room_config": None if agent.central_config is None else agent.central_config.info(),
        "comfort_model": None if agent.model_updater is None else agent.model_updater.info(),
        "comfort_context": None if agent.room is None else agent.room.resolver.context_info(),
    }


def collect_gauges(agent: Agent) -> None:
    """The sync and store gauges, read at scrape time (a metrics collector)."""
    m, store = agent.metrics, agent.store
    if store is None:
        return
    report = store.outbox_report()
    for cls, usage in report["classes"].items():
        m.outbox_class.labels(budget=cls).set(usage["events"])
        m.outbox_bytes.labels(budget=cls).set(usage["bytes"])
        m.outbox_budget_used.labels(budget=cls).set(usage["used"])
        m.outbox_refused.labels(budget=cls).set(report["refused"].get(cls, 0))
    m.outbox_dropped.set(report["dropped"])
    m.outbox_depth.set(sum(u["events"] for u in report["classes"].values()))
    m.store_writable.set(1 if store.db.write_error is None else 0)
    if agent.link is not None:
        m.central_online.set(1 if agent.link.worker.online else 0)
        m.clock_offset.set(store.clock_offset_ms / 1000)
