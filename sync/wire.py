"""The wire contract: every model that crosses a process boundary.

Both the room agent and the central service import these models; nothing else defines a
payload that leaves a process. Every top-level document carries `schema_version` so a
reader can refuse (or upgrade) what it does not understand. JSON Schemas are exported to
`docs/schemas/` by `smartroom schemas` and CI checks they are current.

Conventions: times are aware UTC datetimes; points are ints; money is a Decimal string
(`"123.45"`) with an ISO currency; identifiers are opaque random strings (never counters).
"""

from __future__ import annotations

import json
import secrets
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

SCHEMA_VERSION = 1

T = TypeVar("T")

# Opaque identifiers: at least 16 url-safe characters, never sequential.
OpaqueId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
RoomId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
PropertyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
HlcText = Annotated[str, StringConstraints(pattern=r"^\d{13}:\d{1,6}$")]


def new_id(prefix: str = "") -> str:
    """A new unguessable identifier (128 bits of randomness)."""
    return prefix + secrets.token_urlsafe(16)


class Wire(BaseModel):
    """Base for wire models: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=4096)


class Document(Wire):
    schema_version: Literal[1] = 1


# --- preferences -------------------------------------------------------------------------


class Stamped(Wire, Generic[T]):
    """A value with the time it was set and who set it: per-field last-writer-wins."""

    value: T
    updated_at: AwareDatetime
    source: Literal["member", "staff", "agent", "learned", "import"] = "member"
    # Hybrid logical clock stamp (sync.hlc): orders concurrent writes from the room and
    # central; absent on documents written before stamps, which then order by `updated_at`.
    hlc: HlcText | None = None


class ClimatePrefs(Wire):
    setpoint_c: Stamped[Annotated[float, Field(ge=16.0, le=30.0)]] | None = None
    fan: Stamped[Literal["auto", "low", "medium", "high"]] | None = None


class LightingPrefs(Wire):
    level_pct: Stamped[Annotated[int, Field(ge=0, le=100)]] | None = None
    colour_temp_k: Stamped[Annotated[int, Field(ge=2000, le=6500)]] | None = None


class AudioPrefs(Wire):
    volume_pct: Stamped[Annotated[int, Field(ge=0, le=100)]] | None = None
    source: Stamped[Annotated[str, StringConstraints(max_length=64)]] | None = None
    welcome_playlist: Stamped[Annotated[str, StringConstraints(max_length=128)]] | None = None


class RoutinePrefs(Wire):
    wake_time: (
        Stamped[Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]] | None
    ) = None
    sleep_time: (
        Stamped[Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]] | None
    ) = None
    curtains_open_on_wake: Stamped[bool] | None = None


VoteWeight = Annotated[float, Field(ge=0.0, le=100.0)]


class ComfortOffset(Wire):
    """The per-member thermal offset learned from manual changes (°C added to the model's
    population suggestion), with how much evidence backs it."""

    offset_c: Annotated[float, Field(ge=-6.0, le=6.0)] = 0.0
    observations: Annotated[int, Field(ge=0)] = 0
    updated_at: AwareDatetime | None = None
    # The member's comfort votes (cooler, no change, warmer), each older one decayed
    # (agent.comfort.learner): a per-member class bias on the model's probabilities.
    votes: tuple[VoteWeight, VoteWeight, VoteWeight] = (0.0, 0.0, 0.0)
    votes_at: AwareDatetime | None = None
    # The room's hybrid logical clock stamp when it learnt this (sync.hlc): orders the
    # room's versions even when its wall clock jumped back; absent, `updated_at` orders.
    hlc: HlcText | None = None


class MemberPreferences(Document):
    """What a member likes; the agent applies it, the app edits it, sync carries it."""

    member_id: OpaqueId
    climate: ClimatePrefs = ClimatePrefs()
    lighting: LightingPrefs = LightingPrefs()
    audio: AudioPrefs = AudioPrefs()
    routine: RoutinePrefs = RoutinePrefs()
    comfort_offset: ComfortOffset = ComfortOffset()
    # Consent-gated attributes (PIPL): present only when the member has agreed.
    age_band: Literal["<30", "30-50", ">50"] | None = None
    gender: Literal["female", "male"] | None = None


# --- stays and presence ------------------------------------------------------------------


class RoomBenefit(Wire):
    """A benefit the room delivers by itself for a stay (issue 18): a late check-out (the
    room stays the guest's until `until`, local time on the departure day), a welcome
    amenity and greeting, or a member-exclusive scene. Staff-fulfilled benefits do not
    travel to the room."""

    entitlement_id: OpaqueId
    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    action: Literal["late_checkout", "welcome_amenity", "exclusive_scene"]
    until: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = (
        None
    )
    scene: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None
    amenity: Annotated[str, StringConstraints(max_length=80)] | None = None


class StayAssignment(Document):
    """A stay assigned to a room, as the room's agent receives it. `ble_secret_b64` is the
    per-stay secret the member's phone uses for its rotating identifier; it is sent only to
    the agent of the assigned room and never logged."""

    stay_id: OpaqueId
    member_id: OpaqueId
    property_id: PropertyId
    room_id: RoomId
    tier: Literal["silver", "gold", "platinum", "diamond"]
    arrival: AwareDatetime
    departure: AwareDatetime
    status: Literal["booked", "checked_in", "checked_out", "cancelled", "no_show"]
    ble_secret_b64: Annotated[str, StringConstraints(min_length=16, max_length=64)] | None = None
    display_name: Annotated[str, StringConstraints(max_length=64)] | None = None
    birthday: (
        Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
        | None
    ) = Field(default=None, description='"MM-DD" only: the room greets the member on the day')
    benefits: list[RoomBenefit] = Field(
        default_factory=list,
        max_length=16,
        description="what the room delivers by itself for this stay (empty: nothing)",
    )


class RoomKey(Document):
    """The signed room key the hotel app presents (Ed25519 over the canonical JSON of the
    other fields; verified offline by the agent with the service's public key)."""

    key_id: OpaqueId
    stay_id: OpaqueId
    property_id: PropertyId
    room_id: RoomId
    not_before: AwareDatetime
    not_after: AwareDatetime
    signature_b64: Annotated[str, StringConstraints(min_length=80, max_length=100)]
    # Signed since issue 15 so a room can take in a stay it has not heard of (central
    # unreachable); absent (not null) in older keys, whose signatures stay valid.
    member_id: OpaqueId | None = None
    tier: Literal["silver", "gold", "platinum", "diamond"] | None = None


def room_key_payload(fields: RoomKey | dict[str, Any]) -> bytes:
    """The bytes a room key's signature covers: the canonical JSON (sorted keys, no spaces,
    UTF-8) of every field except `signature_b64`; optional fields that are absent (None) are
    left out, so keys signed before they existed still verify."""
    data = (
        fields.model_dump(mode="json", exclude={"signature_b64"}, exclude_none=True)
        if isinstance(fields, RoomKey)
        else {k: v for k, v in fields.items() if k != "signature_b64" and v is not None}
    )
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


B64Secret = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{22,88}={0,2}$")]
B64Value = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/=_-]{4,128}$")]


class MemberCredential(Document):
    """What the member's app gets after check-in (member API, the member's own stays only):
    the signed room key it presents at the door and the stay secret its BLE identifier and
    its challenge answers are made with. Shown to that member only; never logged."""

    room_key: RoomKey
    stay_secret_b64: B64Secret
    eid_period_s: int


class RevokedKey(Document):
    """A room key the room must refuse although its signature is good (stay cancelled,
    checked out or moved) until `not_after` (after that it is refused as expired anyway)."""

    stay_id: OpaqueId
    not_after: AwareDatetime
    reason: Literal["cancelled", "checked_out", "no_show", "moved"]


class RoomCredentials(Document):
    """What a room's agent needs to recognise members offline: the service's room-signing
    public key (pinned), this room's secret (stay secrets are derived from it) and the
    revocations for this room. Sent only to that room's agent."""

    signing_key_id: OpaqueId
    signing_public_key_b64: B64Secret
    room_secret_b64: B64Secret
    revoked: list[RevokedKey] = Field(default_factory=list, max_length=10_000)


class KeyPresentation(Document):
    """The app at the room: its room key and a proof (HMAC-SHA256 with the stay secret)
    over the nonce the room's challenge endpoint gave it."""

    room_key: RoomKey
    nonce_b64: B64Value
    proof_b64: B64Value


# --- room status ----------------------------------------------------------------------------


class Availability(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


class DeviceStatus(Wire):
    device: Annotated[str, StringConstraints(max_length=64)]
    capability: Literal["climate", "light", "media", "cover", "sensor"]
    availability: Availability
    reason: Annotated[str, StringConstraints(max_length=256)] | None = None
    state: dict[str, Any] = Field(default_factory=dict)


class Alert(Wire):
    kind: Literal[
        "door_left_open",
        "window_open",
        "device_unavailable",
        "hvac_not_reaching_setpoint",
        "no_motion_24h",
        "contact_reception",
        "clock_skew",
        "comfort_model_refused",
    ]
    since: AwareDatetime
    detail: Annotated[str, StringConstraints(max_length=256)] = ""


class RoomStatus(Document):
    """Published retained on MQTT (`smartroom/<property>/<room>/status`) and served at the
    agent's `/status`; the housekeeping board renders it."""

    property_id: PropertyId
    room_id: RoomId
    at: AwareDatetime
    rented: bool
    occupied: bool
    member_present: bool
    scene: Annotated[str, StringConstraints(max_length=32)]
    dnd: bool = False
    mur: bool = False
    devices: list[DeviceStatus] = Field(default_factory=list, max_length=64)
    alerts: list[Alert] = Field(default_factory=list, max_length=32)
    online: bool = True
    # The room's cumulative HVAC energy, monotonic across meter resets and agent restarts
    # (None: the room has no metered thermostat yet).
    energy_kwh: Annotated[float, Field(ge=0)] | None = None


# --- sync events -----------------------------------------------------------------------------


class EventKind(StrEnum):
    ARRIVAL = "arrival"
    DEPARTURE = "departure"
    SCENE_APPLIED = "scene_applied"
    MANUAL_CHANGE = "manual_change"  # preference feedback
    PREFERENCE_LEARNED = "preference_learned"
    HOUSEKEEPING = "housekeeping"  # DND / MUR changes
    ALERT = "alert"
    ENERGY = "energy"  # telemetry: may be downsampled under disk pressure
    MINIBAR = "minibar"  # points-bearing: never dropped
    SURVEY = "survey"  # points-bearing: never dropped
    BENEFIT = "benefit"  # a room-delivered benefit (issue 18): recorded once, with its cost
    ROOM_SPEND = "room_spend"  # points-bearing: a RoomSpend charged to the stay
    ROOM_STATUS = "room_status"  # a RoomStatus for staff (latest wins by hlc)
    PREFERENCES = "preferences"  # a MemberPreferences change, merged per field by hlc
    CONFIG_APPLIED = "config_applied"  # {"version": n}: the room config the agent runs
    COMMAND_DONE = "command_done"  # {"command_id": ..., "ok": bool, "detail": ...}


POINTS_BEARING = frozenset({EventKind.MINIBAR, EventKind.SURVEY, EventKind.ROOM_SPEND})


class SyncEvent(Document):
    """One event from a room's outbox. `event_id` is the idempotency key; `seq` is the
    agent's own strictly increasing sequence number (its high-water mark never expires);
    `hlc` is a hybrid logical clock stamp `"<wall_ms>:<counter>"` for ordering."""

    event_id: OpaqueId
    seq: Annotated[int, Field(ge=1)]
    hlc: Annotated[str, StringConstraints(pattern=r"^\d{13}:\d{1,6}$")]
    property_id: PropertyId
    room_id: RoomId
    kind: EventKind
    at: AwareDatetime
    stay_id: OpaqueId | None = None
    member_id: OpaqueId | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class ModelManifest(Document):
    """A comfort model version offered through sync: fetch, check sha256 and the Ed25519
    signature over `name:version:sha256`, then swap in; roll back if it fails to load."""

    name: Literal["comfort"] = "comfort"
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size_bytes: Annotated[int, Field(gt=0, le=1_048_576)]
    signature_b64: Annotated[str, StringConstraints(min_length=80, max_length=100)]
    url: Annotated[str, StringConstraints(max_length=512)]


def version_key(version: str) -> tuple[int, ...]:
    """Model versions compare by their numeric parts: 1.10.0 is newer than 1.9.0."""
    return tuple(int(part) for part in version.split("."))


def model_path(version: str, name: str = "comfort") -> str:
    """Where central serves a model version's bytes (the manifest's `url`)."""
    return f"/v1/agent/models/{name}/{version}"


class StaffCommand(Document):
    """A housekeeping staff action for one room's agent, from the board: `service_start`
    (an attendant started cleaning: run the housekeeping scene) and `service_end` (done:
    back to the room's own scene, make-up request served). `seq` orders a room's commands
    (the agent keeps the last one it applied); `command_id` is unique."""

    command_id: OpaqueId
    seq: Annotated[int, Field(ge=1)]
    property_id: PropertyId
    room_id: RoomId
    kind: Literal["service_start", "service_end"]
    at: AwareDatetime


# --- offline-first sync (sync/, loyalty/routers/sync.py; docs/sync.md) ---------------------

Money = Annotated[str, StringConstraints(pattern=r"^\d{1,9}(\.\d{1,2})?$")]
Stream = Literal["stays", "members", "credentials", "config", "models", "commands"]
STREAMS: tuple[Stream, ...] = ("stays", "members", "credentials", "config", "models", "commands")


class RoomSpend(Wire):
    """The payload of a `room_spend` event: bought in the room and charged to the stay.
    Earns points at central through the programme's stay rules (the folio category)."""

    category: Literal["minibar", "room_service", "in_room_purchase"]
    item: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=100)] = 1
    amount: Money  # the line's total, a decimal string ("36.00")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    # The POS posting id the PMS folio will show for this charge: a folio line with the
    # same reference is this spend and earns once. Absent: the event id is the reference.
    reference: OpaqueId | None = None


