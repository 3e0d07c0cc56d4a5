"""The BLE path: advert -> parse -> resolve -> RSSI/dwell tracker -> PresenceSignal.

`bleak`'s detection callback (drivers/ble_scanner.py) calls `on_service_data`; the phone
simulator (firmware_mocks/phone.py) calls `on_raw` with the bytes a phone puts on air, which
are decoded into the same service-data map first. Neither the device address nor the
identifier is kept or logged: an advert is reduced to (stay or badge, RSSI, time) or to a
refusal reason.

Refusals are counted (Prometheus) and logged at most once per `log_every_s` per reason, so a
flood of forged adverts cannot flood the journal; the log line says what staff can act on
(a replayed recording, a phone of an ended stay, malformed frames nearby).

    ble = BleRecogniser(hub, clock)
    ble.set_candidates(candidates)     # stays of this room + staff badges
    ble.on_service_data(adv.service_data, adv.rssi)
    ble.tick()                         # every second or so: departures, log summaries
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Literal

from agent.presence.advert import (
    AdvertError,
    parse_advertising_data,
    parse_hci_reports,
    read_eid,
)
from agent.presence.hub import PresenceHub, PresenceSignal
from agent.presence.metrics import PresenceMetrics
from agent.presence.resolver import Candidate, Match, Resolver
from agent.presence.tracker import Tracker
from smartroom.clock import Clock
from smartroom.log import get_logger

log = get_logger("agent.presence.ble")

Outcome = Literal[
    "ignored", "malformed", "unknown", "stale_window", "stay_not_current", "seen", "arrived"
]
_HINTS = {
    "unknown": "EID adverts that match no stay of this room (another room's guest nearby, "
    "or a stay this room has not synced yet)",
    "malformed": "broken Eddystone-EID frames nearby (a faulty beacon, or someone probing)",
    "stale_window": "an identifier of a current guest from an earlier window: a recording "
    "played back (or a phone clock far off)",
    "stay_not_current": "the phone of a stay that has ended or moved is still advertising",
}


class BleRecogniser:
    def __init__(
        self,
        hub: PresenceHub,
        clock: Clock,
        *,
        resolver: Resolver | None = None,
        tracker: Tracker | None = None,
        metrics: PresenceMetrics | None = None,
        log_every_s: float = 60.0,
    ) -> None:
        self.hub, self.clock = hub, clock
        self.resolver = resolver or Resolver()
        self.tracker = tracker or Tracker()
        self.metrics = metrics or PresenceMetrics()
        self._log_every = log_every_s
        self._pending: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}
        self._who: dict[str, Literal["member", "staff"]] = {}

    def set_candidates(self, candidates: Iterable[Candidate]) -> None:
        candidates = list(candidates)
        self.resolver.set_candidates(candidates)
        self._who = {c.ref: c.who for c in candidates}
        self.metrics.candidates.set(len(candidates))

    def add_candidate(self, candidate: Candidate) -> None:
        self.resolver.add_candidate(candidate)
        self._who[candidate.ref] = candidate.who
        self.metrics.candidates.set(len(self.resolver.candidates))

    def on_raw(self, raw: bytes, rssi: int) -> Outcome:
        try:
            service_data = parse_advertising_data(raw)
        except AdvertError as exc:
            return self._refuse("malformed", str(exc))
        return self.on_service_data(service_data, rssi)

    def on_hci(self, packet: bytes) -> list[Outcome]:
        """An HCI LE Advertising Report event (from a BLE proxy or a capture)."""
        try:
            reports = parse_hci_reports(packet)
        except AdvertError as exc:
            return [self._refuse("malformed", str(exc))]
        return [self.on_raw(ad, rssi) for ad, rssi in reports]

    def on_service_data(self, service_data: Mapping[str, bytes], rssi: int) -> Outcome:
        try:
            frame = read_eid(service_data)
        except AdvertError as exc:
            return self._refuse("malformed", str(exc))
        if frame is None:
            self.metrics.adverts.labels(outcome="ignored").inc()
            return "ignored"
        if not -127 <= rssi <= 20:
            return self._refuse("malformed", f"RSSI {rssi} dBm out of range")
        now = self.clock.now()
        outcome = self.resolver.resolve(frame.eid, now)
        if not isinstance(outcome, Match):
            return self._refuse(
                outcome.reason, f"who={outcome.who} windows_old={outcome.windows_old}"
            )
        candidate = outcome.candidate
        if self.tracker.sighting(candidate.ref, rssi, now) is None:
            self.metrics.adverts.labels(outcome="seen").inc()
            return "seen"
        self.metrics.adverts.labels(outcome="arrived").inc()
        self.metrics.present.set(len(self.tracker.present()))
        log.info("ble_recognised", who=candidate.who, drift_windows=outcome.offset)
        self.hub.report(
            PresenceSignal(
                stay_id=candidate.ref, present=True, via="ble", at=now, who=candidate.who
            )
        )
        return "arrived"

    def tick(self) -> None:
        now = self.clock.now()
        for ref in self.tracker.tick(now):
            who = self._who.get(ref, "member")
            log.info("ble_out_of_range", who=who, timeout_s=self.tracker.policy.timeout_s)
            self.hub.report(PresenceSignal(stay_id=ref, present=False, via="ble", at=now, who=who))
        self.metrics.present.set(len(self.tracker.present()))
        self._flush(force=False)

    def _refuse(self, reason: str, detail: str) -> Outcome:
        self.metrics.adverts.labels(outcome=reason).inc()
        self._pending[reason] += 1
        last = self._last_log.get(reason)
        if last is None or self.clock.monotonic() - last >= self._log_every:
            self._flush_one(reason, detail)
        return reason  # type: ignore[return-value]

    def _flush(self, *, force: bool) -> None:
        for reason in list(self._pending):
            last = self._last_log.get(reason, 0.0)
            if force or self.clock.monotonic() - last >= self._log_every:
                self._flush_one(reason, "")

    def _flush_one(self, reason: str, detail: str) -> None:
        count = self._pending.pop(reason, 0)
        if count == 0:
            return
        self._last_log[reason] = self.clock.monotonic()
        log.warning(
            "ble_adverts_refused",
            reason=reason,
            count=count,
            meaning=_HINTS.get(reason, reason),
            detail=detail or None,
        )
