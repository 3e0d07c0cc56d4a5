"""Record a story played against the real loyalty service, and render it as markdown.

    with served(app) as base, httpx.Client(base_url=base) as client:
        p = Player(app, client, clock)
        p.section("2026")
        with p.step("Li joins", "Enrolment at the desk.", "li"):
            p.join("li", "Li Wei", at("2026-01-05", 9))
    text = p.labels.scrub("\n".join(render_sections(p.sections)))

Every request goes over a real socket to `create_app` on uvicorn; `Player` sets the
service's `FakeClock` before each call, records the call (time, role, body, status,
idempotency key), the rule breakdown the service returned, and each shown member's
balance, tier and progress after the step. Ids are random per run, so `Labels` replaces
them with stable labels (`«li»`, `«stay A»`) to make the output deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from loyalty.auth import create_key
from loyalty.rules.numbers import int_text
from smartroom.clock import FakeClock
from smartroom.services import AppServer

PROPERTY = "sh01"

# Unguessable ids (new_id: a short prefix and 22+ url-safe characters; job transfers: a
# prefix and 40 hex digits) vary per run; the story shows stable labels instead.
ID = re.compile(r"(?<![A-Za-z0-9_-])[a-z]{1,2}_[A-Za-z0-9_-]{20,64}(?![A-Za-z0-9_-])")


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC).replace(
        hour=hour, minute=minute
    )


# --- what a run records ------------------------------------------------------------------


@dataclass
class Call:
    at: datetime
    role: str
    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    key: str | None


@dataclass(frozen=True)
class MemberState:
    label: str
    tier: str
    points: int
    available: int
    held: int
    incoming: int
    progress: str


@dataclass
class Step:
    title: str
    note: str
    calls: list[Call] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    rules: list[tuple[str, int, str]] = field(default_factory=list)
    after: list[MemberState] = field(default_factory=list)


@dataclass
class Section:
    title: str
    steps: list[Step] = field(default_factory=list)


class Labels:
    """Ids → stable labels, so the story reads (and renders) the same on every run."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def name(self, ident: str, label: str) -> None:
        self.names[ident] = f"«{label}»"

    def _sub(self, match: re.Match[str]) -> str:
        ident = match.group(0)
        if ident not in self.names:
            self.names[ident] = f"«{ident.split('_', 1)[0]}{len(self.names) + 1}»"
        return self.names[ident]

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return ID.sub(self._sub, value)
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value


# --- the service, served for real --------------------------------------------------------


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """`app` on uvicorn in a thread on a free loopback port; yields the base URL."""
    with AppServer(app, name="member-year-uvicorn") as server:
        yield server.url