class SyncUpload(Document):
    """A batch of outbox events, in `seq` order. `agent_id` names the agent's database
    incarnation: a rebuilt database starts a new one, with its own `seq` from 1."""

    agent_id: OpaqueId
    hlc: HlcText  # the agent's clock when it sent the batch
    events: list[SyncEvent] = Field(max_length=500)


class EventAnswer(Wire):
    event_id: OpaqueId
    status: Literal["accepted", "duplicate", "rejected"]
    reason: Annotated[str, StringConstraints(max_length=256)] | None = None


class SyncUploadResult(Document):
    """One answer per event, in the batch's order; rejected events are in central's
    dead-letter table and never come back."""

    results: list[EventAnswer]
    high_water_seq: Annotated[int, Field(ge=0)]
    hlc: HlcText  # central's clock: the agent advances its own past it


class StayEvent(Wire):
    """A stay's lifecycle step, as an explicit event (never inferred from absence)."""

    event: Literal[
        "booked", "checked_in", "room_changed", "late_checkout", "checked_out", "cancelled"
    ]
    stay: StayAssignment


class RoomConfigDoc(Wire):
    """Server-authoritative room settings, versioned; the agent reports the version it
    applied with a `config_applied` event."""

    version: Annotated[int, Field(ge=1)]
    settings: dict[str, Any] = Field(default_factory=dict)


