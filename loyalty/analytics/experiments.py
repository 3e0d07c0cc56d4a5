"""Benefit experiments: definition, deterministic sticky assignment, exposure logging.

The loyalty team defines an experiment (a benefit change for a segment, arms with weights,
a start and an end, and the plan: primary outcome, minimum effect, alpha, power). Which arm
a member gets is a pure function of (experiment id, member id) — a SHA-256 hash mapped onto
the arms' weights — so it never changes and needs no stored state. The benefits code
(issue 18) calls, in the transaction that applies the benefit:

    arm = record_exposure(conn, experiment_id, member_id, now=clock.now(), cost_minor=3800)
    if arm is None: ...          # not eligible (segment, dates): apply the usual benefit
    elif arm == "afternoon_tea": ...

`assign(...)` answers the same question without logging (to show or price the benefit).
Only exposed members are analysed, each from their first exposure (loyalty.analytics.trial).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator
from sqlalchemy import Connection, select, update

from loyalty.analytics.stats import sample_size_mean, sample_size_rate
from loyalty.db.economics_tables import experiment_exposures, experiments
from loyalty.db.tables import members
from loyalty.edge.fields import Moment
from sync.wire import new_id

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Outcome = Literal["retention", "repeat_stay", "spend", "benefit_cost"]
RATES: tuple[Outcome, ...] = ("retention", "repeat_stay")
OUTCOMES: tuple[Outcome, ...] = ("retention", "repeat_stay", "spend", "benefit_cost")


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(Spec):
    name: Name
    weight: Annotated[int, Strict(), Field(ge=1, le=1000)]
    benefit: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Segment(Spec):
    """Who may enter: tiers (any of), and optionally one member attribute."""

    tiers: list[Name] | None = Field(default=None, max_length=16)
    age_band: Annotated[str, StringConstraints(max_length=8)] | None = None
    gender: Annotated[str, StringConstraints(max_length=8)] | None = None


class Plan(Spec):
    """What decides the experiment. For a rate, `baseline` is the control's expected rate
    and `min_effect` an absolute change (0.03 = 3 points); for a mean (minor units),
    `baseline_sd` is how much members vary."""

    primary: Outcome = "retention"
    min_effect: float = Field(gt=-1e9, lt=1e9)
    baseline: float | None = Field(default=None, gt=0, lt=1)
    baseline_sd: float | None = Field(default=None, gt=0)
    alpha: float = Field(default=0.05, gt=0, le=0.2)
    power: float = Field(default=0.8, ge=0.5, lt=1)
    window_days: Annotated[int, Strict(), Field(ge=7, le=730)] = 90

    @model_validator(mode="after")
    def _baseline_given(self) -> Plan:
        if self.min_effect == 0:
            raise ValueError("min_effect must not be 0")
        if self.primary in RATES and self.baseline is None:
            raise ValueError(f"a rate outcome ({self.primary}) needs baseline")
        if self.primary not in RATES and self.baseline_sd is None:
            raise ValueError(f"a mean outcome ({self.primary}) needs baseline_sd")
        return self

    def sample_size(self) -> int:
        """Members per arm the plan needs before a verdict."""
        if self.primary in RATES:
            assert self.baseline is not None
            return sample_size_rate(
                self.baseline, self.min_effect, alpha=self.alpha, power=self.power
            )
        assert self.baseline_sd is not None
        return sample_size_mean(
            self.baseline_sd, self.min_effect, alpha=self.alpha, power=self.power
        )


class ExperimentSpec(Spec):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    benefit: Name
    segment: Segment = Segment()
    arms: list[Arm] = Field(min_length=2, max_length=8)
    starts_at: Moment
    ends_at: Moment
    plan: Plan

    @model_validator(mode="after")
    def _valid(self) -> ExperimentSpec:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError("arm names must be unique")
        return self


class ExperimentError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def bucket(experiment_id: str, member_id: str) -> float:
    """A number in [0, 1), fixed for the pair and independent across experiments."""
    digest = hashlib.sha256(f"{experiment_id}\x00{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(experiment_id: str, arms: list[Arm], member_id: str) -> str:
    """The arm of `member_id`: its bucket placed on the arms' cumulative weights."""
    point = bucket(experiment_id, member_id) * sum(a.weight for a in arms)
    edge = 0
    for arm in arms:
        edge += arm.weight
        if point < edge:
            return arm.name
    return arms[-1].name