class Player:
    """Sends the story's requests and records them with what they changed."""

    def __init__(self, app: FastAPI, client: httpx.Client, clock: FakeClock) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self.labels = Labels()
        self.keys: dict[str, str] = {}
        self.members: dict[str, str] = {}  # label -> member id
        self.sections: list[Section] = []
        self.step_: Step | None = None
        self._writes = 0
        for role in ("admin", "staff"):
            self.keys[role] = self._new_key(role)

    def _new_key(self, role: str, member_id: str | None = None) -> str:
        with self.app.state.ctx.engine.begin() as conn:
            _id, plaintext = create_key(
                conn,
                role=role,  # type: ignore[arg-type]
                member_id=member_id,
                now=self.clock.now(),
            )
        return plaintext

    # story structure

    def section(self, title: str) -> None:
        self.sections.append(Section(title))

    @contextmanager
    def step(self, title: str, note: str, *show: str) -> Iterator[Step]:
        self.step_ = Step(title=title, note=note)
        yield self.step_
        self.step_.after = [self.state(label) for label in show]
        self.sections[-1].steps.append(self.step_)
        self.step_ = None

    def say(self, text: str) -> None:
        assert self.step_ is not None
        self.step_.results.append(text)

    def explain(self, lines: list[dict[str, Any]]) -> None:
        assert self.step_ is not None
        self.step_.rules = [(x["rule"], int(x["points"]), str(x["detail"])) for x in lines]

    # HTTP

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        role: str = "staff",
        expect: int = 200,
        record: bool = True,
        idempotent: bool = True,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        key = None
        if method != "GET" and idempotent:
            self._writes += 1
            key = f"year-{self._writes:03d}"
            headers["Idempotency-Key"] = key
        response = self.client.request(method, path, json=body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(
                f"{method} {path} answered {response.status_code}, expected {expect}: "
                f"{response.text}"
            )
        if record and self.step_ is not None:
            self.step_.calls.append(
                Call(self.clock.now(), role, method, path, body, response.status_code, key)
            )
        return response.json()

    def state(self, label: str) -> MemberState:
        view = self.call("GET", f"/v1/members/{self.members[label]}", record=False)
        b = view["balance"]
        return MemberState(
            label=label,
            tier=view["tier"],
            points=b["points"],
            available=b["available"],
            held=b["held"],
            incoming=b["incoming"],
            progress=view["progress"]["message"],
        )

    # building blocks

    def join(self, label: str, name: str, when: datetime) -> str:
        self.clock.set(when)
        member = self.call(
            "POST",
            "/v1/members",
            {"name": name, "consents": {"personalisation": True}},
            expect=201,
        )
        self.members[label] = member["id"]
        self.labels.name(member["id"], label)
        # the hotel app acts for the member with a member-scoped key
        self.keys[label] = self._new_key("member", member["id"])
        return str(member["id"])

    def stay(
        self,
        label: str,
        who: str,
        *,
        booked: str,
        arrival: str,
        nights: int,
        rate: str,
        room_type: str,
        channel: str,
        folio: list[tuple[str, str]] | None,
    ) -> dict[str, Any]:
        """Book, check in and (given a folio) check out a stay; returns the last view."""
        self.clock.set(at(booked))
        stay = self.call(
            "POST",
            "/v1/stays",
            {
                "member_id": self.members[who],
                "property_id": PROPERTY,
                "arrival": at(arrival, 14).isoformat(),
                "departure": (at(arrival, 12) + timedelta(days=nights)).isoformat(),
                "room_type": room_type,
                "channel": channel,
                "nightly_rate": rate,
            },
            expect=201,
        )
        self.labels.name(stay["id"], label)
        self.clock.set(at(arrival, 15))
        checked_in = self.call("POST", f"/v1/stays/{stay['id']}/check-in", {"room_id": "1208"})
        self.say(
            f"check-in holds {int_text(checked_in['points_pending'])} points pending "
            "(estimated from the booked rate; shown as `incoming`)"
        )
        if folio is None:
            return dict(checked_in)
        self.clock.set(at(arrival, 11) + timedelta(days=nights))
        out = self.call(
            "POST",
            f"/v1/stays/{stay['id']}/check-out",
            {"folio": [{"category": c, "amount": a} for c, a in folio]},
        )
        self.say(f"check-out posts {int_text(out['points_posted'])} points from the folio")
        self.explain(out["breakdown"])
        return dict(out)

    def earn(self, who: str, activity: str, amount: str, when: datetime) -> dict[str, Any]:
        self.clock.set(when)
        result = self.call(
            "POST",
            "/v1/earn",
            {"member_id": self.members[who], "activity": activity, "amount": amount},
        )
        self.say(f"{activity}: {int_text(result['points'])} points")
        self.explain(result["breakdown"])
        return dict(result)

    def tier_job(self, year_ending: str) -> dict[str, Any]:
        next_day = (date.fromisoformat(year_ending) + timedelta(days=1)).isoformat()
        self.clock.set(at(next_day, 2))
        job = self.call(
            "POST", "/v1/jobs/tier-evaluation", {"year_ending": year_ending}, role="admin"
        )
        result = job["result"]
        self.say(
            f"job result: {result['upgrade']} upgraded, {result['downgrade']} downgraded, "
            f"{result['unchanged']} unchanged, {result['retention_bonuses']} retention bonus(es)"
        )
        for label in self.members:
            tier = self.call("GET", f"/v1/members/{self.members[label]}/tier", record=False)
            self.say(
                f"{label}: {tier['tier']}, {tier['years_below']} year(s) below; "
                f"this year: {tier['message']}"
            )
        return dict(result)


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_sections(sections: list[Section]) -> list[str]:
    """Markdown lines: per step its calls, results, rule breakdown and member states."""
    out: list[str] = []
    for section in sections:
        out.append(f"## {section.title}\n")
        for step in section.steps:
            day = step.calls[0].at.date().isoformat() if step.calls else ""
            out.append(f"### {day} · {step.title}\n")
            out.append(f"{step.note}\n")
            for c in step.calls:
                key = f", `Idempotency-Key: {c.key}`" if c.key else ""
                line = f"- {c.at:%Y-%m-%d %H:%M} `{c.method} {c.path}` ({c.role}{key}) → {c.status}"
                if c.body is not None:
                    line += f"\n  `{_json(c.body)}`"
                out.append(line)
            out.append("")
            out.extend(f"- {result}" for result in step.results)
            if step.results:
                out.append("")
            if step.rules:
                out.append("| rule | points | how |")
                out.append("|---|---:|---|")
                for rule, points, detail in step.rules:
                    out.append(f"| {cell(rule)} | {int_text(points)} | {cell(detail)} |")
                out.append("")
            if step.after:
                out.append("| after | tier | points | available | held | incoming | progress |")
                out.append("|---|---|---:|---:|---:|---:|---|")
                for s in step.after:
                    out.append(
                        f"| {s.label} | {s.tier} | {int_text(s.points)} | "
                        f"{int_text(s.available)} | {int_text(s.held)} | "
                        f"{int_text(s.incoming)} | {cell(s.progress)} |"
                    )
                out.append("")
    return out