class RoomCommand(Wire):
    """A staff action for the room (from the housekeeping board, the front desk)."""

    command_id: OpaqueId
    action: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    detail: dict[str, Any] = Field(default_factory=dict)
    issued_at: AwareDatetime


class StreamItem(Wire):
    """One change on one download stream. `op="delete"` removes `key` from the room's
    copy; `op="put"` carries exactly the document of its stream."""

    seq: Annotated[int, Field(ge=1)]
    stream: Stream
    op: Literal["put", "delete"] = "put"
    key: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    stay: StayEvent | None = None
    member: MemberPreferences | None = None
    credential: RoomCredentials | None = None  # issue 15's room credentials, key "room"
    config: RoomConfigDoc | None = None
    model: ModelManifest | None = None
    command: RoomCommand | None = None

    def document(self) -> Wire | None:
        return {
            "stays": self.stay,
            "members": self.member,
            "credentials": self.credential,
            "config": self.config,
            "models": self.model,
            "commands": self.command,
        }[self.stream]

    @model_validator(mode="after")
    def _one_document(self) -> StreamItem:
        present = [
            name
            for name in ("stay", "member", "credential", "config", "model", "command")
            if getattr(self, name) is not None
        ]
        want = [] if self.op == "delete" else [_FIELD_OF[self.stream]]
        if present != want:
            raise ValueError(
                f"a {self.op} on stream {self.stream} carries {want or 'no document'}, "
                f"not {present or 'nothing'}"
            )
        return self


