"""Pydantic models at the API's edges. Requests forbid unknown fields and bound every
string, list and number; their scalars use the strict types of `loyalty.edge.fields`
(points are JSON integers, money one decimal-string format, ASCII digits only)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from loyalty.edge.fields import Day, Moment, Money, Points, Share, Switch
from sync.wire import ModelManifest, OpaqueId, PropertyId, RoomId, RoomKey

Tier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
MoneyIn = Money
PointsIn = Points
Text = Annotated[str, StringConstraints(max_length=256)]
Nights = Annotated[int, Strict(), Field(ge=1, le=365)]


class Request(BaseModel):
    """Base of every request body. The edge (loyalty.edge) has already refused bodies that
    are not strict JSON or break the text policy; this refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", str_max_length=1024)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Response):
    code: str
    message: str
    field: str | None = None


class ErrorBody(Response):
    error: ErrorDetail


# --- members -------------------------------------------------------------------------------


class Consents(Request):
    personalisation: Switch = False
    marketing: Switch = False


class MemberCreate(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Li Wei",
                    "email": "li.wei@example.com",
                    "consents": {"personalisation": True, "marketing": False},
                    "age_band": "30-50",
                }
            ]
        },
    )

    name: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}$")]
        | None
    ) = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 -]{5,31}$")] | None = None
    consents: Consents = Consents()
    age_band: Literal["<30", "30-50", ">50"] | None = None
    gender: Literal["female", "male"] | None = None
    birthday: date | None = Field(
        default=None, description="greets the member and grants birthday benefits"
    )
    segments: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]] = Field(
        default_factory=list,
        max_length=16,
        description="programme segments (e.g. corporate) that grant segment benefits",
    )


class Balance(Response):
    points: int = Field(description="posted balance")
    available: int = Field(description="posted minus points held by pending redemptions")
    held: int = Field(description="points reserved by pending holds")
    incoming: int = Field(description="points pending for stays in progress")


class TierProgress(Response):
    tier: str
    next_tier: str | None
    message: str
    year_start: date
    spend: Decimal
    nights: int
    stays: int
    years_below: int = 0


class MemberView(Response):
    id: str
    tier: str
    balance: Balance
    progress: TierProgress | None
    consents: Consents
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    age_band: str | None = None
    gender: str | None = None
    birthday: date | None = None
    segments: list[str] = Field(default_factory=list)
    created_at: datetime
    erased: bool = False


class ConsentUpdate(Consents):
    pass


# --- stays ---------------------------------------------------------------------------------


class StayCreate(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "m_3q2x9mZk0aQbT1yV8rLw",
                    "property_id": "sh01",
                    "arrival": "2026-03-02T14:00:00Z",
                    "departure": "2026-03-04T12:00:00Z",
                    "room_type": "premium",
                    "channel": "direct",
                    "nightly_rate": "1200.00",
                }
            ]
        },
    )

    member_id: OpaqueId
    property_id: PropertyId
    arrival: Moment
    departure: Moment
    room_type: Name = "standard"
    channel: Name = "direct"
    nightly_rate: MoneyIn
    room_id: RoomId | None = Field(default=None, description="pre-assigned room, optional")


class CheckIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"room_id": "1208"}]})
    room_id: RoomId


class FolioLine(Request):
    category: Name = Field(description="room, fnb, spa, minibar, ... (programme categories)")
    amount: MoneyIn
    description: Text | None = None
    reference: OpaqueId | None = Field(
        default=None,
        description="the posting's id (for an in-room spend: the reference or event id the "
        "room posted it with); a room spend with the same id is this line, earning once",
    )
    void: bool = Field(
        default=False,
        description="this line cancels the spend `reference` names (from the room or the "
        "folio): its points are taken back",
    )

    @model_validator(mode="after")
    def _void_names(self) -> FolioLine:
        if self.void and self.reference is None:
            raise ValueError("a void line needs the reference of the spend it cancels")
        return self


class CheckOut(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "folio": [
                        {"category": "room", "amount": "2400.00"},
                        {"category": "fnb", "amount": "380.00"},
                    ]
                }
            ]
        },
    )
    folio: list[FolioLine] = Field(min_length=1, max_length=200)


class RuleLine(Response):
    rule: str
    points: int
    detail: str


class StayView(Response):
    id: str
    member_id: str
    property_id: str
    room_id: str | None
    room_type: str
    channel: str
    nightly_rate: Decimal
    arrival: datetime
    departure: datetime
    nights: int
    status: str
    points_pending: int = 0
    points_posted: int = 0
    breakdown: list[RuleLine] = Field(default_factory=list)
    room_key: RoomKey | None = None


# --- earn ----------------------------------------------------------------------------------


class EarnRequest(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "m_3q2x9mZk0aQbT1yV8rLw",
                    "activity": "fnb",
                    "amount": "380.00",
                    "property_id": "sh01",
                    "dry_run": False,
                }
            ]
        },
    )

    member_id: OpaqueId
    activity: Name = Field(description="a programme activity: fnb, spa, survey, profile, ...")
    amount: MoneyIn = Decimal(0)
    property_id: PropertyId | None = None
    reference: Annotated[str, StringConstraints(max_length=64)] | None = None
    dry_run: Switch = False


