"""Request and response bodies of the benefit endpoints (`loyalty/routers/benefits.py`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loyalty.schemas import Request, Response

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class BenefitView(Response):
    code: str
    name_en: str
    name_zh: str
    fulfilment: Literal["room", "staff", "partner"]
    tiers: list[str]
    segments: list[str]
    points_price: int | None
    birthday_only: bool
    per_stay: int
    per_night: bool
    per_year: int | None
    capacity_per_day: int | None
    unit_cost: Decimal
    subject_to_availability: bool
    room_action: dict[str, str] | None


class Catalogue(Response):
    programme_version: str
    benefits: list[BenefitView]


class EntitlementView(Response):
    id: str
    stay_id: str
    member_id: str
    property_id: str
    code: str
    name_en: str
    name_zh: str
    quantity: int
    delivered: int = Field(description="units recorded as delivered")
    not_delivered: int = Field(description="units recorded as not delivered (with a reason)")
    source: str = Field(description='"tier:gold", "segment:corporate", "birthday" or "purchase"')
    fulfilment: Literal["room", "staff", "partner"]
    unit_cost: Decimal
    points_paid: int
    subject_to_availability: bool
    room_action: dict[str, str] | None
    status: Literal["promised", "withdrawn"]
    reason: str | None
    service_day: date | None
    updated_at: datetime


class PurchaseRequest(Request):
    code: Code
    quantity: int = Field(default=1, ge=1, le=100, strict=True)
    service_day: date = Field(description="the day the experience is delivered (capacity)")


class FulfilmentRequest(Request):
    quantity: int = Field(default=1, ge=1, le=100, strict=True)
    outcome: Literal["delivered", "not_delivered"]
    reason: Reason | None = Field(
        default=None, description="required when not delivered: why (sold out, declined, ...)"
    )


class FulfilmentView(Response):
    id: str
    entitlement_id: str
    code: str
    quantity: int
    outcome: Literal["delivered", "not_delivered"]
    reason: str | None
    by_role: str
    cost: Decimal
    at: datetime


class MemberBenefitRecord(Response):
    """What a member was promised and what was delivered, stay by stay: the record that
    settles a "not honoured" complaint."""

    member_id: str
    entitlements: list[EntitlementView]
    fulfilments: list[FulfilmentView]


class TierCost(Response):
    tier: str
    members: int
    deliveries: int
    benefit_cost: Decimal
    revenue: Decimal
    cost_share: Decimal | None = Field(description="benefit cost / revenue; null without revenue")


class CostReport(Response):
    start: date
    end: date
    by_tier: list[TierCost]
    by_benefit: dict[str, Decimal]
