"""Lifecycle offers: which messages a member is due, from their history and the date alone.

    due = due_offers(programme, snapshot, today)      # [DueOffer(kind, occasion, ...)]
    quiet(programme.offers, now)                       # hold messages during quiet hours

Each offer is once per `occasion` (the service stores (member, kind, occasion) uniquely), so
running the job twice, or every hour, sends nothing twice. Marketing offers (welcome,
birthday, win-back) need the member's marketing consent (PIPL); service notices (points
about to expire, a tier about to be lost, a tier reached) tell the member about their own
account and go out without it. The programme file's `[offers]` table sets the windows:

    [offers]
    timezone = "Asia/Shanghai"                    # quiet hours are local time
    quiet_hours = { start = "21:00", end = "09:00" }
    birthday_days_before = 7
    win_back_after_days = 90                      # "no activity for 3 months"
    expiry_notice_days = 30
    tier_loss_notice_days = 60                    # before the qualification year ends
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

OfferKind = Literal[
    "first_stay", "birthday", "win_back", "points_expiring", "tier_at_risk", "tier_up"
]
MARKETING: frozenset[str] = frozenset({"first_stay", "birthday", "win_back"})
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: HHMM
    end: HHMM


class Offers(BaseModel):
    """The `[offers]` table of a programme file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Asia/Shanghai"
    quiet_hours: QuietHours | None = QuietHours(start="21:00", end="09:00")
    birthday_days_before: int = Field(default=7, ge=0, le=60)
    win_back_after_days: int = Field(default=90, ge=14, le=730)
    expiry_notice_days: int = Field(default=30, ge=1, le=365)
    tier_loss_notice_days: int = Field(default=60, ge=1, le=365)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return value


@dataclass(frozen=True)
class Snapshot:
    """What the rules need to know of one member (the service reads it from the ledger,
    the stays and the member row)."""

    member_id: str
    tier: str
    birthday: date | None = None
    last_activity: date | None = None
    stays_completed: int = 0
    first_stay_completed_on: date | None = None
    expiring: tuple[tuple[date, int], ...] = ()  # (expires_on, points), soonest first
    at_risk_until: date | None = None  # end of the qualification year the tier may be lost at
    keep_tier_message: str | None = None  # what it takes to keep it ("stay 3 more nights")
    previous_tier: str | None = None  # set when the tier just went up
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DueOffer:
    kind: str
    occasion: str
    marketing: bool
    data: dict[str, Any]


def _next_birthday(birthday: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        month, day = birthday.month, birthday.day
        if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 or year % 400 == 0)):
            day = 28
        candidate = date(year, month, day)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next year always has the day")


def due_offers(offers: Offers, member: Snapshot, today: date) -> list[DueOffer]:
    """Every offer the member is due today (the service drops those already sent)."""
    due: list[DueOffer] = []
    first = member.first_stay_completed_on
    if member.stays_completed == 1 and first is not None and (today - first).days <= 30:
        due.append(DueOffer("first_stay", "first_stay", True, {"tier": member.tier}))
    if member.birthday is not None:
        upcoming = _next_birthday(member.birthday, today)
        if (upcoming - today).days <= offers.birthday_days_before:
            due.append(
                DueOffer("birthday", str(upcoming.year), True, {"birthday": upcoming.isoformat()})
            )
    if member.last_activity is not None:
        idle = (today - member.last_activity).days
        if idle >= offers.win_back_after_days:
            due.append(
                DueOffer(
                    "win_back",
                    member.last_activity.isoformat(),  # once per lapse
                    True,
                    {"last_activity": member.last_activity.isoformat(), "days_inactive": idle},
                )
            )
    horizon = today + timedelta(days=offers.expiry_notice_days)
    soon = [(day, points) for day, points in member.expiring if today <= day <= horizon]
    if soon:
        first = min(day for day, _ in soon)
        due.append(
            DueOffer(
                "points_expiring",
                first.isoformat(),
                False,
                {"expires_on": first.isoformat(), "points": sum(p for _, p in soon)},
            )
        )
    if member.at_risk_until is not None:
        left = (member.at_risk_until - today).days
        if 0 <= left <= offers.tier_loss_notice_days:
            due.append(
                DueOffer(
                    "tier_at_risk",
                    f"{member.tier}:{member.at_risk_until.isoformat()}",
                    False,
                    {
                        "tier": member.tier,
                        "decided_on": member.at_risk_until.isoformat(),
                        "to_keep_it": member.keep_tier_message,
                    },
                )
            )
    if member.previous_tier is not None and member.previous_tier != member.tier:
        due.append(
            DueOffer(
                "tier_up",
                f"{member.tier}:{today.year}",
                False,
                {"from_tier": member.previous_tier, "to_tier": member.tier, **member.extra},
            )
        )
    return due


def quiet(offers: Offers, now: datetime) -> bool:
    """True while messages should wait (quiet hours, local time; may wrap midnight)."""
    if offers.quiet_hours is None:
        return False
    local = now.astimezone(ZoneInfo(offers.timezone)).time()
    start = time.fromisoformat(offers.quiet_hours.start)
    end = time.fromisoformat(offers.quiet_hours.end)
    if start <= end:
        return start <= local < end
    return local >= start or local < end