class EarnResult(Response):
    member_id: str
    points: int
    breakdown: list[RuleLine]
    transfer_id: str | None
    dry_run: bool
    balance: Balance | None = None
    flagged: bool = False
    capped_by: RuleLine | None = Field(
        default=None,
        description="the limit that cut this earn (its breakdown line), e.g. the yearly "
        "`limit:spa` once 30,000 spa points were earned; null when nothing capped it",
    )
    upgraded_to: str | None = Field(
        default=None,
        description="the tier this earn's qualifying spend lifted the member to, in the same "
        "transaction; this earn is priced at the tier held before it, the next at the new one",
    )


class ReverseRequest(Request):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    points: PointsIn | None = Field(default=None, description="partial reversal; default all")


class TransferView(Response):
    id: str
    ledger: str
    code: str
    amount: int
    direction: Literal["credit", "debit"]
    flags: str
    state: str
    reference: str | None
    created_at: datetime
    hash: str


class HistoryPage(Response):
    member_id: str
    entries: list[TransferView]


# --- redemption ----------------------------------------------------------------------------


class QuoteRequest(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "member_id": "m_3q2x9mZk0aQbT1yV8rLw",
                    "property_id": "sh01",
                    "check_in": "2026-05-01",
                    "nights": 1,
                    "cash_rate": "1500.00",
                    "occupancy_forecast": "0.85",
                }
            ]
        },
    )
    member_id: OpaqueId
    property_id: PropertyId
    check_in: Day
    nights: Nights = 1
    cash_rate: MoneyIn
    occupancy_forecast: Share = Decimal("0.5")


class QuoteOption(Response):
    points: int
    cash: Decimal


class Quote(Response):
    member_id: str
    points: int
    cash_equivalent: Decimal
    options: list[QuoteOption]
    breakdown: list[RuleLine]
    available: int


class RedeemRequest(QuoteRequest):
    option_points: PointsIn | None = Field(
        default=None, description="points of the chosen points+cash option (default all points)"
    )


class RedemptionView(Response):
    id: str
    member_id: str
    property_id: str
    check_in: str
    nights: int
    points: int
    cash: Decimal
    status: Literal["held", "confirmed", "cancelled", "expired", "refunded"]
    hold_until: datetime
    transfer_id: str


# --- member-to-member and partners ---------------------------------------------------------


class MemberTransferRequest(Request):
    from_member_id: OpaqueId
    to_member_id: OpaqueId
    points: PointsIn


class MemberTransferResult(Response):
    transfer_id: str
    points: int
    from_member_id: str
    to_member_id: str
    sent_this_year: int
    annual_cap: int


class ConversionRequest(Request):
    member_id: OpaqueId
    partner: Name
    points: PointsIn


class ConversionResult(Response):
    transfer_id: str
    member_id: str
    partner: str
    points: int
    units: int
    unit_name: str


# --- jobs, admin, agent --------------------------------------------------------------------


class ExpiryJob(Request):
    as_of: Day = Field(description="not after today")
    dry_run: Switch = Field(default=False, description="list what would change; change nothing")


class TierJob(Request):
    year_ending: Day = Field(description="the last day of the qualification year to evaluate")
    dry_run: Switch = Field(default=False, description="list what would change; change nothing")


class HoldsJob(Request):
    as_of: Moment | None = None


class JobResult(Response):
    job: str
    period: str
    already_ran: bool
    dry_run: bool = False
    result: dict[str, Any] = Field(
        description="totals; a dry run adds `changes`, what would change member by member"
    )


class VerifyResult(Response):
    ok: bool
    transfers_checked: int
    chains_checked: int
    digest: str
    first_bad_transfer: str | None
    first_bad_chain: str | None
    problems: list[str]


class LedgerTotals(Response):
    ledger: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balanced: bool


class Flag(Response):
    id: str
    member_id: str
    kind: str
    detail: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class FlagResolve(Request):
    resolution: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class PublicKey(Response):
    key_id: str
    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key_b64: str


class Health(Response):
    status: Literal["ok"]
    database: str
    programme: str


class ErasureResult(Response):
    member_id: str
    erased_at: datetime
    points_forfeited: int


class MemberExport(Response):
    member: MemberView
    stays: list[StayView]
    preferences: dict[str, Any] | None
    ledger: list[TransferView]
    redemptions: list[RedemptionView]


# --- comfort models ------------------------------------------------------------------------

MODEL_MAX_BYTES = 1_048_576
MODEL_B64_MAX = 4 * -(-MODEL_MAX_BYTES // 3)  # base64 length of the largest model


class ModelPublish(Request):
    """A comfort model signed offline by the ML team, and its bytes (standard base64)."""

    manifest: ModelManifest = Field(
        description="as signed by the ML team; `url` is ignored (may be empty)"
    )
    model_b64: Annotated[str, StringConstraints(min_length=1, max_length=MODEL_B64_MAX)] = Field(
        description="the .tflite file in canonical standard base64 (A-Z a-z 0-9 + /, = padded)"
    )


class PublishedModel(Response):
    """One stored version, withdrawn or not (what admins see)."""

    manifest: ModelManifest
    published_at: datetime
    withdrawn_at: datetime | None
    withdrawn: bool
