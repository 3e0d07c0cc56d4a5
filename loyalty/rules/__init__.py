"""The loyalty programme's rules as data plus pure functions (no I/O, no clock reads).

Load a programme once, then call the functions with explicit dates::

    from loyalty.rules import (default_programme, compute_earn, StayEarnRequest,
                               FolioLine, EarnMember)

    programme = default_programme()                  # or load_programme("my.toml")
    breakdown = compute_earn(programme, StayEarnRequest(
        check_in=date(2026, 11, 20), check_out=date(2026, 11, 23),
        channel="direct", room_type="suite",
        lines=[FolioLine(category="room", amount=Decimal("3000"))]), EarnMember(tier="gold"))
    breakdown.points          # 7776 (int, floored once at the end)
    breakdown.steps           # each rule's contribution, with a human explanation

What is here, by module:

* `programme` / `loader`: the file format (`Programme`) and `load_programme`,
  `parse_programme`, `default_programme`, `example_programme`; errors are
  `ProgrammeError` (a `smartroom.settings.ConfigError`) naming the line and the fix.
* `earn`: `compute_earn` and its request/response models; `earn_limit_window` tells the
  ledger which window to sum for `EarnMember.earned_this_period`.
* `tiers`: `evaluate_tier`, `tier_progress`, `QualificationYear`, `meets`,
  `highest_tier_met`.
* `redemption`: `quote_redemption` (peak and inventory factors, minimum, points + cash).
* `expiry`: `expire`, `upcoming_expiries`, `consume_fifo` over `EarnLot`s.
* `transfers`: `check_transfer`, `convert_to_partner`, `check_velocity`,
  `check_reversal_loop`.
* `periods`: qualification years and limit windows.

Every refusal is a `RulesError` subclass with a stable `code` and a precise message.
"""

from loyalty.rules.earn import (
    ActivityEarnRequest,
    EarnBreakdown,
    EarnMember,
    EarnRequest,
    EarnStep,
    FolioLine,
    StayEarnRequest,
    compute_earn,
    earn_limit_window,
)
from loyalty.rules.errors import (
    ConversionError,
    EarnError,
    ExpiryError,
    InsufficientPoints,
    RedemptionError,
    RulesError,
    TierError,
    TransferError,
)
from loyalty.rules.expiry import (
    EarnLot,
    ExpiryAction,
    LotDebit,
    consume_fifo,
    expire,
    upcoming_expiries,
)
from loyalty.rules.loader import (
    ProgrammeError,
    default_programme,
    example_programme,
    load_programme,
    parse_programme,
)
from loyalty.rules.periods import (
    limit_window,
    qualification_year_bounds,
    qualification_year_of,
    transfer_window,
)
from loyalty.rules.programme import Programme, Tier
from loyalty.rules.redemption import (
    NightPrice,
    PointsAndCashOption,
    RedemptionQuote,
    quote_redemption,
)
from loyalty.rules.seasons import tags_on
from loyalty.rules.tiers import (
    Progress,
    QualificationYear,
    RetentionBonus,
    TierDecision,
    evaluate_tier,
    highest_tier_met,
    meets,
    tier_progress,
)
from loyalty.rules.transfers import (
    PartnerConversion,
    TransferCheck,
    WindowVerdict,
    check_reversal_loop,
    check_transfer,
    check_velocity,
    convert_to_partner,
)

__all__ = [
    "ActivityEarnRequest",
    "ConversionError",
    "EarnBreakdown",
    "EarnError",
    "EarnLot",
    "EarnMember",
    "EarnRequest",
    "EarnStep",
    "ExpiryAction",
    "ExpiryError",
    "FolioLine",
    "InsufficientPoints",
    "LotDebit",
    "NightPrice",
    "PartnerConversion",
    "PointsAndCashOption",
    "Programme",
    "ProgrammeError",
    "Progress",
    "QualificationYear",
    "RedemptionError",
    "RedemptionQuote",
    "RetentionBonus",
    "RulesError",
    "StayEarnRequest",
    "Tier",
    "TierDecision",
    "TierError",
    "TransferCheck",
    "TransferError",
    "WindowVerdict",
    "check_reversal_loop",
    "check_transfer",
    "check_velocity",
    "compute_earn",
    "consume_fifo",
    "convert_to_partner",
    "default_programme",
    "earn_limit_window",
    "evaluate_tier",
    "example_programme",
    "expire",
    "highest_tier_met",
    "limit_window",
    "load_programme",
    "meets",
    "parse_programme",
    "qualification_year_bounds",
    "qualification_year_of",
    "quote_redemption",
    "tags_on",
    "tier_progress",
    "transfer_window",
    "upcoming_expiries",
]