_FIELD_OF = {
    "stays": "stay",
    "members": "member",
    "credentials": "credential",
    "config": "config",
    "models": "model",
    "commands": "command",
}


class SyncPull(Document):
    """Ask for changes after `cursors` (one per stream; 0 = never synced). `wait_s` > 0
    makes it a long poll: central answers as soon as something changes, or empty."""

    agent_id: OpaqueId
    hlc: HlcText
    epoch: OpaqueId | None = None  # the snapshot epoch the room's copy belongs to
    cursors: dict[Stream, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    wait_s: Annotated[float, Field(ge=0, le=30)] = 0.0


class SyncPage(Document):
    """A page of changes. With `reset`, the room replaces its copy of every stream by
    `items` (a snapshot); its outbox is untouched. Apply the items and store `cursors` in
    one transaction, then ask again (at once if `more`)."""

    epoch: OpaqueId
    reset: bool = False
    items: list[StreamItem] = Field(default_factory=list, max_length=1000)
    cursors: dict[Stream, Annotated[int, Field(ge=0)]]
    more: bool = False
    hlc: HlcText


WIRE_DOCUMENTS: tuple[type[Document], ...] = (
    MemberPreferences,
    StayAssignment,
    RoomKey,
    MemberCredential,
    RoomCredentials,
    KeyPresentation,
    RoomStatus,
    SyncEvent,
    ModelManifest,
    StaffCommand,
    SyncUpload,
    SyncUploadResult,
    SyncPull,
    SyncPage,
)