def define(conn: Connection, spec: ExperimentSpec, *, now: datetime) -> str:
    if conn.execute(select(experiments.c.id).where(experiments.c.name == spec.name)).first():
        raise ExperimentError("experiment_exists", f"an experiment named {spec.name!r} exists")
    try:
        per_arm = spec.plan.sample_size()
    except ValueError as exc:
        raise ExperimentError("bad_plan", str(exc)) from None
    experiment_id = new_id("x_")
    conn.execute(
        experiments.insert().values(
            id=experiment_id,
            name=spec.name,
            benefit=spec.benefit,
            segment_json=spec.segment.model_dump_json(),
            arms_json=json.dumps([a.model_dump() for a in spec.arms]),
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            plan_json=json.dumps({**spec.plan.model_dump(), "sample_size_per_arm": per_arm}),
            created_at=now,
        )
    )
    return experiment_id


def load(conn: Connection, experiment_id: str) -> tuple[ExperimentSpec, dict[str, Any]]:
    row = conn.execute(select(experiments).where(experiments.c.id == experiment_id)).first()
    if row is None:
        raise ExperimentError("experiment_not_found", f"no experiment {experiment_id!r}")
    plan = json.loads(row.plan_json)
    per_arm = plan.pop("sample_size_per_arm")
    spec = ExperimentSpec(
        name=row.name,
        benefit=row.benefit,
        segment=Segment.model_validate_json(row.segment_json),
        arms=[Arm(**a) for a in json.loads(row.arms_json)],
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        plan=Plan(**plan),
    )
    return spec, {"id": row.id, "sample_size_per_arm": per_arm, "created_at": row.created_at}


def _eligible(spec: ExperimentSpec, member: Any, now: datetime) -> bool:
    seg = spec.segment
    return (
        spec.starts_at <= now < spec.ends_at
        and (seg.tiers is None or member.tier in seg.tiers)
        and (seg.age_band is None or member.age_band == seg.age_band)
        and (seg.gender is None or member.gender == seg.gender)
    )


def _member(conn: Connection, member_id: str) -> Any:
    row = conn.execute(select(members).where(members.c.id == member_id)).first()
    if row is None or row.erased_at is not None:
        raise ExperimentError("member_not_found", f"no member {member_id!r}")
    return row


def assign(conn: Connection, experiment_id: str, member_id: str, *, now: datetime) -> str | None:
    """The member's arm if they are eligible now, else None. Logs nothing."""
    spec, _ = load(conn, experiment_id)
    if not _eligible(spec, _member(conn, member_id), now):
        return None
    return assign_arm(experiment_id, spec.arms, member_id)


def record_exposure(
    conn: Connection, experiment_id: str, member_id: str, *, now: datetime, cost_minor: int = 0
) -> str | None:
    """Log that the member's arm's benefit was applied (and what it cost, minor units);
    returns the arm, or None if the member is not eligible now (nothing is logged).
    Call it in the transaction that applies the benefit."""
    if cost_minor < 0:
        raise ExperimentError("bad_cost", "cost_minor must be zero or more")
    arm = assign(conn, experiment_id, member_id, now=now)
    if arm is None:
        return None
    e = experiment_exposures.c
    key = (e.experiment_id == experiment_id) & (e.member_id == member_id)
    row = conn.execute(select(experiment_exposures).where(key).with_for_update()).first()
    if row is None:
        conn.execute(
            experiment_exposures.insert().values(
                experiment_id=experiment_id,
                member_id=member_id,
                arm=arm,
                first_at=now,
                last_at=now,
                exposures=1,
                cost_minor=cost_minor,
            )
        )
    else:
        conn.execute(
            update(experiment_exposures)
            .where(key)
            .values(
                last_at=max(now, row.last_at),
                exposures=row.exposures + 1,
                cost_minor=row.cost_minor + cost_minor,
            )
        )
    return arm


def exposures(conn: Connection, experiment_id: str) -> list[Any]:
    e = experiment_exposures.c
    return list(
        conn.execute(
            select(experiment_exposures, members.c.pseudonym)
            .join(members, members.c.id == e.member_id)
            .where(e.experiment_id == experiment_id)
            .order_by(e.member_id)
        )
    )
